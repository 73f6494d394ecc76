"""A load killed with SIGKILL mid-way leaves the previous load intact; the rerun ends exactly right.

The killed load is a real process (forked from ``load_worker.py``) running the
operator's load logic. It is killed twice, on PostgreSQL and on MariaDB:

1. while it fetches pages from the API (the sandbox answers slowly);
2. while it writes: its transaction has already replaced the first tables
   (delete + insert) and is deleting the last table's second day. To hold it
   exactly there, the test holds row locks on that day's rows (``SELECT ... FOR
   UPDATE``) and waits until the database shows the load blocked on them, its
   transaction having written rows, before killing it.

The data of the day being reloaded changed in between (the first load saw a
partial day), so any row of the killed load that became visible would show.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import MySQLdb
import psycopg
import pytest
from codex_e2e import (
    DATASET_TABLES,
    MYSQL,
    PG_URI,
    Expected,
    SqlDestination,
    assert_same_rows,
    check_summary_and_assets,
    days_of,
    expected_rows,
    run_dag,
)

DATASET = "usage"
TABLES = DATASET_TABLES[DATASET]
LAST_TABLE = max(TABLES)  # the sink replaces tables in name order: this one is written last
WINDOW = (date(2026, 2, 12), date(2026, 2, 14))
FIRST, LAST = WINDOW[0], WINDOW[1] - timedelta(days=1)
PARTIAL_NOW = datetime(LAST.year, LAST.month, LAST.day, 15, tzinfo=UTC)  # the last day, 15:00 UTC
WORKER = Path(__file__).with_name("load_worker.py")


class Worker:
    """The long-lived parent of the loads to kill (Airflow imported once)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.ready = False
        self.running: int | None = None

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the load worker died (exit {self.proc.poll()})"
        return json.loads(line)

    def start(self, command: dict[str, Any]) -> int:
        if not self.ready:  # it imports Airflow while the test prepares the database
            assert "ready" in self.read()
            self.ready = True
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        self.running = self.read()["pid"]
        return self.running

    def kill(self, pid: int) -> dict[str, Any]:
        """SIGKILL the load; what the worker saw of its end."""
        os.kill(pid, signal.SIGKILL)
        self.running = None
        return self.read()

    def abort(self) -> None:
        """After a failed test: end a load still running, so the next test starts clean."""
        if self.running is not None:
            self.kill(self.running)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    try:
        yield w
    finally:
        w.close()


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def kill(worker: Worker, pid: int) -> None:
    ended = worker.kill(pid)
    assert ended == {"pid": pid, "exit": None, "signal": signal.SIGKILL}, ended


# -- what each database shows of a load blocked mid-write ------------------------------------


def pg_blocked_writer(dest: SqlDestination, blocker: Any) -> dict[str, Any] | None:
    """The backend blocked on the test's row locks, if any, with what its transaction holds."""
    blocker_pid = blocker.info.backend_pid
    with closing(psycopg.connect(PG_URI)) as conn:
        row = conn.execute(
            "SELECT pid, query, backend_xid IS NOT NULL FROM pg_stat_activity "
            "WHERE %s = ANY(pg_blocking_pids(pid)) AND wait_event_type = 'Lock'",
            (blocker_pid,),
        ).fetchone()
        if row is None:
            return None
        pid, query, wrote = row
        written = conn.execute(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE l.pid = %s AND l.mode = 'RowExclusiveLock' AND l.granted AND n.nspname = %s AND c.relkind = 'r'",
            (pid, dest.name),
        ).fetchall()
    return {"id": pid, "query": query, "wrote": wrote, "tables_written": {r[0] for r in written}}


def pg_gone(backend: int) -> bool:
    with closing(psycopg.connect(PG_URI)) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend,)).fetchone()[0] == 0


def pg_lock_rows(dest: SqlDestination, day: date) -> tuple[Any, int]:
    conn = psycopg.connect(PG_URI, options=f"-c search_path={dest.name}")
    locked = conn.execute(f'SELECT * FROM "{LAST_TABLE}" WHERE day = %s FOR UPDATE', (day,)).fetchall()
    return conn, len(locked)


def my_blocked_writer(dest: SqlDestination, blocker: Any) -> dict[str, Any] | None:
    """The session of ``dest``'s database waiting for a row lock, if any (the test's are the only locks)."""
    with closing(MySQLdb.connect(**MYSQL)) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT t.trx_mysql_thread_id, t.trx_query, t.trx_rows_modified "
            "FROM information_schema.INNODB_TRX t "
            "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
            "WHERE t.trx_state = 'LOCK WAIT' AND p.DB = %s AND p.ID <> %s",
            (dest.name, blocker.thread_id()),
        )
        row = cur.fetchone()
    if row is None:
        return None
    thread, query, modified = row
    return {"id": thread, "query": query, "wrote": modified > 0, "rows_modified": modified}


