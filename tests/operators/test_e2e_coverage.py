"""Coverage and the retention guard, end to end: the real load operators → SQLite, PostgreSQL, MariaDB →
days removed by hand → ``read_coverage`` and ``CodexRetentionGuardOperator`` name exactly those days.

Compliance events come from the sandbox on the real clock (its days must be
within the real 30-day retention), six days a few days back; usage from the
frozen sandbox, whose 2026-02-09 and 02-10 are quiet (no rows). Days are
removed as a user's accident would: the rows and their ledger rows deleted
together; and once only the rows (the ledger then disagrees: ``altered``,
missing). The expected rows per day are counted here with the plain drivers,
never by the SQL under test.
"""

from __future__ import annotations

import gzip
import re
import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from codex_e2e import SqlDestination, StorageDestination, midnight, normalize
from codex_testing.sandbox import RunningSandbox

from airflow_provider_codex.coverage import DayStatus, Evidence, read_coverage, read_storage_coverage
from airflow_provider_codex.sinks import SqlSink, StorageSink
from airflow_provider_codex.tables import ColumnType
from airflow_provider_codex.transfers.codex_retention_guard import CodexRetentionGuardOperator, RetentionGuardError
from airflow_provider_codex.views import build_views
from airflow_provider_codex.windows import Window

EVENTS, USAGE, LEDGER = "codex_compliance_events", "codex_usage_user_daily", "codex_load_ledger"
QUIET = (date(2026, 2, 9), date(2026, 2, 10))
USAGE_DAYS = [date(2026, 2, 9) + timedelta(days=i) for i in range(4)]  # 02-09..02-12
MARGIN = "P25D"  # the removed days (9 and 8 days back) expire within 21-22 days: within it


ONE_DAY = timedelta(days=1)


def load(test_dags: dict[str, Any], dest: SqlDestination, dataset: str, first: date, last: date) -> None:
    conf = {"start": first.isoformat(), "end": (last + timedelta(days=1)).isoformat(), "sql_conn_id": dest.conn_id}
    dag_run = test_dags[f"load_sql_{dataset}"].test(run_conf=conf)
    assert str(dag_run.state) == "success"


def rows_per_day(dest: SqlDestination, table: str, workspace_id: str) -> Counter[date]:
    return Counter(r["day"] for r in dest.read(table) if r["workspace_id"] == workspace_id)


def delete(dest: SqlDestination, table: str, workspace_id: str, day: date) -> None:
    """What a user's accident does: a plain ``DELETE`` of one day."""
    mark = "?" if dest.kind == "sqlite" else "%s"
    with dest.connect() as conn:
        cur = conn.cursor()
        where = f"{dest.quote('workspace_id')} = {mark} AND {dest.quote('day')} = {mark}"
        sql = f"DELETE FROM {dest.quote(table)} WHERE {where}"
        cur.execute(sql, (workspace_id, day.isoformat()))
        assert cur.rowcount > 0, f"nothing deleted from {table} on {day}"
        conn.commit()


def guard(dest: SqlDestination, first: date, last: date, margin: str = MARGIN) -> dict[str, Any]:
    operator = CodexRetentionGuardOperator(
        task_id="retention_guard",
        sql_conn_id=dest.conn_id,
        first=first.isoformat(),
        last=last.isoformat(),
        margin=margin,
        backfill_dag_id="codex_compliance_daily",
    )
    return operator.execute({})


def commands(message: str) -> list[tuple[date, date]]:
    found = re.findall(
        r"airflow backfill create --dag-id codex_compliance_daily --from-date (\S+) --to-date (\S+)", message
    )
    return [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in found]


