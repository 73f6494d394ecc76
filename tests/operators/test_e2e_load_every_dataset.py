"""Every dataset, through its operator run with ``dag.test()``, into real SQLite, PostgreSQL,
MariaDB and ``file://`` storage, from the sandbox over real HTTP.

Each test runs three loads: a window, the same window again, and a window
overlapping it by one day. After each, every table holds exactly the rows the
sandbox served for the days loaded, field by field, once; the XCom summary and
the Asset events recorded in the metadata database give the same counts per
table and day. Compliance content is stored as HMAC-SHA256 hex, never in clear.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from codex_e2e import (
    DATASET_TABLES,
    DAY_COLUMN,
    GRACE,
    LEDGER_TABLE,
    Expected,
    SqlDestination,
    StorageDestination,
    assert_ledger,
    assert_same_rows,
    check_summary_and_assets,
    days_of,
    expected_rows,
    leaked,
    midnight,
    run_dag,
)

DATASETS = tuple(DATASET_TABLES)
HEX64 = re.compile(r"[0-9a-f]{64}")


def windows(dataset: str) -> tuple[tuple[date, date], tuple[date, date]]:
    """Two two-day windows ``[start, end)`` overlapping by one day.

    Analytics and snapshots come from the frozen sandbox (today 2026-03-04);
    compliance from the live one, a few days back from the real today, within
    the 30-day retention and with every late event landed.
    """
    if dataset == "compliance_events":
        today = datetime.now(UTC).date()
        first = today - timedelta(days=6)
    else:
        first = date(2026, 2, 12)  # a Thursday: a weekday, a Friday and a Saturday are loaded
    one = timedelta(days=1)
    return (first, first + 2 * one), (first + one, first + 3 * one)


def sandbox_for(dataset: str, request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("live_sandbox" if dataset == "compliance_events" else "sandbox")


def expected_for(dataset: str, sandbox: Any, window: tuple[date, date]) -> Expected:
    expected = expected_rows(dataset, sandbox, days_of(*window), files_before=midnight(window[1]) + GRACE)
    for table, rows in expected.tables.items():
        assert rows, f"the sandbox served no rows for {table} in {window}: the test would prove nothing"
    return expected


def loaded_at_by_day(table: str, rows: list[dict[str, Any]]) -> dict[date, set[datetime]]:
    out: dict[date, set[datetime]] = {}
    for row in rows:
        assert row["loaded_at"] is not None
        out.setdefault(row[DAY_COLUMN[table]], set()).add(row["loaded_at"])
    return out


def check_content_hashed(reader: Any, expected: Expected, all_cells: list[Any]) -> None:
    """Content columns hold HMAC-SHA256 hex of the served text; no served text is stored anywhere."""
    rows = reader("codex_compliance_events")
    hashed = [r[f] for r in rows for f in ("prompt_text", "response_text", "tool_input") if r[f] is not None]
    assert len(hashed) >= 100 and all(HEX64.fullmatch(h) for h in hashed)
    assert len(expected.cleartext) >= 100
    assert not leaked(expected.cleartext, all_cells), "cleartext content stored"


def run_three_loads(
    dataset: str,
    request: pytest.FixtureRequest,
    use_sandbox: Any,
    test_dags: Any,
    dag_id: str,
    conf: dict[str, str],
    reader: Any,
) -> Expected:
    sandbox = sandbox_for(dataset, request)
    use_sandbox(sandbox)
    tables = list(DATASET_TABLES[dataset])
    first, overlapping = windows(dataset)
    expected_first = expected_for(dataset, sandbox, first)

    stamps: list[dict[str, dict[date, set[datetime]]]] = []
    for window in (first, first):  # the same window twice: one copy, every row replaced
        run = run_dag(test_dags, dag_id, start=window[0].isoformat(), end=window[1].isoformat(), **conf)
        check_summary_and_assets(run, dataset, expected_first, window)
        for table in tables:
            assert_same_rows(table, reader(table), expected_first.tables[table])
        stamps.append({t: loaded_at_by_day(t, reader(t)) for t in tables})
    for table in tables:  # one load time per run, and the rerun's rows replaced the first run's
        first_run, rerun = (set().union(*stamps[i][table].values()) for i in (0, 1))
        assert len(first_run) == len(rerun) == 1 and first_run != rerun, (table, stamps)

    run = run_dag(test_dags, dag_id, start=overlapping[0].isoformat(), end=overlapping[1].isoformat(), **conf)
    expected_second = expected_for(dataset, sandbox, overlapping)
    check_summary_and_assets(run, dataset, expected_second, overlapping)
    merged = expected_first.merged(expected_second)
    for table in tables:
        rows = reader(table)
        assert_same_rows(table, rows, merged.tables[table])
        by_day = loaded_at_by_day(table, rows)
        (rerun_stamp,) = next(iter(stamps[1][table].values()))
        for day, moments in by_day.items():
            assert len(moments) == 1
            if day in expected_second.days:
                assert moments != {rerun_stamp}, f"{table} {day}: not replaced by the overlapping run"
            else:
                assert moments == {rerun_stamp}, f"{table} {day}: touched by a run that did not cover it"
    return merged


@pytest.mark.databases
@pytest.mark.parametrize("dataset", DATASETS)
def test_sql_load_equals_served_once_per_row(
    dataset: str, sql_destination: SqlDestination, request, use_sandbox, test_dags
) -> None:
    merged = run_three_loads(
        dataset,
        request,
        use_sandbox,
        test_dags,
        f"load_sql_{dataset}",
        {"sql_conn_id": sql_destination.conn_id},
        sql_destination.read,
    )
    assert sql_destination.tables() == {*DATASET_TABLES[dataset], LEDGER_TABLE}
    ledger = sql_destination.read(LEDGER_TABLE)
    for table in DATASET_TABLES[dataset]:
        assert_ledger(ledger, table, sql_destination.read(table))
    if dataset == "compliance_events":
        cells = [v for t in sql_destination.tables() for r in sql_destination.read(t) for v in r.values()]
        check_content_hashed(sql_destination.read, merged, cells)


@pytest.mark.parametrize("dataset", DATASETS)
def test_storage_load_equals_served_once_per_row(
    dataset: str, storage: StorageDestination, request, use_sandbox, test_dags
) -> None:
    merged = run_three_loads(
        dataset, request, use_sandbox, test_dags, f"load_storage_{dataset}", {"path": storage.url}, storage.read
    )
    for table in DATASET_TABLES[dataset]:
        files = storage.partition_files(table)
        # one visible part per partition, no temporary object left behind
        assert [f.name for f in files] == ["part-0000.jsonl.gz"] * len(merged.days), files
    assert sorted(p.name for p in storage.root.iterdir()) == sorted(DATASET_TABLES[dataset])
    if dataset == "compliance_events":
        cells = [v for r in storage.read("codex_compliance_events") for v in r.values()]
        check_content_hashed(storage.read, merged, cells)