def my_gone(thread: int) -> bool:
    with closing(MySQLdb.connect(**MYSQL)) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = %s", (thread,))
        return cur.fetchone()[0] == 0


def my_lock_rows(dest: SqlDestination, day: date) -> tuple[Any, int]:
    conn = MySQLdb.connect(db=dest.name, **MYSQL)
    cur = conn.cursor()
    cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")  # row locks only, no gap locks
    cur.execute("START TRANSACTION")
    cur.execute(f"SELECT * FROM `{LAST_TABLE}` WHERE day = %s FOR UPDATE", (day,))
    return conn, len(cur.fetchall())


DATABASES = {
    "postgres": (pg_lock_rows, pg_blocked_writer, pg_gone),
    "mysql": (my_lock_rows, my_blocked_writer, my_gone),
}


def check_tables(dest: SqlDestination, expected: Expected) -> set[datetime]:
    """The tables hold exactly ``expected``; return the load times seen."""
    stamps: set[datetime] = set()
    for table in TABLES:
        rows = dest.read(table)
        assert_same_rows(table, rows, expected.tables[table])
        stamps |= {r["loaded_at"] for r in rows}
    return stamps


@pytest.mark.databases
@pytest.mark.parametrize("kind", DATABASES)
def test_sigkill_mid_load_then_rerun(kind, worker, sandbox, make_destination, use_sandbox, test_dags, tmp_path):
    lock_rows, blocked_writer, gone = DATABASES[kind]
    dest = make_destination(kind)
    use_sandbox(sandbox)
    conf = {"start": WINDOW[0].isoformat(), "end": WINDOW[1].isoformat(), "sql_conn_id": dest.conn_id}

    # The first load sees the last day partial (the sandbox's clock in its afternoon).
    sandbox.set_clock(PARTIAL_NOW)
    old = expected_rows(DATASET, sandbox, days_of(*WINDOW))
    assert run_dag(test_dags, f"load_sql_{DATASET}", **conf).state == "success"
    (old_stamp,) = check_tables(dest, old)
    sandbox.set_clock(None)  # the day is complete now: a reload brings more rows
    new = expected_rows(DATASET, sandbox, days_of(*WINDOW))
    assert len(new.tables[LAST_TABLE]) > len(old.tables[LAST_TABLE])
    command = {
        "env": {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")},
        "dataset": DATASET,
        "sql_conn_id": dest.conn_id,
        "first": FIRST.isoformat(),
        "last": LAST.isoformat(),
        "log": str(tmp_path / "killed.log"),
        "result": str(tmp_path / "killed.json"),
    }

    # 1. Killed while paging through the API.
    sandbox.faults.slow_ms = 300  # 6 pages, 0.3 s each: killed after the 2nd, well before the last
    pid = worker.start({**command, "page_size": 5})
    log_path = Path(command["log"])
    # The worker's own log, not the sandbox's count: a page served is not yet a page received.
    wait_for("two pages received", lambda: log_path.exists() and "page 2," in log_path.read_text())
    try:
        kill(worker, pid)
    finally:
        worker.abort()
        sandbox.faults.slow_ms = 0
    log = Path(command["log"]).read_text()
    assert "page 2" in log and "staged" not in log, "not killed while fetching"
    assert check_tables(dest, old) == {old_stamp}

    # 2. Killed while writing: blocked on the last table's last day, the other tables already replaced.
    blocker, locked = lock_rows(dest, LAST)
    assert locked > 0
    try:
        pid = worker.start({**command, "page_size": None})
        writer = wait_for("the load to block on the locked rows", lambda: blocked_writer(dest, blocker))
        assert writer["query"].lstrip().upper().startswith("DELETE") and LAST_TABLE in writer["query"]
        assert writer["wrote"], f"the killed transaction had written nothing: {writer}"
        if kind == "postgres":
            assert writer["tables_written"] == set(TABLES), writer
        kill(worker, pid)
    finally:
        worker.abort()
        blocker.rollback()
        blocker.close()
    wait_for("the killed load's session to end", lambda: gone(writer["id"]), timeout=30)
    assert check_tables(dest, old) == {old_stamp}, "rows of the killed load are visible"
    assert not (tmp_path / "killed.json").exists()

    # 3. The rerun ends exactly right.
    run = run_dag(test_dags, f"load_sql_{DATASET}", **conf)
    check_summary_and_assets(run, DATASET, new, WINDOW)
    (new_stamp,) = check_tables(dest, new)
    assert new_stamp != old_stamp