@pytest.mark.slow
@pytest.mark.databases
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mysql"])
def test_coverage_and_the_guard_name_exactly_the_days_removed(
    kind: str,
    make_destination,
    sandbox: RunningSandbox,
    live_sandbox: RunningSandbox,
    use_sandbox,
    test_dags,
) -> None:
    dest = make_destination(kind)
    sink = SqlSink.from_conn_id(dest.conn_id)

    # -- usage, with quiet days: a zero is a loaded day, not a gap ---------------------------------
    use_sandbox(sandbox)
    for day in QUIET:
        assert sandbox.data.usage_rows(day) == []
    load(test_dags, dest, "usage", USAGE_DAYS[0], USAGE_DAYS[-1])
    ws = sandbox.workspace_id
    served = rows_per_day(dest, USAGE, ws)
    report = read_coverage(sink, ws, date(2026, 2, 8), USAGE_DAYS[-1], now=datetime.now(UTC), datasets=["usage"])
    usage = {d.day: d for d in report.dataset("usage").days}
    assert usage[date(2026, 2, 8)].status is DayStatus.MISSING  # never loaded
    assert usage[date(2026, 2, 8)].rows is None and usage[date(2026, 2, 8)].expires_at is None
    for day in USAGE_DAYS:
        assert (usage[day].status, usage[day].evidence, usage[day].rows) == (
            DayStatus.LOADED,
            Evidence.LEDGER,
            served.get(day, 0),
        ), day
    assert usage[QUIET[0]].rows == 0 and usage[date(2026, 2, 12)].rows
    # the views, built without the loads' Asset events, know the quiet days from the ledger: zeros, not gaps
    build_views(sink, ws, Window.of_days(date(2026, 2, 8), USAGE_DAYS[-1]))
    _, recorded = dest.query("SELECT day, dataset, evidence FROM codex_loaded_days")
    evidence = {(normalize(d, ColumnType.DATE), how) for d, dataset, how in recorded if dataset == "usage"}
    assert evidence == {*((d, "ledger") for d in QUIET), *((d, "rows") for d in USAGE_DAYS[2:])}
    # a destination loaded before the ledger: rows without ledger rows still count; a quiet day cannot
    for day in (QUIET[1], date(2026, 2, 12)):
        delete(dest, LEDGER, ws, day)
    after = {
        d.day: d
        for d in read_coverage(sink, ws, QUIET[0], USAGE_DAYS[-1], now=datetime.now(UTC), datasets=["usage"])
        .dataset("usage")
        .days
    }
    assert (after[QUIET[1]].status, after[QUIET[1]].evidence) == (DayStatus.MISSING, Evidence.NONE)
    assert (after[date(2026, 2, 12)].status, after[date(2026, 2, 12)].evidence) == (DayStatus.LOADED, Evidence.ROWS)
    loaded_at = {r["loaded_at"] for r in dest.read(USAGE) if r["day"] == date(2026, 2, 12)}
    assert after[date(2026, 2, 12)].last_loaded_at == max(loaded_at)

    # -- compliance events, six days within the real retention ---------------------------------------
    use_sandbox(live_sandbox)
    ws = live_sandbox.workspace_id
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=10 - i) for i in range(6)]  # 10 to 5 days back
    load(test_dags, dest, "compliance_events", days[0], days[-1])
    served = rows_per_day(dest, EVENTS, ws)
    assert all(served[d] for d in days), served

    now = datetime.now(UTC)
    report = read_coverage(sink, ws, today - timedelta(days=32), days[-1], now=now, datasets=["compliance_events"])
    by_day = {d.day: d for d in report.dataset("compliance_events").days}
    for day in days:
        d = by_day[day]
        assert (d.status, d.evidence, d.rows) == (DayStatus.LOADED, Evidence.LEDGER, served[day]), day
        assert d.expires_at == midnight(day) + timedelta(days=30)
        assert d.last_loaded_at is not None and now - timedelta(minutes=10) < d.last_loaded_at <= now
    for back in (31, 32):  # never loaded, past the retention: lost for good
        assert by_day[today - timedelta(days=back)].status is DayStatus.LOST
    assert by_day[today - timedelta(days=15)].status is DayStatus.MISSING  # never loaded, 15 days left
    assert report.to_json()["datasets"][0]["days"][-1] == {
        "day": days[-1].isoformat(),
        "status": "loaded",
        "last_loaded_at": by_day[days[-1]].last_loaded_at.isoformat(),
        "rows": served[days[-1]],
        "expires_at": (midnight(days[-1]) + timedelta(days=30)).isoformat(),
        "evidence": "ledger",
    }

    # nothing missing: the guard passes, by default from the first day loaded
    passed = guard(dest, days[0], days[-1])
    assert [d["status"] for d in passed["datasets"][0]["days"]] == ["loaded"] * len(days)
    assert (
        str(
            test_dags["guard_compliance"]
            .test(run_conf={"sql_conn_id": dest.conn_id, "last": days[-1].isoformat(), "margin": MARGIN})
            .state
        )
        == "success"
    )

    # an accident: two days deleted, rows and ledger rows; one day's rows only
    for day in days[1:3]:
        delete(dest, EVENTS, ws, day)
        delete(dest, LEDGER, ws, day)
    delete(dest, EVENTS, ws, days[4])
    report = read_coverage(
        sink, ws, days[0], days[-1], now=datetime.now(UTC), datasets=["compliance_events"], margin=timedelta(days=25)
    )
    assert report.missing() == {"compliance_events": (days[1], days[2], days[4])}
    assert report.expiring("compliance_events") == {"compliance_events": (days[1], days[2], days[4])}
    by_day = {d.day: d for d in report.dataset("compliance_events").days}
    assert [by_day[d].evidence for d in (days[1], days[4])] == [Evidence.NONE, Evidence.ALTERED]
    assert by_day[days[4]].rows == 0 and by_day[days[1]].rows is None
    # with a week's margin, they are missing but not yet expiring: the guard passes
    assert guard(dest, days[0], days[-1], margin="P7D")["datasets"][0]["counts"]["missing"] == 3

    with pytest.raises(RetentionGuardError) as failed:
        guard(dest, days[0], days[-1])
    message = str(failed.value)
    listed = [date.fromisoformat(d) for d in re.findall(r"^  (\d{4}-\d{2}-\d{2})  expires", message, re.M)]
    assert listed == [days[1], days[2], days[4]]
    assert commands(message) == [(days[1] + ONE_DAY, days[2] + ONE_DAY), (days[4] + ONE_DAY, days[4] + ONE_DAY)]
    assert "LOST" not in message

    # in a real task: failed, at its first try (no retry can load a day)
    dag_run = test_dags["guard_compliance"].test(
        run_conf={"sql_conn_id": dest.conn_id, "last": days[-1].isoformat(), "margin": MARGIN}
    )
    assert str(dag_run.state) == "failed"
    (ti,) = dag_run.get_task_instances()
    assert (str(ti.state), ti.try_number, ti.max_tries) == ("failed", 1, 0)

    # the backfill's days reloaded: nothing missing any more
    load(test_dags, dest, "compliance_events", days[1], days[2])
    load(test_dags, dest, "compliance_events", days[4], days[4])
    assert guard(dest, days[0], days[-1])["datasets"][0]["counts"]["loaded"] == len(days)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_storage_coverage_reads_the_day_files_the_storage_sink_wrote(
    storage: StorageDestination, sandbox: RunningSandbox, use_sandbox, test_dags
) -> None:
    use_sandbox(sandbox)
    conf = {"start": USAGE_DAYS[0].isoformat(), "end": (USAGE_DAYS[-1] + ONE_DAY).isoformat(), "path": storage.url}
    assert str(test_dags["load_storage_usage"].test(run_conf=conf).state) == "success"
    sink, ws = StorageSink(storage.url), sandbox.workspace_id
    first = date(2026, 2, 8)

    def statuses() -> dict[date, tuple[DayStatus, Evidence]]:
        report = read_storage_coverage(sink, ws, first, USAGE_DAYS[-1], now=datetime.now(UTC), datasets=["usage"])
        return {d.day: (d.status, d.evidence) for d in report.dataset("usage").days}

    loaded = (DayStatus.LOADED, Evidence.PARTITION)
    assert statuses() == {first: (DayStatus.MISSING, Evidence.NONE), **dict.fromkeys(USAGE_DAYS, loaded)}
    # a quiet day's files are empty, and there: loaded
    quiet_files = [p for p in storage.partition_files(USAGE) if f"day={QUIET[0]}" in str(p)]
    assert quiet_files and all(not storage_rows(p) for p in quiet_files)
    # a day folder of one of the dataset's tables removed by hand: that day is missing
    shutil.rmtree(storage.root / "codex_usage_user_model_daily" / f"workspace_id={ws}" / "day=2026-02-11")
    assert statuses()[date(2026, 2, 11)] == (DayStatus.MISSING, Evidence.NONE)
    assert statuses()[date(2026, 2, 12)] == loaded


def storage_rows(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return [line for line in fh if line.strip()]
