"""Testing helpers for DAGs that use this provider: a real Airflow deployment, started and always stopped.

:func:`airflow_cluster` runs the api-server, scheduler (LocalExecutor),
dag-processor and triggerer from the current virtualenv against a DAGs folder,
with a SQLite metadata DB in a temporary ``AIRFLOW_HOME``; or, with
``executor="CeleryExecutor"``, a Redis broker and Celery workers too, over a
fresh PostgreSQL metadata DB; see :mod:`.cluster`. Pair it with the sandbox Codex API
(:func:`codex_testing.sandbox.running_sandbox`)::

    from codex_testing.sandbox import running_sandbox
    from codex_testing import airflow_cluster, connection_env

    with running_sandbox() as sandbox, airflow_cluster(dags, env=connection_env("codex_default", {...})) as cluster:
        cluster.wait_for_dag("my_dag")
        ...

For tests and demos only: the provider's hooks, operators, sensors and
triggers never import it, and importing it does not import Airflow.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .cluster import (
    COMPONENTS,
    DEFAULT_CONFIG,
    EXECUTORS,
    METADATA_DBS,
    AirflowCluster,
    ClusterError,
    ComponentSpec,
    DagRunInfo,
    airflow_cluster,
    config_env,
    connection_env,
    free_port,
    variables_env,
)

__all__ = [
    "COMPONENTS",
    "DEFAULT_CONFIG",
    "EXECUTORS",
    "METADATA_DBS",
    "AirflowCluster",
    "ClusterError",
    "ComponentSpec",
    "DagRunInfo",
    "__version__",
    "airflow_cluster",
    "config_env",
    "connection_env",
    "free_port",
    "variables_env",
]
