"""A deferrable load never shows a reader a partial or empty window: not while it waits, not after it fails.

The destination first holds the window's previous complete version, loaded
while the sandbox served other values for the same keys, so the two versions
tell apart. Then ``load_sql_usage_deferrable`` (5 rows a page, deferring on
any wait over 1 s) meets 429s with a long ``Retry-After`` before its first
page and after every page; ``dag.test()`` runs its trigger inline, and the
tests hook that moment (the task is deferred, between two parts) to read the
destination and change the faults. A reader on a connection of its own also
polls the destination for the whole run, each snapshot in one transaction.
Every snapshot must be the previous version or the new one, whole; a load
that fails for good leaves the previous version and no stage table; a load
that ends holds the same rows as an undisturbed one.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from codex_e2e import (
    DATASET_TABLES,
    GRACE,
    SQL_KINDS,
    Expected,
    Run,
    SqlDestination,
    StorageDestination,
    assert_same_rows,
    check_summary_and_assets,
    codex_connection,
    column_types,
    days_of,
    expected_rows,
    midnight,
    normalize,
    run_dag,
)

from airflow_provider_codex.transfers.base import DEFER_GRACE

# The operator tests' fixtures (an isolated real destination per test, the codex connection), reused.
_spec = importlib.util.spec_from_file_location(
    "operators_fixtures", Path(__file__).parents[1] / "operators/conftest.py"
)
assert _spec and _spec.loader
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
make_destination = _fixtures.make_destination
use_sandbox = _fixtures.use_sandbox
storage = _fixtures.storage

USAGE = DATASET_TABLES["usage"]
WINDOW = (date(2026, 2, 12), date(2026, 2, 14))  # 26 usage rows: 6 pages of 5
PAGES = 6
#: The previous version: the same keys, other values in every table.
PREVIOUS_FIELDS = {"usage": {"totals.threads": 999, "clients.threads": 999, "models.credits": 0.125}}
#: A Retry-After the operator defers on (its defer_after is 1 s); the inline trigger fires at once.
LONG = 30.0


def conf(dest: SqlDestination, window: tuple[date, date] = WINDOW) -> dict[str, str]:
    return {"start": window[0].isoformat(), "end": window[1].isoformat(), "sql_conn_id": dest.conn_id}


def defer_before_every_page(sandbox: Any) -> None:
    """From now on, every second request of a route answers 429: each part reads one page, then defers."""
    sandbox.faults.replace_all({"fail_429_every": 2, "retry_after": LONG})


# -- reading the destination as a reader would ---------------------------------------------


def snapshot(dest: SqlDestination, tables: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every row of ``tables``, read in one transaction on a connection of its own: one moment of the destination."""
    with dest.connect() as conn:
        cur = conn.cursor()
        if dest.kind == "postgres":
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        elif dest.kind == "mysql":
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        else:
            cur.execute("BEGIN")
        out = {}
        for table in tables:
            cur.execute(f"SELECT * FROM {dest.quote(table)}")
            names = [d[0] for d in cur.description]
            types = column_types(table)
            out[table] = [
                {n: normalize(v, types.get(n)) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()
            ]
        conn.rollback()
    return out


def is_version(rows: Mapping[str, list[dict[str, Any]]], expected: Expected) -> bool:
    """Whether every table holds exactly ``expected``'s rows (compared on its columns: later ones may be added)."""
    for table, want in expected.tables.items():
        columns = set(want[0]) if want else set()
        try:
            assert_same_rows(table, [{c: r.get(c) for c in columns} for r in rows[table]], want)
        except AssertionError:
            return False
    return True


def which(rows: Mapping[str, list[dict[str, Any]]], versions: Mapping[str, Expected]) -> str:
    for name, expected in versions.items():
        if is_version(rows, expected):
            return name
    counts = {table: len(r) for table, r in rows.items()}
    return f"neither version: rows per table {counts}"


def stage_tables(dest: SqlDestination) -> set[str]:
    return {t for t in dest.tables() if "_stage_" in t}


class Poller:
    """A reader that reads the destination again and again, from its own thread, until stopped."""

    def __init__(self, read: Callable[[], str]) -> None:
        self.read = read
        self.seen: list[str] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reader", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.seen.append(self.read())
            except Exception as error:  # a reader's error is a finding too
                self.errors.append(error)
            self._stop.wait(0.02)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def check(self, allowed: set[str]) -> None:
        assert not self.errors, f"the reader failed: {self.errors[:3]}"
        assert self.seen, "the reader never read"
        assert set(self.seen) <= allowed, sorted(set(self.seen) - allowed)


# -- hooking the moment a task is deferred ---------------------------------------------------


class Deferrals:
    """``dag.test()``'s inline trigger, hooked: at each deferral (the task is deferred, between parts).

    ``on_defer(n)`` runs first (read the destination, change the faults); then
    the trigger fires at once instead of after the wait, or, for deferral
    number ``time_out_at``, the deferral times out, as the scheduler makes it
    when a trigger does not fire within the deferral's timeout. Each deferral's
    timeout and wait are recorded.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import airflow.sdk.definitions.dag as dag_module
        from airflow.sdk.execution_time import supervisor

        self.count = 0
        self.on_defer: Callable[[int], None] = lambda n: None
        self.time_out_at: int | None = None
        self.timeouts: list[timedelta | None] = []
        self.waits: list[float] = []
        self._message: Any = None
        run_task, run_trigger = supervisor.run_task_in_process, dag_module._run_inline_trigger

        def run_task_in_process(*args: Any, **kwargs: Any) -> Any:
            result = run_task(*args, **kwargs)
            self._message = result.msg
            return result

        def run_inline_trigger(trigger: Any, ti: Any) -> Any:
            self.count += 1
            self.timeouts.append(self._message.trigger_timeout)
            self.waits.append((datetime.fromisoformat(trigger.moment) - datetime.now(UTC)).total_seconds())
            self.on_defer(self.count)
            if self.count == self.time_out_at:
                from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

                self._message.next_method = TRIGGER_FAIL_REPR
                self._message.next_kwargs = {"error": TriggerFailureReason.TRIGGER_TIMEOUT.value}
                return None
            trigger.moment = datetime.now(UTC).isoformat()
            return run_trigger(trigger, ti)

        monkeypatch.setattr(supervisor, "run_task_in_process", run_task_in_process)
        monkeypatch.setattr(dag_module, "_run_inline_trigger", run_inline_trigger)


@pytest.fixture
def deferrals(monkeypatch: pytest.MonkeyPatch) -> Deferrals:
    return Deferrals(monkeypatch)


# -- the two versions --------------------------------------------------------------------------


@dataclass
class Preloaded:
    """A destination holding the window's previous version, and both versions as the sandbox serves them."""

    dest: SqlDestination
    versions: dict[str, Expected]

    def now(self) -> str:
        return which(snapshot(self.dest, USAGE), self.versions)

    def poll(self) -> Poller:
        return Poller(self.now)

    def assert_left_as_it_was(self, what: str) -> None:
        """The previous version, whole, and no stage table left behind."""
        assert self.now() == "previous", what
        assert not stage_tables(self.dest), what


@pytest.fixture(params=SQL_KINDS)
def preloaded(request, sandbox, make_destination, use_sandbox, test_dags) -> Preloaded:
    """SQLite, PostgreSQL and MariaDB in turn, the previous version loaded undisturbed (other values)."""
    use_sandbox(sandbox)
    dest = make_destination(request.param)
    days = days_of(*WINDOW)
    sandbox.faults.replace_all({"extra_row_fields": PREVIOUS_FIELDS})
    previous = expected_rows("usage", sandbox, days)
    assert run_dag(test_dags, "load_sql_usage", **conf(dest)).state == "success"
    sandbox.reset()  # no faults, counters cleared
    new = expected_rows("usage", sandbox, days)
    assert not is_version({t: previous.tables[t] for t in USAGE}, new)  # the versions tell apart
    loaded = Preloaded(dest, {"previous": previous, "new": new})
    assert loaded.now() == "previous"
    return loaded


def run_deferring(
    test_dags: Mapping[str, Any],
    sandbox: Any,
    deferrals: Deferrals,
    dest: SqlDestination,
    on_defer: Callable[[int], None],
    time_out_at: int | None = None,
    **run: Any,
) -> Run:
    """Run the deferrable load, deferring before its first page (``on_defer`` sets the faults after)."""
    deferrals.count, deferrals.on_defer, deferrals.time_out_at = 0, on_defer, time_out_at
    sandbox.faults.replace_all({"fail_429_first_n": 1, "retry_after": LONG})
    dag_run = test_dags["load_sql_usage_deferrable"].test(run_conf=conf(dest), **run)
    (ti,) = dag_run.get_task_instances()
    return Run(dag_run, ti)


def reject_the_key(monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> None:
    """The next part's requests answer 401: a failure no retry fixes."""
    monkeypatch.setenv("AIRFLOW_CONN_CODEX_DEFAULT", codex_connection(sandbox, analytics_api_key="sk-revoked"))


# -- the tests -------------------------------------------------------------------------------------


@pytest.mark.databases
def test_a_deferred_load_shows_the_previous_window_until_it_swaps_in_the_new_one(
    preloaded, sandbox, test_dags, deferrals
):
    dest, new = preloaded.dest, preloaded.versions["new"]
    at_deferral: list[tuple[str, bool]] = []

    def on_defer(n: int) -> None:
        at_deferral.append((preloaded.now(), bool(stage_tables(dest))))
        defer_before_every_page(sandbox)

    with preloaded.poll() as reader:
        run = run_deferring(test_dags, sandbox, deferrals, dest, on_defer)
    assert run.state == "success"
    reader.check({"previous", "new"})
    assert reader.seen[-1] == "new"
    # Before page 1 (nothing staged yet), then after every page but the last (staged, out of sight).
    assert at_deferral == [("previous", False)] + [("previous", True)] * (PAGES - 1)
    for table in USAGE:  # exactly what an undisturbed load stores
        assert_same_rows(table, dest.read(table), new.tables[table])
    assert not stage_tables(dest)
    summary = check_summary_and_assets(run, "usage", new, WINDOW)
    assert (summary["pages"], summary["pauses"]) == (PAGES, PAGES)
    assert sandbox.stats()["requests"]["usage"]["200"] == PAGES  # no page fetched twice
    # Every deferral waits the Retry-After, and gives up DEFER_GRACE after it.
    assert all(LONG - 5 < wait <= LONG for wait in deferrals.waits)
    assert deferrals.timeouts == [timedelta(seconds=LONG) + DEFER_GRACE] * PAGES


@pytest.mark.databases
def test_a_load_that_fails_for_good_after_any_page_leaves_the_previous_window(
    preloaded, sandbox, test_dags, deferrals, use_sandbox, monkeypatch
):
    with preloaded.poll() as reader:
        # The key is rejected when the load resumes after page k (k = 0: before the first page).
        for k in range(PAGES):
            at_deferral: list[str] = []

            def on_defer(n: int, k: int = k, at_deferral: list[str] = at_deferral) -> None:
                at_deferral.append(preloaded.now())
                defer_before_every_page(sandbox)
                if n == k + 1:
                    reject_the_key(monkeypatch, sandbox)

            use_sandbox(sandbox)
            run = run_deferring(test_dags, sandbox, deferrals, preloaded.dest, on_defer)
            assert run.state == "failed", f"after page {k}"
            assert at_deferral == ["previous"] * (k + 1)
            preloaded.assert_left_as_it_was(f"after page {k}")
    reader.check({"previous"})


@pytest.mark.databases
def test_a_deferral_that_times_out_or_a_part_that_breaks_leaves_the_previous_window(
    preloaded, sandbox, test_dags, deferrals
):
    with preloaded.poll() as reader:
        # The resume never comes: the deferral after page 3 times out (its trigger never fired).
        # The task drops its stage before it fails.
        def deferring(n: int) -> None:
            defer_before_every_page(sandbox)

        run = run_deferring(test_dags, sandbox, deferrals, preloaded.dest, deferring, time_out_at=4)
        assert (run.state, deferrals.count) == ("failed", 4)
        preloaded.assert_left_as_it_was("after the deferral timed out")

        # The part after page 2 breaks (the cursor stops advancing: a paging error).
        def on_defer(n: int) -> None:
            sandbox.faults.replace_all(
                {"endless_cursor": True} if n == 3 else {"fail_429_every": 2, "retry_after": LONG}
            )

        run = run_deferring(test_dags, sandbox, deferrals, preloaded.dest, on_defer)
        assert (run.state, deferrals.count) == ("failed", 3)
        preloaded.assert_left_as_it_was("after a part broke")
    reader.check({"previous"})


@pytest.mark.databases
def test_a_rerun_of_a_task_that_died_deferred_drops_its_stale_stage(preloaded, sandbox, test_dags, deferrals):
    dest = preloaded.dest
    moment = datetime(2026, 2, 20, tzinfo=UTC)  # both runs are the same task instance (the run id comes from it)
    same_task_instance = {"logical_date": moment, "run_after": moment}

    def die(n: int) -> None:
        if n == 3:  # the worker and the triggerer die: nothing cleans up
            raise RuntimeError("the triggerer died")
        defer_before_every_page(sandbox)

    with preloaded.poll() as reader:
        assert run_deferring(test_dags, sandbox, deferrals, dest, die, **same_task_instance).state == "failed"
        assert stage_tables(dest)  # pages 1 and 2, out of sight
        assert preloaded.now() == "previous"

        sandbox.faults.replace_all({})
        dag_run = test_dags["load_sql_usage_deferrable"].test(run_conf=conf(dest), **same_task_instance)
        assert str(dag_run.state) == "success"
    assert not stage_tables(dest)
    for table in USAGE:
        assert_same_rows(table, dest.read(table), preloaded.versions["new"].tables[table])
    reader.check({"previous", "new"})


@pytest.mark.databases
def test_a_column_that_only_an_earlier_part_brought_reaches_the_live_table(preloaded, sandbox, test_dags, deferrals):
    def on_defer(n: int) -> None:
        # Page 2 alone carries a new field: staged with its column, which the last part lacks.
        extra = {"extra_row_fields": {"usage": {"seatTier": "gold"}}} if n == 2 else {}
        sandbox.faults.replace_all({"fail_429_every": 2, "retry_after": LONG, **extra})

    assert run_deferring(test_dags, sandbox, deferrals, preloaded.dest, on_defer).state == "success"
    daily = preloaded.dest.read(USAGE[0])
    assert sorted(str(r["seat_tier"]) for r in daily) == sorted(["gold"] * 5 + ["None"] * 21)
    assert preloaded.now() == "new"
    assert not stage_tables(preloaded.dest)


# -- loads that start over after the wait (they never write before their end) ------------------------


@pytest.mark.databases
@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_compliance_load_deferred_mid_walk_leaves_the_window_whole(
    kind, live_sandbox, make_destination, use_sandbox, test_dags, deferrals
):
    sandbox = live_sandbox
    use_sandbox(sandbox)
    dest = make_destination(kind)
    first = (datetime.now(UTC) - timedelta(days=5)).date()
    window = (first, first + timedelta(days=1))
    table = DATASET_TABLES["compliance_events"][0]
    expected = expected_rows("compliance_events", sandbox, days_of(*window), files_before=midnight(window[1]) + GRACE)
    assert run_dag(test_dags, "load_sql_compliance_events", **conf(dest, window)).state == "success"

    def whole() -> str:
        return which(snapshot(dest, [table]), {"whole": expected})

    at_deferral: list[str] = []

    def on_defer(n: int) -> None:
        at_deferral.append(whole())
        sandbox.faults.replace_all({})

    deferrals.on_defer = on_defer
    # The 3rd download answers 429: on PostgreSQL the rows of the first files are already streaming.
    sandbox.faults.replace_all({"fail_429_every": 3, "retry_after": LONG})
    with Poller(whole) as reader:
        run = run_dag(test_dags, "load_sql_compliance_events_deferrable", **conf(dest, window))
    assert run.state == "success"
    assert at_deferral == ["whole"]
    reader.check({"whole"})
    assert_same_rows(table, dest.read(table), expected.tables[table])


def test_a_storage_load_deferred_mid_walk_leaves_the_window_whole(sandbox, storage, use_sandbox, test_dags, deferrals):
    use_sandbox(sandbox)
    days = days_of(*WINDOW)
    window = {"start": WINDOW[0].isoformat(), "end": WINDOW[1].isoformat(), "path": storage.url}
    sandbox.faults.replace_all({"extra_row_fields": PREVIOUS_FIELDS})
    previous = expected_rows("usage", sandbox, days)
    assert run_dag(test_dags, "load_storage_usage", **window).state == "success"
    sandbox.faults.replace_all({})
    new = expected_rows("usage", sandbox, days)

    def read(where: StorageDestination) -> str:
        return which({t: where.read(t) for t in USAGE}, {"previous": previous, "new": new})

    at_deferral: list[str] = []

    def on_defer(n: int) -> None:
        at_deferral.append(read(storage))
        sandbox.faults.replace_all({})

    deferrals.on_defer = on_defer
    sandbox.faults.replace_all({"fail_429_every": 3, "retry_after": LONG})  # page 3 answers 429: it starts over
    run = run_dag(test_dags, "load_storage_usage_deferrable", **window)
    assert run.state == "success"
    assert at_deferral == ["previous"]
    assert read(storage) == "new"


def test_the_checkpoint_of_another_version_starts_the_window_over():
    """A task deferred by an earlier version (whose parts appended to the live tables) cannot resume: it starts over."""
    from airflow_provider_codex.load import LoadSummary
    from airflow_provider_codex.windows import Window

    summary = LoadSummary("usage", Window.of_days(WINDOW[0], WINDOW[1] - timedelta(days=1)))
    summary.pages = 3
    state = json.loads(
        json.dumps({**summary.as_dict(), "checkpoint": {"retry_after": 30, "cursor": "c", "appending": True}})
    )
    again, checkpoint = LoadSummary.from_state(state)
    assert checkpoint is None and again.pages == 0
