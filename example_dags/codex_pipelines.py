"""Codex governance data, kept flowing: the DAGs a data platform team starts from.

Four DAGs, sharing the settings below:

- ``codex_analytics_daily``: every analytics dataset, daily, with a look-back;
- ``codex_analytics_monthly_history``: the same, one month per run, for long backfills;
- ``codex_compliance_daily``: compliance events into SQL (content hashed), the log
  files verbatim into an archive, and daily snapshots of tasks and environments
  (by the latest run only: a backfill cannot snapshot the past);
- ``codex_downstream_summary``: scheduled on the tables' Asset events.

Change where the data goes without touching code (Airflow Variables, read at run time):

- ``codex_sql_conn_id``: the destination SQL connection (default ``codex_sqlite``);
  point it at a PostgreSQL, MySQL, Snowflake, BigQuery… connection instead;
- ``codex_archive_path``: where the compliance archive goes (default a local folder).

The ``codex`` connection is ``codex_default``. Every task that calls the API runs
in the ``codex_api`` pool, so all DAGs and backfills together stay under the API's
rate limits; create it once: ``airflow pools set codex_api 4 "Codex API calls"``.
Nothing here touches the network or a database when the file is parsed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.standard.operators.latest_only import LatestOnlyOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, Param

from airflow_provider_codex.datasets import ANALYTICS_DATASETS
from airflow_provider_codex.sensors.codex import CodexAnalyticsDaySensor, CodexComplianceFreshnessSensor
from airflow_provider_codex.transfers.base import table_asset
from airflow_provider_codex.transfers.codex_log_files_to_storage import CodexLogFilesToStorageOperator
from airflow_provider_codex.transfers.codex_retention_guard import CodexRetentionGuardOperator
from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator

CODEX_CONN_ID = "codex_default"
POOL = "codex_api"
SQL_CONN_ID = "{{ var.value.get('codex_sql_conn_id', 'codex_sqlite') }}"
ARCHIVE_PATH = "{{ var.value.get('codex_archive_path', 'file:///tmp/codex-archive') }}"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
#: How long after a day ends its late compliance events may still land.
GRACE = timedelta(hours=6)
DEFAULT_ARGS = {
    "pool": POOL,
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
}

DOC_ANALYTICS_DAILY = """Codex analytics, every day, into the SQL destination of your choice.

Each run loads the UTC day that ends at its logical date (``@daily`` runs at
00:00 UTC) plus ``lookback_days`` earlier days, because analytics days are
revised after they first appear. It first waits, without holding a worker
slot, until the API serves the day (a quiet day passes once it has settled).

Backfill any range: every run replaces its days, so overlaps are harmless. The
dates are logical dates, both included; each run loads the day before its own,
so this loads 2026-10-01 to 2026-11-23 (the look-back adds nothing to a
backfill that covers every day, hence ``lookback_days`` 0)::

    airflow backfill create --dag-id codex_analytics_daily \\
        --from-date 2026-10-02 --to-date 2026-11-24 --dag-run-conf '{"lookback_days": 0}'

Backfill runs start only while the DAG is unpaused. For long history prefer
``codex_analytics_monthly_history`` (one run per month).
"""

with DAG(
    dag_id="codex_analytics_daily",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    params={"lookback_days": Param(3, type="integer", minimum=0, maximum=30)},
    tags=["codex", "analytics"],
    doc_md=DOC_ANALYTICS_DAILY,
):
    ready = CodexAnalyticsDaySensor(
        task_id="wait_for_day",
        codex_conn_id=CODEX_CONN_ID,
        dataset="usage_workspace",
        deferrable=True,
        poke_interval=600,
        timeout=36 * 3600,
    )
    for dataset in ANALYTICS_DATASETS:
        ready >> CodexToSqlOperator(
            task_id=f"load_{dataset}",
            dataset=dataset,
            codex_conn_id=CODEX_CONN_ID,
            sql_conn_id=SQL_CONN_ID,
            lookback_days="{{ params.lookback_days }}",
            deferrable=True,
        )

DOC_ANALYTICS_MONTHLY_HISTORY = """Codex analytics history, one month per run: the fewest requests for a long backfill.

The timetable gives each run a data interval of one whole month, and the
operators load that interval as one window (one cursor walk per dataset at
30,000 rows a page), replacing those days. Run it over the past::

    airflow backfill create --dag-id codex_analytics_monthly_history \\
        --from-date 2025-01-01 --to-date 2026-10-31

