"""The retention guard as a real task (``dag.test()``): the destination and the days to check come from the conf."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, Param

from airflow_provider_codex.transfers.codex_retention_guard import CodexRetentionGuardOperator

with DAG(
    "guard_compliance",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    params={
        "sql_conn_id": Param("codex_sqlite", type="string"),
        "first": Param("", type="string"),
        "last": Param("", type="string"),
        "margin": Param("P7D", type="string"),
    },
) as guard_compliance:
    CodexRetentionGuardOperator(
        task_id="retention_guard",
        sql_conn_id="{{ params.sql_conn_id }}",
        first="{{ params.first }}",
        last="{{ params.last }}",
        margin="{{ params.margin }}",
        backfill_dag_id="codex_compliance_daily",
    )
