"""The DAGs of the views tests: the three datasets the views read, loaded in one run; the views of a window."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, Param

from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator
from airflow_provider_codex.transfers.codex_views import CodexGovernanceViewsOperator
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

with DAG(
    "build_sql_views",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    params={
        "start": Param("2026-02-01", type="string"),
        "end": Param("2026-02-02", type="string"),
        "sql_conn_id": Param("codex_sqlite", type="string"),
        "path": Param("file:///tmp/codex-exports", type="string"),
        "report_path": Param("", type="string"),  # empty: no report
        "report_days": Param(90, type="integer"),
    },
) as build_sql_views:
    CodexGovernanceViewsOperator(
        task_id="views",
        sql_conn_id="{{ params.sql_conn_id }}",
        start="{{ params.start }}",
        end="{{ params.end }}",
        export_path="{{ params.path }}",
        report_path="{{ params.report_path }}",
        report_days="{{ params.report_days }}",
    )
