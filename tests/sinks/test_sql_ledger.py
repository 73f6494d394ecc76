"""The load ledger: one row per table and day a replace wrote, committed with the data or not at all.

On every backend (SQLite, generic, PostgreSQL on both drivers, MariaDB). The
counts are checked against the rows the test gave, a quiet day's 0 included.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sql_backends import Backend
from test_sql_sink import ALL_TYPES, D1, D2, D3, WS, thing

from airflow_provider_codex.sinks import Stage
from airflow_provider_codex.sinks.ledger import LEDGER, read_ledger


def ledger(backend: Backend) -> dict[tuple[str, str], int]:
    """``(table, ISO day) -> row_count`` of the backend's ledger, read with the plain driver."""
    if backend.prefix + LEDGER.name not in backend.tables():
        return {}
    rows = backend.read(LEDGER, order_by=("day", "table_name"))
    assert all(r["workspace_id"] == WS for r in rows)
    out = {(r["table_name"], str(r["day"])[:10]): r["row_count"] for r in rows}
    assert len(out) == len(rows), "a key recorded twice"
    return out


def test_a_replace_records_every_day_with_its_rows_and_a_rerun_replaces_the_record(backend: Backend) -> None:
    sink = backend.sink(batch_size=2)
    before = datetime.now(UTC) - timedelta(seconds=5)
    sink.replace(ALL_TYPES, WS, [D1, D2, D3], [thing(D1, i) for i in range(3)] + [thing(D3, 7)])
    assert ledger(backend) == {(ALL_TYPES.name, str(D1)): 3, (ALL_TYPES.name, str(D2)): 0, (ALL_TYPES.name, str(D3)): 1}
    entries = read_ledger(sink, WS, D1, D3)
    assert set(entries) == {(ALL_TYPES.name, d) for d in (D1, D2, D3)}
    first_at = {at for _, at in entries.values()}
    assert len(first_at) == 1 and all(at is not None and before < at <= datetime.now(UTC) for at in first_at)

    sink.replace(ALL_TYPES, WS, [D2], [thing(D2, 5), thing(D2, 6)])  # a rerun of one day
    assert ledger(backend) == {(ALL_TYPES.name, str(D1)): 3, (ALL_TYPES.name, str(D2)): 2, (ALL_TYPES.name, str(D3)): 1}
    again = read_ledger(sink, WS, D1, D3)
    assert again[(ALL_TYPES.name, D1)] == entries[(ALL_TYPES.name, D1)]
    assert again[(ALL_TYPES.name, D2)][1] > entries[(ALL_TYPES.name, D2)][1]  # type: ignore[operator]


def test_a_failed_replace_leaves_the_ledger_as_it_was(backend: Backend) -> None:
    sink = backend.sink(batch_size=2)
    sink.replace(ALL_TYPES, WS, [D1, D2], [thing(D1, 1), thing(D2, 2)])
    before = read_ledger(sink, WS, D1, D2)

    def broken():  # type: ignore[no-untyped-def]
        yield thing(D1, 100)
        yield thing(D1, 101)
        yield thing(D1, 102)
        raise RuntimeError("API died mid-window")

    with pytest.raises(RuntimeError, match="mid-window"):
        sink.replace(ALL_TYPES, WS, [D1, D2], broken())
    assert read_ledger(sink, WS, D1, D2) == before


def test_a_load_in_parts_is_recorded_once_by_its_last_part_with_every_part_counted(backend: Backend) -> None:
    sink = backend.sink(batch_size=2)
    staging = Stage("1edger")
    parts = [[thing(D1, 0), thing(D1, 1)], [thing(D2, 2)], [thing(D1, 3)]]
    for number, records in enumerate(parts, 1):
        last = number == len(parts)
        sink.load_part(
            staging, [ALL_TYPES], WS, [D1, D2], [(ALL_TYPES.name, r) for r in records], last=lambda last=last: last
        )
        if not last:
            assert ledger(backend) == {}, f"part {number} recorded before the swap"
    assert ledger(backend) == {(ALL_TYPES.name, str(D1)): 3, (ALL_TYPES.name, str(D2)): 1}
