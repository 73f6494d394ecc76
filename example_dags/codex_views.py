"""Codex governance views: the console's dashboards and exports, rebuilt after every load.

``codex_governance_views`` is scheduled on the Asset events of the tables the
views read, so it runs after every load of them, a backfill's runs included,
and rebuilds the days those loads replaced (see ``docs/views.md``). The loads
say which days they covered, so a quiet day they loaded shows as a zero and a
day nobody loaded stays a gap.

Settings (Airflow Variables, read at run time), shared with ``codex_pipelines``:

- ``codex_sql_conn_id``: the SQL connection the loads write to (default ``codex_sqlite``);
- ``codex_exports_path``: where the five exports go as CSV and JSON Lines
  (default a local folder; any ``ObjectStoragePath`` URL, ``s3://…``, works);
- ``codex_report_path``: where the HTML report of the last 90 days goes (default: beside the exports;
  it needs ``pip install 'airflow-provider-codex[report]'``; an empty value turns the report off);
- ``codex_report_days``: how many days the report shows, ending with the last day rebuilt (default 90).

Rebuild any range by hand (a trigger with conf)::

    airflow dags trigger codex_governance_views --conf '{"start": "2026-10-01", "end": "2026-11-01"}'

Nothing here touches the network or a database when the file is parsed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, Param

from airflow_provider_codex.transfers.base import table_asset
from airflow_provider_codex.transfers.codex_views import CodexGovernanceViewsOperator

SQL_CONN_ID = "{{ var.value.get('codex_sql_conn_id', 'codex_sqlite') }}"
DEFAULT_EXPORTS = "var.value.get('codex_exports_path', 'file:///tmp/codex-exports')"
EXPORTS_PATH = "{{ " + DEFAULT_EXPORTS + " }}"
REPORT_PATH = "{{ var.value.get('codex_report_path', " + DEFAULT_EXPORTS + ") }}"
#: The tables the views read, one per dataset: any of their loads triggers a rebuild.
SOURCES = (
    table_asset("codex_usage_user_daily")
    | table_asset("codex_code_reviews_daily")
    | table_asset("codex_code_review_responses_daily")
)

with DAG(
    dag_id="codex_governance_views",
    schedule=SOURCES,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    params={"start": Param(None, type=["null", "string"]), "end": Param(None, type=["null", "string"])},
    tags=["codex", "views"],
    doc_md=__doc__,
):
    CodexGovernanceViewsOperator(
        task_id="build_views",
        sql_conn_id=SQL_CONN_ID,
        start="{{ params.start or '' }}",
        end="{{ params.end or '' }}",
        export_path=EXPORTS_PATH,
        report_path=REPORT_PATH,
        report_days="{{ var.value.get('codex_report_days', 90) }}",
    )
