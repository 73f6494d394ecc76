"""DAGs the operator tests run with ``dag.test()`` (which needs them in the DAGs folder).

One DAG per dataset and destination kind; where the data goes and which days
are loaded come from the run's conf (params), so one DAG serves every database.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, Param

from airflow_provider_codex.datasets import DATASETS
from airflow_provider_codex.transfers.codex_log_files_to_storage import CodexLogFilesToStorageOperator
from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator
from airflow_provider_codex.transfers.codex_to_storage import CodexToStorageOperator

PARAMS = {
    "start": Param("2026-02-01", type="string"),
    "end": Param("2026-02-02", type="string"),
    "sql_conn_id": Param("codex_sqlite", type="string"),
    "path": Param("file:///tmp/codex-lake", type="string"),
}
WINDOW = {"start": "{{ params.start }}", "end": "{{ params.end }}"}


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), params=PARAMS, catchup=False)


for name in DATASETS:
    with _dag(f"load_sql_{name}") as sql_dag:
        CodexToSqlOperator(task_id="load", dataset=name, sql_conn_id="{{ params.sql_conn_id }}", **WINDOW)
    with _dag(f"load_storage_{name}") as storage_dag:
        CodexToStorageOperator(task_id="load", dataset=name, path="{{ params.path }}", **WINDOW)
    globals()[sql_dag.dag_id] = sql_dag
    globals()[storage_dag.dag_id] = storage_dag

with _dag("archive_compliance") as archive_compliance:
    CodexLogFilesToStorageOperator(task_id="load", path="{{ params.path }}", **WINDOW)

with _dag("load_sql_usage_deferrable") as load_sql_usage_deferrable:
    CodexToSqlOperator(
        task_id="load",
        dataset="usage",
        sql_conn_id="{{ params.sql_conn_id }}",
        page_size=5,
        deferrable=True,
        defer_after=1,
        **WINDOW,
    )

with _dag("load_sql_usage_small_pages") as load_sql_usage_small_pages:
    CodexToSqlOperator(task_id="load", dataset="usage", sql_conn_id="{{ params.sql_conn_id }}", page_size=5, **WINDOW)

# Deferrable loads that cannot resume mid-way (tests/deferrable): they start over after a wait.
with _dag("load_sql_compliance_events_deferrable") as load_sql_compliance_events_deferrable:
    CodexToSqlOperator(
        task_id="load",
        dataset="compliance_events",
        sql_conn_id="{{ params.sql_conn_id }}",
        deferrable=True,
        defer_after=1,
        **WINDOW,
    )

with _dag("load_storage_usage_deferrable") as load_storage_usage_deferrable:
    CodexToStorageOperator(
        task_id="load", dataset="usage", path="{{ params.path }}", page_size=5, deferrable=True, defer_after=1, **WINDOW
    )