then let ``codex_analytics_daily`` keep the recent days fresh. Both write the
same tables; whichever loads a day last replaces it.
"""

with DAG(
    dag_id="codex_analytics_monthly_history",
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    tags=["codex", "analytics", "backfill"],
    doc_md=DOC_ANALYTICS_MONTHLY_HISTORY,
):
    for dataset in ANALYTICS_DATASETS:
        CodexToSqlOperator(
            task_id=f"load_{dataset}",
            dataset=dataset,
            codex_conn_id=CODEX_CONN_ID,
            sql_conn_id=SQL_CONN_ID,
            deferrable=True,
        )

DOC_COMPLIANCE_DAILY = """Codex compliance logs, every day: events into SQL (content hashed), files verbatim
into an archive.

**Run this DAG every day from the day you start.** The Compliance API keeps
records for 30 days only: history older than that cannot be fetched, and a
run whose day has aged out fails at once saying so. Backfills therefore reach
back 30 days at most.

Each run waits (deferred, no worker held) until the freshness endpoint says
events have landed past the day's end plus a grace period, then:

- loads the day's ``CODEX_LOG`` and ``CODEX_SECURITY_LOG`` events into
  ``codex_compliance_events`` (deduplicated on ``event_id``; prompt, response
  and tool input hashed with the connection's ``content_hash_secret``);
- archives the log files verbatim (SHA-256 checked) with a manifest, for
  eDiscovery and SIEM pipelines;
- snapshots the Codex tasks and environments lists, in the latest run only:
  the API lists them as they are now, so a backfill or catch-up run (whose day
  is past) skips the snapshots rather than date today's list with a past day.

Then, in the latest run only, ``retention_guard`` reads the destination's
coverage of the events (docs/coverage.md) and fails, naming the days and the
``airflow backfill create`` command that loads them, when a day the API still
holds is missing and leaves the 30-day retention within 7 days; a day that
has just been lost fails it once, saying it cannot be repaired. It runs even
when the day's load failed, and never retries (a retry loads nothing).
"""

with DAG(
    dag_id="codex_compliance_daily",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["codex", "compliance"],
    doc_md=DOC_COMPLIANCE_DAILY,
):
    fresh = CodexComplianceFreshnessSensor(
        task_id="wait_for_logs",
        codex_conn_id=CODEX_CONN_ID,
        grace=GRACE,
        deferrable=True,
        poke_interval=300,
        timeout=24 * 3600,
    )
    events = CodexToSqlOperator(
        task_id="load_events",
        dataset="compliance_events",
        codex_conn_id=CODEX_CONN_ID,
        sql_conn_id=SQL_CONN_ID,
        grace=GRACE,
        content_policy="hash",
    )
    archive = CodexLogFilesToStorageOperator(
        task_id="archive_log_files", codex_conn_id=CODEX_CONN_ID, path=ARCHIVE_PATH, grace=GRACE
    )
    fresh >> [events, archive]
    latest = LatestOnlyOperator(task_id="latest_only", pool="default_pool")  # no API call: no codex_api slot
    for dataset in ("codex_tasks", "codex_environments"):
        latest >> CodexToSqlOperator(
            task_id=f"snapshot_{dataset}",
            dataset=dataset,
            codex_conn_id=CODEX_CONN_ID,
            sql_conn_id=SQL_CONN_ID,
        )
    # Skipped with the snapshots in a past run (latest_only); else after the load, whatever its outcome.
    [latest, events] >> CodexRetentionGuardOperator(
        task_id="retention_guard",
        sql_conn_id=SQL_CONN_ID,
        codex_conn_id=CODEX_CONN_ID,
        margin=timedelta(days=7),
        pool="default_pool",  # no API call: no codex_api slot
        retries=0,
        trigger_rule="all_done",
    )

DOC_DOWNSTREAM_SUMMARY = """Downstream of the Codex tables: refresh a summary whenever per-user usage lands.

Scheduled on the Asset event that every load of ``codex_usage_user_daily``
emits (its extra holds the destination and the rows per day), this DAG
rebuilds a small daily summary table in the same database. Swap the SQL task
for a dbt run, a notification or anything else: the Asset is the hook.
"""

SUMMARY_SQL = [
    "CREATE TABLE IF NOT EXISTS codex_usage_summary_daily "
    "(workspace_id VARCHAR(64), day DATE, active_users INTEGER, threads BIGINT, credits DOUBLE PRECISION)",
    "DELETE FROM codex_usage_summary_daily",
    "INSERT INTO codex_usage_summary_daily (workspace_id, day, active_users, threads, credits) "
    "SELECT workspace_id, day, COUNT(*), SUM(threads), SUM(credits) "
    "FROM codex_usage_user_daily GROUP BY workspace_id, day",
]

with DAG(
    dag_id="codex_downstream_summary",
    schedule=[table_asset("codex_usage_user_daily")],
    start_date=START_DATE,
    catchup=False,
    tags=["codex", "downstream"],
    doc_md=DOC_DOWNSTREAM_SUMMARY,
):
    SQLExecuteQueryOperator(task_id="refresh_summary", conn_id=SQL_CONN_ID, sql=SUMMARY_SQL)
