"""Testing helpers for DAGs that use this provider: a real Airflow deployment, started and always stopped.

:func:`airflow_cluster` runs the api-server, scheduler (LocalExecutor),
dag-processor and triggerer from the current virtualenv against a DAGs folder,
with a SQLite metadata DB in a temporary ``AIRFLOW_HOME``; see
:mod:`.cluster`. Pair it with the sandbox Codex API
(:func:`airflow_provider_codex.sandbox.running_sandbox`)::

    from airflow_provider_codex.sandbox import running_sandbox
    from airflow_provider_codex.testing import airflow_cluster, connection_env

    with running_sandbox() as sandbox, airflow_cluster(dags, env=connection_env("codex_default", {...})) as cluster:
        cluster.wait_for_dag("my_dag")
        ...

For tests and demos only: the provider's hooks, operators, sensors and
triggers never import it, and importing it does not import Airflow.
"""

from __future__ import annotations

from .cluster import (
    COMPONENTS,
    DEFAULT_CONFIG,
    AirflowCluster,
    ClusterError,
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
    "AirflowCluster",
    "ClusterError",
    "DagRunInfo",
    "airflow_cluster",
    "config_env",
    "connection_env",
    "free_port",
    "variables_env",
]
