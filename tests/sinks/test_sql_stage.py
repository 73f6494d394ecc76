"""A load in parts (a deferrable task's): the live table changes only with its last part, in one swap.

On every backend (SQLite, generic, PostgreSQL on both drivers, MariaDB), with
a table prefix long enough that the stage tables' names must be shortened.
"""

from __future__ import annotations

import pytest
from sql_backends import Backend
from test_sql_sink import ALL_TYPES, D1, D2, WS, normalize, thing

from airflow_provider_codex.sinks import Stage
from airflow_provider_codex.tables import ColumnType

LONG_PREFIX = "a_long_prefix_to_shorten_stages_"  # live names of 54 characters


def tagged(records):
    return [(ALL_TYPES.name, r) for r in records]


def expected(records, **extra_types):
    types = {**ALL_TYPES.types, **extra_types}
    return sorted(
        ({k: normalize(v, types[k]) for k, v in r.items()} for r in records), key=lambda r: (r["day"], r["id"])
    )


def long_named(backend: Backend) -> Backend:
    return Backend(backend.name, backend.hook, backend.dialect, backend.prefix + LONG_PREFIX)


def stage_tables(backend: Backend) -> set[str]:
    return {t for t in backend.tables() if "_stage_" in t}


def test_a_load_in_parts_changes_the_live_table_only_with_its_last_part(backend):
    db = long_named(backend)
    sink = db.sink(batch_size=2)
    previous_records = [thing(D1, 90), thing(D2, 91)]
    sink.replace(ALL_TYPES, WS, [D1, D2], previous_records)
    parts = [[thing(D1, 0), thing(D1, 1)], [thing(D2, 2, seat_tier="gold")], [], [thing(D2, 3)]]
    staging = Stage("0123abcd")
    for number, records in enumerate(parts, 1):
        last = number == len(parts)
        result = sink.load_part(staging, [ALL_TYPES], WS, [D1, D2], tagged(records), last=lambda last=last: last)
        assert sum(result[ALL_TYPES.name].inserted.values()) == len(records)
        if not last:
            assert db.read(ALL_TYPES) == expected(previous_records), f"after part {number}"
            names = stage_tables(backend)
            assert len(names) == 1 and all(len(n) <= 63 for n in names)
            assert staging.columns == {ALL_TYPES.name: {"seat_tier": ColumnType.TEXT} if number > 1 else {}}
    # Part 2's column reached the live table, though the last part did not bring it.
    loaded = [r for part in parts for r in part]
    want = expected([{"seat_tier": None, **r} for r in loaded], seat_tier=ColumnType.TEXT)
    assert db.read(ALL_TYPES, types={"seat_tier": ColumnType.TEXT}) == want
    assert not stage_tables(backend)


def test_a_first_part_drops_a_stale_stage_of_its_id(backend):
    sink = backend.sink()
    stale = Stage("feed01")
    sink.load_part(stale, [ALL_TYPES], WS, [D1], tagged([thing(D1, 0)]), last=lambda: False)
    assert stage_tables(backend)
    again = Stage("feed01")  # a retry or rerun of the same task: nothing staged as far as it knows
    sink.load_part(again, [ALL_TYPES], WS, [D1], tagged([thing(D1, 1)]), last=lambda: True)
    assert not stage_tables(backend)
    assert backend.read(ALL_TYPES) == expected([thing(D1, 1)])


def test_a_paused_part_that_read_nothing_stages_nothing(backend):
    sink = backend.sink()
    staging = Stage("e0")
    sink.load_part(staging, [ALL_TYPES], WS, [D1], [], last=lambda: False)
    assert staging.columns is None and not stage_tables(backend)


@pytest.mark.parametrize("bad", ["", "Upper", "with-dash", "x" * 17, 7])
def test_a_stage_id_outside_the_safe_pattern_is_refused(bad):
    with pytest.raises(ValueError, match="invalid stage id"):
        Stage(bad)
