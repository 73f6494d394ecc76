"""Every Codex workspace of a company into one set of tables: one DAG, mapped over connections.

Large companies have several Codex workspaces, and compliance logs may come from an
organization-level scope. Each gets a ``codex`` connection of its own (its ids and
keys); the lists below name them, and every sensor and load is mapped over its list
(dynamic task mapping): one task instance per connection and dataset. Each connection
keeps its own rate budget (a budget belongs to a key) and its own rows: every table's
``workspace_id`` column keeps workspaces apart (an organization's compliance events
carry the organization id).

Which connections, read when a run starts (Airflow Variables, JSON lists):

- ``codex_analytics_conn_ids``: whose analytics to load (default ``["codex_default"]``);
- ``codex_compliance_conn_ids``: whose compliance events to load (default the same);
- ``codex_sql_conn_id``: the destination, as in ``codex_pipelines.py``.

A run's conf overrides both lists: ``{"analytics_conn_ids": ["codex_ws_eu", "codex_ws_us"]}``.
Every task that calls the API runs in the ``codex_api`` pool. Nothing here touches the
network or a database when the file is parsed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, Variable, task

from airflow_provider_codex.datasets import ANALYTICS_DATASETS
from airflow_provider_codex.sensors.codex import CodexAnalyticsDaySensor, CodexComplianceFreshnessSensor
from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator

POOL = "codex_api"
SQL_CONN_ID = "{{ var.value.get('codex_sql_conn_id', 'codex_sqlite') }}"
GRACE = timedelta(hours=6)
DEFAULT_ARGS = {"pool": POOL, "retries": 3, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True}


@task(pool="default_pool")  # reads a Variable, calls no API: no codex_api slot
def connections(kind: str, **context: Any) -> list[str]:
    """The ``codex`` connections to load ``kind`` for: the run's conf, else the Variable, else ``codex_default``."""
    conf = context["dag_run"].conf or {}
    chosen = conf.get(f"{kind}_conn_ids")
    if chosen is None:
        chosen = Variable.get(f"codex_{kind}_conn_ids", default=["codex_default"], deserialize_json=True)
    if not isinstance(chosen, list) or not chosen or not all(isinstance(c, str) and c for c in chosen):
        raise ValueError(
            f"{kind}_conn_ids must be a non-empty JSON list of connection ids (run conf or the Variable "
            f"codex_{kind}_conn_ids), got {chosen!r}"
        )
    return sorted(set(chosen))


with DAG(
    dag_id="codex_all_workspaces_daily",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    params={"lookback_days": Param(3, type="integer", minimum=0, maximum=30)},
    tags=["codex", "analytics", "compliance"],
    doc_md=__doc__,
):
    analytics_conns = connections.override(task_id="analytics_connections")("analytics")
    analytics_ready = CodexAnalyticsDaySensor.partial(
        task_id="wait_for_analytics_day",
        dataset="usage_workspace",
        deferrable=True,
        poke_interval=600,
        timeout=36 * 3600,
    ).expand(codex_conn_id=analytics_conns)
    for dataset in ANALYTICS_DATASETS:
        analytics_ready >> CodexToSqlOperator.partial(
            task_id=f"load_{dataset}",
            dataset=dataset,
            sql_conn_id=SQL_CONN_ID,
            lookback_days="{{ params.lookback_days }}",
            deferrable=True,
        ).expand(codex_conn_id=analytics_conns)

    compliance_conns = connections.override(task_id="compliance_connections")("compliance")
    compliance_ready = CodexComplianceFreshnessSensor.partial(
        task_id="wait_for_compliance_logs",
        grace=GRACE,
        deferrable=True,
        poke_interval=300,
        timeout=24 * 3600,
    ).expand(codex_conn_id=compliance_conns)
    compliance_ready >> CodexToSqlOperator.partial(
        task_id="load_compliance_events",
        dataset="compliance_events",
        sql_conn_id=SQL_CONN_ID,
        grace=GRACE,
        content_policy="hash",
    ).expand(codex_conn_id=compliance_conns)
