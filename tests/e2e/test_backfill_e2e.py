"""Thirty days of both daily example DAGs, backfilled by a real Airflow into PostgreSQL, from a faulty sandbox.

A real deployment (:mod:`codex_testing`: api-server, scheduler with the
LocalExecutor, dag-processor, triggerer, SQLite metadata DB) runs the example
DAGs of ``example_dags/`` unchanged, against the sandbox with faults on: the
first two requests of each route answer 429 (``Retry-After: 0.2``), every 25th
answers a 5xx, and the first download of each log file of one day is
corrupted. The faults are re-armed before each pass, so every pass meets them. The data goes
to a fresh PostgreSQL database, dropped afterwards.

Three passes, each checked table by table and day by day against what the
sandbox served (rows built independently by ``tests/operators/codex_e2e.py``),
with no key stored twice:

1. a backfill (``POST /api/v2/backfills``, what ``airflow backfill create`` does) of
   ``codex_analytics_daily`` (30 days, plus the DAG's 3-day look-back before the first) and ``codex_compliance_daily``
   (those of the 30 days the Compliance API still holds: its retention is 30
   days, so 28 or 29 of them). The range ends the day before yesterday, whose
   compliance logs are complete, so no sensor waits. The compliance archive
   holds, per day, exactly the log files listed, with their SHA-256.
2. ``airflow tasks clear`` of ten of those days in both DAGs: they rerun, and
   nothing changes.
3. the same backfills with reprocess behavior ``completed``: every run
   reruns, and nothing changes.

Two facts of Airflow 3.3 the test relies on (and the demo too): backfill runs
of a paused DAG stay queued, so both DAGs are unpaused; and unpausing would
also start today's scheduled run, so the deployment runs with
``[scheduler] use_job_schedule = False``. The metadata DB is PostgreSQL (a fresh
database per run): Airflow refuses to create a backfill on SQLite while other
components write. The backfills are still created before the scheduler starts, and
the later writes run while it is stopped (``cluster.scheduler_stopped()``), as the
harness's docs recommend for SQLite.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from codex_e2e import (
    ANALYTICS,
    DAY_COLUMN,
    GRACE,
    HASH_SALT,
    LEDGER_TABLE,
    TABLE_KEYS,
    assert_ledger,
    assert_same_rows,
    column_types,
    expected_rows,
    normalize,
)
from codex_testing import AirflowCluster, airflow_cluster, connection_env, variables_env
from codex_testing.days import BackfillDays, complete_days, day_range, logical_dates, midnight
from codex_testing.sandbox import Faults, RunningSandbox, running_sandbox

from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES
from airflow_provider_codex.sinks.archive import LOG_FILES_FOLDER, MANIFEST_NAME

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
ANALYTICS_DAG = "codex_analytics_daily"
COMPLIANCE_DAG = "codex_compliance_daily"
DAGS = (ANALYTICS_DAG, COMPLIANCE_DAG)
DAYS = 30
#: The analytics DAG's default ``lookback_days`` param: its first run also loads the 3 days before.
LOOKBACK = 3
#: The days cleared and rerun in pass 2 (offsets into the compliance days).
CLEARED = slice(8, 18)
FAULTS: dict[str, Any] = {
    "fail_429_first_n": 2,
    "retry_after": 0.2,
    "fail_5xx_every": 25,
    "corrupt_download_first_n": 1,
}
#: The day (offset into the compliance days) whose log files are served corrupted once each; the
#: others' are not, since each corrupted download costs a backoff (about 30 files a day, 2 tasks each).
CORRUPTED_DAY = 3
#: A small workspace; enough events that each type lands every few hours (the sensors' signal).
SANDBOX = {"seed": 23, "users": 8, "events_per_day": 500}
#: Pool slots, executor slots and runs at once per backfill: tasks mostly wait (start-up, HTTP, SQL).
SLOTS = 6
CONFIG = {
    "core.parallelism": str(SLOTS),
    # Backfills only: unpausing a DAG must not start today's scheduled run as well.
    "scheduler.use_job_schedule": "False",
    # The DAG file does not change: parse it once.
    "dag_processor.min_file_process_interval": "3600",
}
PG_ADMIN_URI = "postgresql://postgres@127.0.0.1:5432/postgres"
#: How long the test may take at most: the first compliance day must stay held that long.
BUDGET = timedelta(minutes=20)

log = print


def files_before(day: date) -> datetime:
    """The latest ``end_time`` of the log files a run of ``day`` lists: the day's end plus the grace."""
    return midnight(day + timedelta(days=1)) + GRACE


# -- the plan ---------------------------------------------------------------------------------


