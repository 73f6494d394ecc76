"""The DAG the views tests load their sources with: the three datasets the views read, in one run."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, Param

from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator
from airflow_provider_codex.views import VIEW_DATASETS

with DAG(
    "load_sql_view_sources",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    params={
        "start": Param("2026-02-01", type="string"),
        "end": Param("2026-02-02", type="string"),
        "sql_conn_id": Param("codex_sqlite", type="string"),
    },
) as load_sql_view_sources:
    for name in VIEW_DATASETS:
        CodexToSqlOperator(
            task_id=f"load_{name}",
            dataset=name,
            sql_conn_id="{{ params.sql_conn_id }}",
            start="{{ params.start }}",
            end="{{ params.end }}",
        )
