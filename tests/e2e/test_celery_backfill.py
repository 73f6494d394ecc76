"""A short backfill on the CeleryExecutor: two workers, as two hosts would run them, over a broker of the test's own.

The deployment (:func:`codex_testing.airflow_cluster` with
``executor="CeleryExecutor"``) starts its own ``redis-server`` on a free port (the
Celery broker and result backend), a fresh PostgreSQL metadata DB, the four
Airflow components, and two ``airflow celery worker`` processes of concurrency 4
named ``celery-worker-1`` and ``celery-worker-2``; all of it is stopped and
dropped when the block exits. The scheduler only queues: every task instance
runs in a process of a worker, and reports that worker's name as its
``hostname``.

The example DAG ``codex_analytics_daily`` backfills a few complete days of the
sandbox (``lookback_days`` 0: each run loads its own day) into a PostgreSQL
schema of its own. Checked: every run succeeded; every task instance ran on a
Celery worker (its ``hostname``, read through the REST API), and both workers
ran some; every table equals, day by day, what the sandbox served (rows built
independently by ``tests/operators/codex_e2e.py``).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from codex_e2e import (
    ANALYTICS,
    DAY_COLUMN,
    GRACE,
    LEDGER_TABLE,
    SqlDestination,
    assert_ledger,
    assert_same_rows,
    codex_connection,
    expected_rows,
    temporary_sql_destination,
)
from codex_testing import AirflowCluster, airflow_cluster, variables_env
from codex_testing.days import complete_days, logical_dates
from codex_testing.sandbox import RunningSandbox, running_sandbox

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
DAG_ID = "codex_analytics_daily"
DAYS = 4
WORKERS = 2
CONCURRENCY = 4
#: A small workspace: the test is about where tasks run, not about volume.
SANDBOX = {"seed": 31, "users": 6, "events_per_day": 200}
CONFIG = {
    # Backfills only: unpausing the DAG must not start today's scheduled run as well.
    "scheduler.use_job_schedule": "False",
    # The DAG file does not change: parse it once.
    "dag_processor.min_file_process_interval": "3600",
}

log = print


def deployment_env(sandbox: RunningSandbox, destination: SqlDestination) -> dict[str, str]:
    """The ``codex_default`` connection to the sandbox, the destination's, and the Variable naming it."""
    return {
        "AIRFLOW_CONN_CODEX_DEFAULT": codex_connection(sandbox),
        f"AIRFLOW_CONN_{destination.conn_id.upper()}": destination.conn_json,
    } | variables_env({"codex_sql_conn_id": destination.conn_id})


def wait_for_success(cluster: AirflowCluster, count: int, timeout: float) -> None:
    """Until ``count`` runs succeeded; a failed (or retrying) task fails at once, with its log."""

    def done() -> bool:
        bad = cluster.query(
            "SELECT run_id, task_id, state FROM task_instance "
            "WHERE dag_id = ? AND state IN ('failed', 'up_for_retry', 'upstream_failed')",
            [DAG_ID],
        )
        if bad:
            run_id, task_id, state = bad[0]
            logs = cluster.task_logs(DAG_ID, run_id, task_id)[-6000:]
            raise AssertionError(f"{task_id} ({run_id}) is {state}:\n{logs}\n{cluster.diagnostics()}")
        states = [r.state for r in cluster.dag_runs(DAG_ID, "backfill")]
        return len(states) >= count and all(s == "success" for s in states)

    cluster.wait_until(f"{count} backfill runs of {DAG_ID} to succeed", done, timeout, interval=1.0)


def task_hosts(cluster: AirflowCluster) -> Counter[str]:
    """How many task instances of the DAG each host ran, as the REST API reports them."""
    body = cluster.api("GET", f"dags/{DAG_ID}/dagRuns/~/taskInstances", params={"limit": 500})
    instances = body["task_instances"]
    assert len(instances) == body["total_entries"]
    return Counter(str(ti["hostname"]) for ti in instances)


def check_tables(destination: SqlDestination, sandbox: RunningSandbox, days: tuple[date, ...]) -> int:
    """Every table equals what the sandbox served, day by day; nothing else is there. Returns the rows."""
    expected: dict[str, list[dict[str, Any]]] = {}
    for dataset in ANALYTICS:
        expected.update(expected_rows(dataset, sandbox, days).tables)
    assert destination.tables() == {*expected, LEDGER_TABLE}
    ledger = destination.read(LEDGER_TABLE)
    rows = 0
    for table, want in expected.items():
        column = DAY_COLUMN[table]
        got = destination.read(table)
        assert {r[column] for r in got} <= set(days), f"{table}: rows of days never loaded"
        for day in days:
            try:
                assert_same_rows(table, [r for r in got if r[column] == day], [r for r in want if r[column] == day])
            except AssertionError as differs:
                raise AssertionError(f"{table} {day}: {differs}") from None
        assert_ledger(ledger, table, got)
        rows += len(got)
    return rows


@pytest.mark.slow
@pytest.mark.databases
# Its own timeout, above the suite's 300 s: 87 s on 2 shared cores (start-up 50 s of it); the bounded waits
# (start-up 120 s per step, the runs 300 s) are what may legitimately pass before a wait reports.
@pytest.mark.timeout(900)
def test_a_celery_backfill_runs_on_both_workers_and_loads_what_the_sandbox_served(tmp_path):
    started = time.monotonic()
    with running_sandbox(**SANDBOX) as sandbox, temporary_sql_destination("postgres", tmp_path) as destination:
        days = complete_days(sandbox, DAYS, grace=GRACE).analytics
        with airflow_cluster(
            EXAMPLES,
            env=deployment_env(sandbox, destination),
            config=CONFIG,
            executor="CeleryExecutor",
            celery_workers=WORKERS,
            worker_concurrency=CONCURRENCY,
        ) as cluster:
            assert cluster.celery_workers == ["celery-worker-1", "celery-worker-2"]
            cluster.wait_for_dag(DAG_ID)
            pool = {"name": "codex_api", "slots": WORKERS * CONCURRENCY, "description": "Codex API calls"}
            cluster.api("POST", "pools", json_body=pool)  # the REST API: no CLI start-up on a busy machine
            cluster.unpause(DAG_ID)
            start, end = logical_dates(days)
            cluster.create_backfill(DAG_ID, start, end, max_active_runs=DAYS, conf={"lookback_days": 0})
            wait_for_success(cluster, DAYS, timeout=300)

            runs = cluster.dag_runs(DAG_ID)
            assert [r.state for r in runs] == ["success"] * DAYS
            assert {r.run_type for r in runs} == {"backfill"}
            hosts = task_hosts(cluster)
            assert set(hosts) == set(cluster.celery_workers), hosts  # never the scheduler; both workers
            for worker in cluster.celery_workers:
                assert "Executing workload in Celery" in cluster.log_text(worker)
        rows = check_tables(destination, sandbox, days)
    log(f"{DAYS} days, tasks per host {dict(hosts)}, {rows} rows in {time.monotonic() - started:.0f}s; "
        f"cluster timings {cluster.timings}")  # fmt: skip