def analytics_loaded(plan: BackfillDays) -> tuple[date, ...]:
    """The analytics days in the tables: the first run's look-back adds the days before."""
    return day_range(plan.analytics[0] - timedelta(days=LOOKBACK), plan.analytics[-1])


# -- the destination --------------------------------------------------------------------------


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    name = f"codex_e2e_{uuid.uuid4().hex[:10]}"
    with closing(psycopg.connect(PG_ADMIN_URI, autocommit=True)) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with closing(psycopg.connect(PG_ADMIN_URI, autocommit=True)) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def read_tables(database: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of ``database``, values normalized to Python types."""
    out: dict[str, list[dict[str, Any]]] = {}
    with closing(psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            types = column_types(table) if table in TABLE_KEYS else {}
            cur = conn.execute(f'SELECT * FROM "{table}"')
            names = [d.name for d in cur.description or ()]
            out[table] = [{n: normalize(v, types.get(n)) for n, v in zip(names, row, strict=True)} for row in cur]
    return out


def fingerprint(tables: dict[str, list[dict[str, Any]]]) -> dict[str, Counter[str]]:
    """The tables' content, ``loaded_at`` aside, comparable across passes."""
    return {
        table: Counter(
            json.dumps({k: v for k, v in row.items() if k != "loaded_at"}, sort_keys=True, default=str) for row in rows
        )
        for table, rows in tables.items()
    }


# -- what the sandbox served -------------------------------------------------------------------


def expected_tables(sandbox: RunningSandbox, plan: BackfillDays) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for dataset in ANALYTICS:
        tables.update(expected_rows(dataset, sandbox, analytics_loaded(plan)).tables)
    events: list[dict[str, Any]] = []
    for day in plan.compliance:
        # Each run lists the files that may hold its day: up to the day's end plus the grace.
        got = expected_rows("compliance_events", sandbox, [day], files_before=files_before(day))
        events += got.tables["codex_compliance_events"]
    tables["codex_compliance_events"] = events
    return tables


def check_against_sandbox(
    database: str, sandbox: RunningSandbox, plan: BackfillDays
) -> dict[str, list[dict[str, Any]]]:
    """Every table equals what the sandbox served, day by day; nothing else is there."""
    stored = read_tables(database)
    expected = expected_tables(sandbox, plan)
    # Snapshots of the lists as they are now are taken by the latest run only, never by a backfill.
    assert set(stored) == {*expected, LEDGER_TABLE}, f"tables {sorted(stored)} != {sorted(expected)} and the ledger"
    for table, want in expected.items():
        column = DAY_COLUMN[table]
        got_by_day: dict[date, list[dict[str, Any]]] = {}
        want_by_day: dict[date, list[dict[str, Any]]] = {}
        for row in stored[table]:
            got_by_day.setdefault(row[column], []).append(row)
        for row in want:
            want_by_day.setdefault(row[column], []).append(row)
        loaded = plan.compliance if table == "codex_compliance_events" else analytics_loaded(plan)
        assert set(got_by_day) <= set(loaded), f"{table}: rows of days never loaded: {set(got_by_day) - set(loaded)}"
        for day in loaded:
            try:
                assert_same_rows(table, got_by_day.get(day, []), want_by_day.get(day, []))
            except AssertionError as differs:
                raise AssertionError(f"{table} {day}: {differs}") from None
        assert_ledger(stored[LEDGER_TABLE], table, stored[table])
    return stored


def check_archive(root: Path, sandbox: RunningSandbox, days: Sequence[date]) -> int:
    """Per day: the manifest lists exactly the log files the sandbox listed for it, with their SHA-256."""
    files = 0
    for day in days:
        folder = root / LOG_FILES_FOLDER / f"workspace_id={sandbox.workspace_id}" / f"day={day}"
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        before = files_before(day)
        listed = {
            f.id: f
            for event_type in CODEX_EVENT_TYPES
            for f in sandbox.data.log_files(event_type, after=midnight(day), before=before)
        }
        assert {e["id"] for e in manifest["files"]} == set(listed), f"archive {day}: files differ"
        for entry in manifest["files"]:
            assert entry["sha256"] == listed[entry["id"]].file_sha256
            assert (folder / f"{entry['id']}.jsonl").read_bytes() == sandbox.data.log_file_bytes(entry["id"])
        files += len(manifest["files"])
    return files


# -- driving Airflow -------------------------------------------------------------------------


def backfill(cluster: AirflowCluster, dag_id: str, days: Sequence[date], reprocess: str | None = None) -> None:
    """Backfill the runs that load ``days`` (an @daily run loads the day before its logical date)."""
    start, end = logical_dates(days)
    cluster.create_backfill(dag_id, start, end, max_active_runs=SLOTS, reprocess_behavior=reprocess)


def wait_for_success(cluster: AirflowCluster, runs: dict[str, int], timeout: float) -> None:
    """Until every run of each DAG succeeded; a failed (or retrying) task fails at once with its log."""
    dag_ids = list(runs)

    def done() -> bool:
        bad = cluster.query(
            "SELECT dag_id, run_id, task_id, state FROM task_instance "
            "WHERE state IN ('failed', 'up_for_retry', 'upstream_failed') AND dag_id IN (?, ?)",
            dag_ids,
        )
        if bad:
            dag_id, run_id, task_id, state = bad[0]
            logs = cluster.task_logs(dag_id, run_id, task_id)[-6000:]
            raise AssertionError(f"{dag_id}.{task_id} ({run_id}) is {state}:\n{logs}\n{cluster.diagnostics()}")
        for dag_id, count in runs.items():
            states = [r.state for r in cluster.dag_runs(dag_id)]
            if len(states) < count or any(s != "success" for s in states):
                return False
        return True

    cluster.wait_until(f"every run of {dag_ids} to succeed", done, timeout, interval=1.0)


def run_count(cluster: AirflowCluster, dag_id: str) -> int:
    return len(cluster.dag_runs(dag_id))


def tasks_ended_after(cluster: AirflowCluster, moment: datetime) -> dict[str, set[str]]:
    """``{dag_id: run ids}`` with a task that ended after ``moment`` (the metadata DB stores naive UTC)."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    rows = cluster.query("SELECT DISTINCT dag_id, run_id FROM task_instance WHERE end_date > ?", [stamp])
    out: dict[str, set[str]] = {}
    for dag_id, run_id in rows:
        out.setdefault(dag_id, set()).add(run_id)
    return out


def load_summaries(cluster: AirflowCluster) -> list[dict[str, Any]]:
    """The XCom summary of every load task."""
    rows = cluster.query("SELECT value FROM xcom WHERE key = 'return_value' AND task_id LIKE 'load_%'")
    values = [json.loads(v) if isinstance(v, str) else v for (v,) in rows]
    return [v for v in values if isinstance(v, dict) and "dataset" in v]


def run_id_of(day: date) -> str:
    return f"backfill__{(day + timedelta(days=1)).isoformat()}T00:00:00+00:00"


def arm_faults(sandbox: RunningSandbox, plan: BackfillDays) -> dict[str, Any]:
    """Faults (back) on, their counters at zero; returns the stats before the pass.

    Only the log files listed for :data:`CORRUPTED_DAY` come corrupted at their first download:
    every other file has had its first download counted already.
    """
    sandbox.faults.replace_all(FAULTS)
    day = plan.compliance[CORRUPTED_DAY]
    listed = [sandbox.data.log_files(t, after=midnight(day), before=files_before(day)) for t in CODEX_EVENT_TYPES]
    corrupted = {f.id for files in listed for f in files}
    first, last = plan.compliance[0], plan.compliance[-1]
    for event_type in CODEX_EVENT_TYPES:
        for file in sandbox.data.log_files(event_type, after=midnight(first), before=files_before(last)):
            if file.id not in corrupted:
                sandbox.faults.count_download(file.id)
    return sandbox.stats()


def faults_met(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    def count(stats: dict[str, Any], statuses: Sequence[str]) -> int:
        return sum(n for route in stats["requests"].values() for s, n in route.items() if s in statuses)

    return {
        "429": count(after, ["429"]) - count(before, ["429"]),
        "5xx": count(after, ["500", "502", "503"]) - count(before, ["500", "502", "503"]),
    }


# -- the test ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.databases
# Its own timeout, above the suite's 300 s: it takes 2½-4½ minutes on 2 busy cores, and its bounded waits
# (480 + 300 + 90 + 480 s) plus start-up are what may legitimately pass before it reports which wait failed.
@pytest.mark.timeout(1500)
def test_a_30_day_backfill_under_a_real_scheduler_loads_each_day_once_and_reruns_change_nothing(tmp_path):
    started = time.monotonic()
    archive = tmp_path / "archive"
    with fresh_database() as database, running_sandbox(faults=Faults(**FAULTS), **SANDBOX) as sandbox:
        plan = complete_days(sandbox, DAYS, grace=GRACE, within=BUDGET)
        log(f"analytics {plan.analytics[0]}..{plan.analytics[-1]}, "
            f"compliance {plan.compliance[0]}..{plan.compliance[-1]}")  # fmt: skip
        env = connection_env("codex_default", sandbox.connection(HASH_SALT))
        env |= connection_env(
            "codex_e2e_pg",
            {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": database},
        )
        env |= variables_env({"codex_sql_conn_id": "codex_e2e_pg", "codex_archive_path": f"file://{archive}"})
        runs = {ANALYTICS_DAG: len(plan.analytics), COMPLIANCE_DAG: len(plan.compliance)}

        # The metadata DB is PostgreSQL, as in a deployment: on SQLite, Airflow itself refuses a
        # backfill while other components write ("not supported on SQLite under concurrent access").
        with airflow_cluster(EXAMPLES, env=env, config=CONFIG, components=(), metadata_db="postgresql") as cluster:
            # Set up before any component writes to the metadata DB.
            cluster.run_cli("dags", "reserialize")
            cluster.run_cli("pools", "set", "codex_api", str(SLOTS), "Codex API calls")
            for dag_id in DAGS:
                cluster.run_cli("dags", "unpause", dag_id)

            # Pass 1: the backfills.
            stats = arm_faults(sandbox, plan)
            backfill(cluster, ANALYTICS_DAG, plan.analytics)
            backfill(cluster, COMPLIANCE_DAG, plan.compliance)
            cluster.start_components()
            wait_for_success(cluster, runs, timeout=480)
            assert {d: run_count(cluster, d) for d in DAGS} == runs  # backfill runs only, nothing scheduled
            met = faults_met(stats, sandbox.stats())
            summaries = load_summaries(cluster)
            assert met["429"] > 0 and met["5xx"] > 0, met
            assert sum(s.get("integrity_retries", 0) for s in summaries) > 0  # corrupted downloads, retried
            first = check_against_sandbox(database, sandbox, plan)
            files = check_archive(archive, sandbox, plan.compliance)
            skipped = cluster.query(
                "SELECT COUNT(*) FROM task_instance "
                "WHERE dag_id = ? AND task_id LIKE 'snapshot_%' AND state = 'skipped'",
                [COMPLIANCE_DAG],
            )[0][0]
            assert skipped == 2 * len(plan.compliance)
            log(f"pass 1 after {time.monotonic() - started:.0f}s: {sum(map(len, first.values()))} rows, "
                f"{files} archived files, faults met {met}")  # fmt: skip

            # Pass 2: clear ten days of both DAGs; they rerun and change nothing.
            cleared = plan.compliance[CLEARED]
            stats = arm_faults(sandbox, plan)
            cleared_at = datetime.now(UTC)
            with cluster.scheduler_stopped():  # SQLite has no row locks: no CLI write under a working scheduler
                for dag_id in DAGS:
                    start, end = logical_dates(cleared)
                    cluster.run_cli("tasks", "clear", dag_id, "--start-date", start.isoformat(),
                                    "--end-date", end.isoformat(), "--yes")  # fmt: skip
            wait_for_success(cluster, runs, timeout=300)
            rerun = tasks_ended_after(cluster, cleared_at)
            assert {d: rerun.get(d, set()) for d in DAGS} == {d: {run_id_of(x) for x in cleared} for d in DAGS}
            assert faults_met(stats, sandbox.stats())["5xx"] > 0
            second = check_against_sandbox(database, sandbox, plan)
            assert fingerprint(second) == fingerprint(first)
            log(f"pass 2 after {time.monotonic() - started:.0f}s")

            # Pass 3: the backfills again, reprocessing completed runs; nothing changes.
            # The scheduler marks a backfill complete every 30 s; another backfill of the DAG waits for that.
            cluster.wait_until(
                "the backfills to be marked complete",
                lambda: not cluster.query("SELECT 1 FROM backfill WHERE completed_at IS NULL"),
                timeout=90,
            )
            stats = arm_faults(sandbox, plan)
            reprocessed_at = datetime.now(UTC)
            with cluster.scheduler_stopped():
                backfill(cluster, ANALYTICS_DAG, plan.analytics, reprocess="completed")
                backfill(cluster, COMPLIANCE_DAG, plan.compliance, reprocess="completed")
            wait_for_success(cluster, runs, timeout=480)
            rerun = tasks_ended_after(cluster, reprocessed_at)
            assert {d: len(rerun.get(d, ())) for d in DAGS} == runs  # every run ran again
            assert {d: run_count(cluster, d) for d in DAGS} == runs  # the same runs, not new ones
            assert faults_met(stats, sandbox.stats())["429"] > 0
            third = check_against_sandbox(database, sandbox, plan)
            assert fingerprint(third) == fingerprint(first)
            assert check_archive(archive, sandbox, plan.compliance) == files
            log(f"pass 3 after {time.monotonic() - started:.0f}s; cluster timings {cluster.timings}")
