"""The demo behind ``./scripts/demo``: the sandbox Codex API, a real Airflow, and a 30-day backfill.

1. starts the sandbox Codex API (in this process, on the real clock, a small synthetic workspace);
2. starts a real Airflow 3 from ``example_dags/`` with :mod:`codex_testing`
   (metadata DB in SQLite, home ``.demo/airflow``), with the connections ``codex_default``
   (the sandbox) and ``codex_sqlite`` (``.demo/codex.db``), or ``codex_postgres`` with
   ``CODEX_DEMO_DESTINATION=postgres``;
3. creates the ``codex_api`` pool, unpauses both daily DAGs (backfill runs of a paused DAG
   stay queued), starts the api-server and creates a backfill of each through its REST API
   (what ``airflow backfill create`` does), then starts the scheduler, dag-processor and triggerer;
4. waits for every backfill run, then triggers ``codex_governance_views`` over the backfill's
   days: the views, the five exports and the HTML report under ``.demo/exports``;
5. prints the rows per table and where everything is, and stops everything it started, also
   on failure or Ctrl-C.

State lives in ``.demo/`` (reset at each run; in PostgreSQL, the days loaded are replaced in
place). Environment: ``CODEX_DEMO_DESTINATION`` (``sqlite``, the default, or ``postgres``) and
``CODEX_DEMO_POSTGRES_URI`` (default ``postgresql://postgres@127.0.0.1:5432/codex_demo``, a
database created if missing).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from codex_testing import AirflowCluster, ClusterError, airflow_cluster, connection_env, variables_env
from codex_testing.days import BackfillDays, complete_days, logical_dates
from codex_testing.sandbox import running_sandbox
from codex_testing.sandbox.analytics import is_quiet_day

from airflow_provider_codex.api.endpoints import COMPLIANCE_RETENTION_DAYS
from airflow_provider_codex.views import VIEWS as VIEW_TABLES

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".demo"
HOME = STATE / "airflow"
SQLITE_DB = STATE / "codex.db"
ARCHIVE = STATE / "archive"
EXPORTS = STATE / "exports"
DAGS = ("codex_analytics_daily", "codex_compliance_daily")
#: Triggered by hand after the backfill (its task reads the loads' Asset events, so it knows the days they covered).
VIEWS_DAG = "codex_governance_views"
DAYS = 30
#: The longest the demo may take; the first compliance day must still be held at the end.
BUDGET = timedelta(minutes=30)
SANDBOX = {"seed": 1, "users": 20, "events_per_day": 1000}
POOL_SLOTS = 4
CONFIG = {
    # The demo runs the backfills only: unpausing must not also start today's scheduled runs.
    "scheduler.use_job_schedule": "False",
    # The DAG file does not change while the demo runs: parse it once.
    "dag_processor.min_file_process_interval": "3600",
}
DEFAULT_PG_URI = "postgresql://postgres@127.0.0.1:5432/codex_demo"
_T0 = time.monotonic()


def say(message: str = "") -> None:
    print(f"[{time.monotonic() - _T0:4.0f}s] {message}" if message else "", flush=True)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- the destination ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    kind: str
    conn_id: str
    connection: dict[str, Any]
    where: str

    def connect(self) -> Any:
        if self.kind == "sqlite":
            return sqlite3.connect(SQLITE_DB)
        import psycopg

        return psycopg.connect(self.where)

    def row_counts(self) -> list[tuple[str, int, int, str]]:
        """Per ``codex%`` table: rows, distinct days, first … last day."""
        if self.kind == "sqlite":
            list_tables = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'codex%' ORDER BY 1"
        else:
            list_tables = (
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_name LIKE 'codex%' ORDER BY 1"
            )
        out = []
        with closing(self.connect()) as conn:
            cur = conn.cursor()
            cur.execute(list_tables)
            for (table,) in cur.fetchall():
                day = "snapshot_day" if table in ("codex_tasks", "codex_environments") else "day"
                cur.execute(f"SELECT COUNT(*), COUNT(DISTINCT {day}), MIN({day}), MAX({day}) FROM {table}")  # noqa: S608
                rows, days, low, high = cur.fetchone()
                out.append((str(table), int(rows), int(days), f"{low} … {high}" if rows else ""))
        return out


def create_database(uri: str) -> None:
    """Create the database of ``uri`` if it does not exist (fails here, clearly, if PostgreSQL is down)."""
    import psycopg

    name = urlsplit(uri).path.lstrip("/")
    try:
        with closing(psycopg.connect(urlsplit(uri)._replace(path="/postgres").geturl(), autocommit=True)) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as failed:
        sys.exit(f"cannot reach PostgreSQL at {uri}: {failed}".strip())


def destination() -> Destination:
    kind = os.environ.get("CODEX_DEMO_DESTINATION", "sqlite").strip().lower() or "sqlite"
    if kind == "sqlite":
        return Destination("sqlite", "codex_sqlite", {"conn_type": "sqlite", "host": str(SQLITE_DB)}, rel(SQLITE_DB))
    if kind in ("postgres", "postgresql"):
        uri = os.environ.get("CODEX_DEMO_POSTGRES_URI", DEFAULT_PG_URI)
        parts = urlsplit(uri)
        connection = {
            "conn_type": "postgres",
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "login": parts.username or "postgres",
            "password": parts.password or "",
            "schema": parts.path.lstrip("/") or "postgres",
        }
        return Destination("postgres", "codex_postgres", connection, uri)
    sys.exit(f"CODEX_DEMO_DESTINATION={kind!r}: choose sqlite (the default) or postgres")


# -- the demo ------------------------------------------------------------------------------------


def wait_for_backfills(cluster: AirflowCluster, expected: dict[str, int]) -> int:
    """Print progress until every backfill run ended; returns how many failed."""
    shown = {"line": "", "at": 0.0}

    def finished() -> bool:
        runs = {dag_id: cluster.dag_runs(dag_id, run_type="backfill") for dag_id in expected}
        done = {d: sum(r.state in ("success", "failed") for r in v) for d, v in runs.items()}
        failed = sum(r.state == "failed" for v in runs.values() for r in v)
        line = "   ".join(f"{d}: {done[d]}/{n} runs done" for d, n in expected.items())
        line += f"   ({failed} failed)" if failed else ""
        complete = all(done[d] >= n for d, n in expected.items())
        if line != shown["line"] and (complete or time.monotonic() - float(shown["at"]) >= 10):
            say(line)
            shown.update(line=line, at=time.monotonic())
        return complete

    cluster.wait_until("the backfills", finished, BUDGET.total_seconds(), interval=2)
    return int(cluster.query("SELECT COUNT(*) FROM dag_run WHERE state = 'failed'")[0][0])


def run_the_views(cluster: AirflowCluster, plan: BackfillDays) -> str:
    """Rebuild the views over the backfill's days by hand, as ``airflow dags trigger`` with conf; the end state.

    The demo's scheduler starts no Asset-triggered run (job scheduling is off); the views task
    reads the loads' Asset events as its inlets, so the quiet days the loads covered are zeros.
    """
    cluster.unpause(VIEWS_DAG)
    conf = {"start": plan.analytics[0].isoformat(), "end": (plan.analytics[-1] + timedelta(days=1)).isoformat()}
    run_id = cluster.trigger_dag(VIEWS_DAG, conf=conf)
    say(f"airflow dags trigger {VIEWS_DAG} --conf '{json.dumps(conf)}'")
    return cluster.wait_for_dag_run(VIEWS_DAG, run_id, timeout=600)


def report(dest: Destination, cluster: AirflowCluster, plan: BackfillDays) -> None:
    counts = dest.row_counts()
    width = max((len(t) for t, *_ in counts), default=30)
    print(f"\n{'table':<{width}}  {'rows':>8}  {'days':>4}  first … last day")
    for table, rows, days, span in counts:
        print(f"{table:<{width}}  {rows:>8,}  {days:>4}  {span}")
    manifests = sorted(ARCHIVE.rglob("_manifest.json"))
    files = list(ARCHIVE.rglob("*.jsonl"))
    label = "archive: compliance log files"
    print(f"{label:<{width}}  {len(files):>8,}  {len(manifests):>4}  verbatim, SHA-256 checked")
    quiet = [str(day) for day in plan.analytics if is_quiet_day(int(SANDBOX["seed"]), day)]
    if quiet:
        print(f"\n(days: the days with rows; {', '.join(quiet)}: quiet in the synthetic workspace, no analytics rows)")
    print("\ncodex_tasks and codex_environments are snapshots of the lists as they are now: the latest scheduled")
    print("run takes them; backfill runs skip them (a snapshot cannot be dated a past day).\n")
    if dest.kind == "sqlite":
        print(f"The data:    SQLite file {dest.where}   (try: sqlite3 {dest.where} .tables)")
    else:
        print(f"The data:    PostgreSQL {dest.where}, schema public")
    print(f"The archive: {rel(ARCHIVE)}/")
    exports = sorted(p for p in EXPORTS.rglob("*.csv") if not p.name.startswith("_"))
    reports = sorted(p for p in EXPORTS.rglob("*.html") if not p.name.startswith("_"))
    print(f"The views:   {len(VIEW_TABLES)} tables codex_view_* and codex_export_* beside the data (docs/views.md)")
    print(f"The exports: {rel(EXPORTS)}/, {len(exports)} CSV files and as many JSON Lines")
    for page in reports:
        print(f"The report:  {rel(page)}   (open it in a browser; it works offline)")
    print(f"Airflow:     {rel(HOME)}/ (metadata DB airflow.db, component logs *.log, task logs logs/)")
    for failed in cluster.query("SELECT dag_id, run_id, task_id FROM task_instance WHERE state = 'failed'"):
        print("FAILED task: {} {} {}: see {}/logs/".format(*failed, rel(HOME)))
    if dest.kind == "sqlite":
        print(f"Into PostgreSQL instead: CODEX_DEMO_DESTINATION=postgres ./scripts/demo   ({DEFAULT_PG_URI})")


def demo() -> int:
    dest = destination()
    shutil.rmtree(HOME, ignore_errors=True)
    shutil.rmtree(ARCHIVE, ignore_errors=True)
    shutil.rmtree(EXPORTS, ignore_errors=True)
    SQLITE_DB.unlink(missing_ok=True)
    HOME.mkdir(parents=True)
    if dest.kind == "postgres":
        create_database(dest.where)
    say(f"Codex governance data into {dest.kind}, through a real Airflow 3; state in {rel(STATE)}/")

    with running_sandbox(**SANDBOX) as sandbox:
        say(f"sandbox Codex API at {sandbox.base_url} ({SANDBOX['users']} synthetic users, real clock)")
        plan = complete_days(sandbox, DAYS, within=BUDGET)
        say(f"analytics: {len(plan.analytics)} days {plan.analytics[0]} … {plan.analytics[-1]}, the last")
        say("  one whose compliance logs are complete (day end + 6 h grace), so no sensor has to wait;")
        say(f"compliance: {len(plan.compliance)} days from {plan.compliance[0]}: the API keeps records")
        say(f"  {COMPLIANCE_RETENTION_DAYS} days, older days would fail at once (so the DAG runs from day one)")
        env = connection_env("codex_default", sandbox.connection("codex-demo-salt"))
        env |= connection_env(dest.conn_id, dest.connection)
        env |= variables_env(
            {
                "codex_sql_conn_id": dest.conn_id,
                "codex_archive_path": f"file://{ARCHIVE}",
                "codex_exports_path": f"file://{EXPORTS}",
                "codex_report_days": str(DAYS),
            }
        )
        say(f"connections codex_default (the sandbox) and {dest.conn_id} ({dest.where}); Variables codex_sql_conn_id,")
        say("  codex_archive_path, codex_exports_path, codex_report_days; airflow db migrate (metadata DB: SQLite)")

        with airflow_cluster(ROOT / "example_dags", env=env, config=CONFIG, home=HOME, components=()) as cluster:
            cluster.run_cli("dags", "reserialize")
            cluster.run_cli("pools", "set", "codex_api", str(POOL_SLOTS), "Codex API calls")
            say(f"parsed example_dags/; pool codex_api ({POOL_SLOTS} slots) caps the API calls of every DAG")
            for dag_id in DAGS:
                cluster.run_cli("dags", "unpause", dag_id)
            say("unpaused both DAGs: backfill runs of a paused DAG stay queued")
            for dag_id, days in zip(DAGS, (plan.analytics, plan.compliance), strict=True):
                start, end = logical_dates(days)
                conf = {"lookback_days": 0} if dag_id == "codex_analytics_daily" else None
                cluster.create_backfill(dag_id, start, end, max_active_runs=4, conf=conf)
                extra = " --dag-run-conf '{\"lookback_days\": 0}'" if conf else ""
                say(f"airflow backfill create --dag-id {dag_id} --from-date {start} --to-date {end}{extra}")
            cluster.start_components()
            say(f"Airflow is up (api-server, scheduler, dag-processor, triggerer); UI at {cluster.api_url}")
            started = time.monotonic()
            failed = wait_for_backfills(cluster, {DAGS[0]: len(plan.analytics), DAGS[1]: len(plan.compliance)})
            say(f"backfills done in {time.monotonic() - started:.0f}s" + (f", {failed} runs FAILED" if failed else ""))
            started = time.monotonic()
            state = run_the_views(cluster, plan)
            failed += state != "success"
            took = time.monotonic() - started
            say(f"{VIEWS_DAG}: the views, the exports and the report of the backfill's days: {state} in {took:.0f}s")
            report(dest, cluster, plan)
            say("stopping everything the demo started")
    say(f"stopped; {time.monotonic() - _T0:.0f}s in all")
    return 1 if failed else 0


def main() -> int:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        return demo()
    except KeyboardInterrupt:
        say("interrupted; everything the demo started is stopped")
        return 130
    except ClusterError as failed:
        say(f"FAILED: {failed}")
        say(f"everything the demo started is stopped; logs in {rel(HOME)}/")
        return 1


if __name__ == "__main__":
    sys.exit(main())
