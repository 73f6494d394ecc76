"""The provider's fast and lean paths (bench-driven work) do exactly what the plain reference code does.

Every fast path lives in :mod:`airflow_provider_codex._fast`, chosen by one
switch (``_fast.ENABLED``, from ``CODEX_FAST_PATHS``) where a shape, a stager
or a bulk write is built. Each test here builds the same thing twice through
that switch, once on and once off, checks that the switch did pick the fast
side and the reference side, and compares what the two give on the same
inputs: the sandbox's rows, rows carrying fields the shapes do not know
(schema drift), records lacking columns, values that do not fit their column.
Deduplication keys that move to disk past ``memory_keys`` drop the same
records as keys held in memory.
"""

from __future__ import annotations

import copy
import math
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import pytest
from codex_testing.sandbox import SandboxConfig, SandboxData

from airflow_provider_codex import _fast
from airflow_provider_codex._fast import adapters as fast_adapters
from airflow_provider_codex._fast import checks as fast_checks
from airflow_provider_codex.sinks import _staging
from airflow_provider_codex.sinks._staging import stage
from airflow_provider_codex.sinks.sql import SqlSink
from airflow_provider_codex.sinks.sql_dialects import POSTGRES, SQLITE, adapt_rows
from airflow_provider_codex.tables import CODEX_TASKS, COMPLIANCE_EVENTS, ColumnType, ColumnValueError, FlattenContext
from airflow_provider_codex.tables import analytics as analytics_tables
from airflow_provider_codex.tables._rows import Field, Shape, daily_spec
from airflow_provider_codex.tables.schema import INT64_MAX, INT64_MIN, fits

TODAY = date(2026, 3, 4)
T = TypeVar("T")


@contextmanager
def switch(enabled: bool) -> Iterator[None]:
    """The fast paths on or off for what is built inside the block (the switch is read at build time)."""
    saved = _fast.ENABLED
    _fast.ENABLED = enabled
    try:
        yield
    finally:
        _fast.ENABLED = saved


def both(build: Callable[[], T]) -> tuple[T, T]:
    """``build()`` with the fast paths on, then off."""
    with switch(True):
        fast = build()
    with switch(False):
        reference = build()
    return fast, reference


def test_the_switch_defaults_to_fast_and_reads_the_environment():
    """Read once, at import: unset or anything but ``0`` runs the fast paths (the suite may run under either)."""
    code = "from airflow_provider_codex import _fast; from airflow_provider_codex.tables import analytics as a; " + (
        "print(_fast.ENABLED, a._CODE_REVIEWS.fill == a._CODE_REVIEWS.fill_reference)"
    )
    for value, expected in (
        ("0", "False True"),
        (" 0 ", "False True"),
        ("1", "True False"),
        ("", "True False"),
        (None, "True False"),
    ):
        env = {k: v for k, v in os.environ.items() if k != "CODEX_FAST_PATHS"}
        if value is not None:
            env["CODEX_FAST_PATHS"] = value
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.split() == expected.split(), value


def _shapes() -> list[Shape]:
    shapes = [value for value in vars(analytics_tables).values() if isinstance(value, Shape)]
    for grain in (analytics_tables._USER, analytics_tables._WORKSPACE):
        shapes += [grain.daily, grain.clients, grain.models]
    return shapes


def _drifted(row: dict) -> dict:
    row = copy.deepcopy(row)
    row["newScalar"] = 7
    row["new_object"] = {"a": 1}
    row["totals"] = {**(row.get("totals") or {}), "fooBar": 1.5, "nested": [1]}
    row["actor"] = "not-an-object"
    for client in row.get("clients") or ():
        client["newCounter"] = 3
    return row


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    data = SandboxData(SandboxConfig(seed=3, users=60, today=TODAY))
    out = []
    for route in ("usage", "usage_workspace", "code_reviews", "code_review_responses"):
        out += data.analytics_rows(route, TODAY)
    return out + [_drifted(r) for r in out]


def test_compiled_fill_equals_the_reference_loop(rows):
    for shape in _shapes():
        fast, reference = both(lambda s=shape: Shape(s.spec, s.fields, s.ignored))
        assert fast.fill != fast.fill_reference and reference.fill == reference.fill_reference
        for row in rows:
            objects = [row, *(x for x in (row.get("clients") or []) + (row.get("models") or []) if isinstance(x, dict))]
            for obj in objects:
                base = {"workspace_id": "ws", "day": TODAY}
                got = fast.fill(dict(base), obj)
                want = reference.fill(dict(base), obj)
                assert got == want
                assert list(got) == list(want)


def test_compiled_fill_equals_the_reference_loop_on_nested_keys_and_odd_containers():
    """A shape the analytics tables do not have: a key part one object down, an ignored nested field."""
    fields = (Field("a", ColumnType.TEXT, ("a",)), Field("k", ColumnType.TEXT, ("box", "k"), key=True))
    fields += (Field("n", ColumnType.INTEGER, ("box", "n")),)
    spec = daily_spec("odd_shapes", fields, "")
    objects = [{}, {"a": 1}, {"box": None}, {"box": 3}, {"box": [1]}, {"box": {}}, {"box": {"k": 2, "n": 1}}]
    objects += [
        {"box": {"k": None, "skip": 1, "newOne": 2, "deep": {"x": 1}}, "a": "x", "extra_json": 1, "Bad-Name": 2}
    ]
    fast, reference = both(lambda: Shape(spec, fields, ("box.skip",)))
    for obj in objects:
        got, want = fast.fill({"day": TODAY}, obj), reference.fill({"day": TODAY}, obj)
        assert (got, list(got)) == (want, list(want)), obj


def test_usage_flatten_keeps_records_and_order(rows):
    ctx = FlattenContext(workspace_id="ws", loaded_at=datetime(2026, 3, 5, tzinfo=UTC))
    user_rows = [r for r in rows if r.get("user_id")]
    expected = []
    grain = analytics_tables._USER
    for row in user_rows:
        base = {**ctx.base(TODAY), "user_id": row["user_id"]}
        expected.append((grain.daily.spec.name, grain.daily.fill_reference(dict(base), row)))
        for shape, items, counters in (
            (grain.clients, row.get("clients"), analytics_tables._CLIENT_COUNTERS),
            (grain.models, row.get("models"), analytics_tables._MODEL_COUNTERS),
        ):
            by_key: dict = {}
            for item in items or []:
                record = shape.fill_reference(dict(base), item)
                key = tuple(record[c] for c in shape.key_columns)
                if key in by_key:
                    analytics_tables.merge_counters(by_key[key], record, counters)
                else:
                    by_key[key] = record
            expected += [(shape.spec.name, r) for r in by_key.values()]
    assert list(analytics_tables.flatten_usage_users(user_rows, ctx)) == expected
    fast, reference = both(lambda: analytics_tables._UsageGrain.build("user", per_user=True))
    assert list(fast.flatten(user_rows, ctx)) == list(reference.flatten(user_rows, ctx)) == expected


def _events(n: int) -> list:
    day = date(2026, 1, 1)
    out = []
    for i in range(n):
        j = i - 3 if i % 7 == 0 and i > 3 else i  # every 7th event repeats an earlier one
        out.append((COMPLIANCE_EVENTS.name, {"workspace_id": "ws", "event_id": f"e{j}", "day": day, "n": i}))
    return out


def _staged(memory_keys: int, tagged: list) -> tuple:
    day = date(2026, 1, 1)
    with stage([COMPLIANCE_EVENTS], "ws", (day,), iter(tagged), memory_keys=memory_keys) as tables:
        table = tables[0]
        return table.duplicates, dict(table.inserted), [r for batch in table.records(day) for r in batch]


def test_deduplication_on_disk_keeps_the_same_records():
    tagged = _events(2000)
    assert _staged(10**9, tagged) == _staged(50, tagged) == _staged(1, tagged)


def test_deduplication_on_disk_of_snapshot_keys():
    day = date(2026, 1, 1)
    ids = ["a", "b", "a", "1:a", "s1:a", "", "", "b"]
    tagged = [(CODEX_TASKS.name, {"workspace_id": "ws", "snapshot_day": day, "id": x}) for x in ids]
    with stage([CODEX_TASKS], "ws", (day,), iter(tagged), memory_keys=1) as tables:
        assert tables[0].duplicates == 3


def _stage_all(tagged: list, specs: tuple) -> Any:
    """Everything staging makes of ``tagged``: per table its columns, counts and rows, or the error."""
    try:
        with stage(specs, "ws", (TODAY,), iter(tagged), buffer_rows=7) as tables:
            return [(t.columns, dict(t.inserted), [list(b) for b in t.rows(TODAY)]) for t in tables]
    except ColumnValueError as error:
        return str(error)


def test_staged_rows_are_the_same_through_either_row_reader(rows):
    specs = analytics_tables.USAGE_USER_TABLES
    ctx = FlattenContext(workspace_id="ws", loaded_at=datetime(2026, 3, 5, tzinfo=UTC))
    tagged = list(analytics_tables.flatten_usage_users([r for r in rows if r.get("user_id")], ctx))
    assert len(tagged) > 100
    lacking = [(name, {k: v for k, v in record.items() if k != "email"}) for name, record in tagged[::5]]
    drifted = [
        (name, {**record, "late_field": i, "late_text": "x" if i % 3 else i})
        for i, (name, record) in enumerate(tagged[::3])
    ]
    for records in (tagged, lacking + tagged, tagged + drifted + lacking):
        fast, reference = both(lambda r=records: _stage_all(r, specs))
        assert fast == reference and not isinstance(fast, str)
    readers = both(lambda: _staging._Stager(specs, "ws", (TODAY,), 10)._readers[specs[0].name])
    assert readers[0].__module__ == "airflow_provider_codex._fast.rows"
    assert readers[1].__module__ == _staging.__name__


@pytest.mark.parametrize("column", ["threads", "credits", "email"])
def test_a_misfit_is_refused_the_same_through_either_type_check(rows, column):
    specs = analytics_tables.USAGE_USER_TABLES
    ctx = FlattenContext(workspace_id="ws", loaded_at=datetime(2026, 3, 5, tzinfo=UTC))
    tagged = list(analytics_tables.flatten_usage_users([r for r in rows if r.get("user_id")], ctx))
    daily = [i for i, (name, _) in enumerate(tagged) if name == specs[0].name]
    bad = {"threads": 2**64, "credits": math.nan, "email": 5}[column]
    tagged[daily[-3]] = (specs[0].name, {**tagged[daily[-3]][1], column: bad})
    fast, reference = both(lambda: _stage_all(tagged, specs))
    assert isinstance(fast, str) and f".{column}:" in fast and fast == reference
    checks = both(lambda: _staging._Stager(specs, "ws", (TODAY,), 10)._first_misfit)
    assert checks[0] is fast_checks.first_misfit and checks[1] is not fast_checks.first_misfit


def test_the_vectorized_type_check_finds_the_first_value_the_per_value_rule_refuses():
    """The fast check takes a batch's column in a few C-speed passes; ``fits`` is the rule, value by value."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    numbers = [0, 1, -5, 0.0, 2.5, -1e300, 1e300, INT64_MAX, INT64_MIN, INT64_MAX + 1, INT64_MIN - 1, 10**400]
    others = [None, math.inf, -math.inf, math.nan, True, False, "", "x", "1", {"a": 1}, [1], TODAY, moment]
    pool = numbers + others
    rng = random.Random(5)
    checks = both(lambda: _staging._Stager([COMPLIANCE_EVENTS], "ws", (TODAY,), 10)._first_misfit)
    for kind in ColumnType:
        for _ in range(300):
            values = rng.choices(pool, k=rng.randint(0, 12))
            expected = next((i for i, v in enumerate(values) if v is not None and not fits(kind, v)), None)
            assert [check(kind, values) for check in checks] == [expected, expected], (kind, values)


def test_adapted_rows_are_the_same_through_either_adapter_loop():
    """Runs of the very same object (the fast side's shortcut) mixed with equal but distinct values and nulls."""
    day, moment = date(2026, 1, 1), datetime(2026, 1, 1, 12, tzinfo=UTC)
    shared = "a\x00b"
    batch = [
        (day, moment, shared, '{"k": "\\u0000"}', 1, True),
        (day, moment, shared, None, 1, False),
        (date(2026, 1, 1), datetime(2026, 1, 1, 12, tzinfo=UTC), "a\x00b", '"x"', True, None),
        (None, None, None, None, None, None),
        (date(2026, 1, 2), moment, "plain", '"\\\\u0000"', 0, True),
    ]
    kinds = (
        ColumnType.DATE,
        ColumnType.TIMESTAMP,
        ColumnType.TEXT,
        ColumnType.JSON,
        ColumnType.INTEGER,
        ColumnType.BOOLEAN,
    )
    for dialect in (POSTGRES, SQLITE):
        adapters = [(i, fn) for i, kind in enumerate(kinds) if (fn := dialect.adapters.get(kind)) is not None]
        adapters.append((4, repr))  # 1 and True are equal, not the same: repr tells them apart
        want = adapt_rows(batch * 3, adapters)
        assert fast_adapters.adapt_rows(batch * 3, adapters) == want
        sink = SqlSink(object(), dialect=dialect.name, batch_size=4)
        fast, reference = both(lambda s=sink, a=adapters: [list(b) for b in s._rows(iter([batch * 3]), a, "t")])
        assert fast == reference == [want[i : i + 4] for i in range(0, len(want), 4)]


def _typed_spec() -> Any:
    from airflow_provider_codex.tables import Column, TableSpec

    kinds = [("t", ColumnType.TEXT), ("i", ColumnType.INTEGER), ("f", ColumnType.FLOAT), ("b", ColumnType.BOOLEAN)]
    kinds += [("d", ColumnType.DATE), ("ts", ColumnType.TIMESTAMP), ("j", ColumnType.JSON)]
    columns = (Column("workspace_id", ColumnType.TEXT), Column("day", ColumnType.DATE), Column("k", ColumnType.TEXT))
    return TableSpec("typed_copy", (*columns, *(Column(n, k) for n, k in kinds)), key=("workspace_id", "day", "k"))


def _typed_records() -> list[dict]:
    moment = datetime(2026, 1, 1, 12, 30, 1, 123456, tzinfo=UTC)
    out = []
    for n in range(40):
        out.append(
            {
                "workspace_id": "ws",
                "day": TODAY,
                "k": f"k{n}",
                "t": ["plain", "a\x00b", "", None, "é\t\n\\"][n % 5],
                "i": [0, INT64_MAX, INT64_MIN, None][n % 4],
                "f": [0.1, 3, -1e300, None, 2**53 + 1][n % 5],
                "b": [True, False, None][n % 3],
                "d": [date(1000, 1, 1), None, date(9999, 12, 31)][n % 3],
                "ts": [moment, None][n % 2],
                "j": ['{"a":"\\u0000"}', '"x"', None, '[1,{"b":null}]'][n % 4],
                **({"late": n, "late_text": "x" if n % 3 else n} if n > 20 else {}),
            }
        )
    return out


def test_binary_copy_stores_what_the_text_copy_stores():
    """PostgreSQL (psycopg 3): the fast side copies binary, the reference side text; the tables read back alike."""
    from tests.sinks.sql_backends import make_backend

    spec = _typed_spec()
    read = []
    mp = pytest.MonkeyPatch()
    try:
        for enabled in (True, False):
            backend = make_backend("postgres", None, mp)
            try:
                with switch(enabled):
                    sink = backend.sink(batch_size=7)
                    sink.replace(spec, "ws", [TODAY], _typed_records())
                    sink.replace(spec, "ws", [TODAY], _typed_records())  # a replace of a loaded day too
                    with sink.hook.get_conn() as conn, conn.cursor() as cur:
                        columns = [(c.name, c.type) for c in spec.columns]
                        assert POSTGRES.copies_binary(cur, None, sink.table_name(spec), columns)
                read.append(backend.query(f'SELECT * FROM "{backend.prefix}{spec.name}" ORDER BY k'))
            finally:
                backend.drop_all()
    finally:
        mp.undo()
    assert read[0] == read[1] and len(read[0][1]) == 40
    assert "\ufffd" in str(read[0][1]) and "late_text" in read[0][0]


def test_binary_copy_gives_way_to_text_for_a_column_of_another_type():
    """A column typed otherwise than the dialect creates it (``json`` for JSONB) takes the text COPY."""
    from tests.sinks.sql_backends import make_backend

    spec = _typed_spec()
    mp = pytest.MonkeyPatch()
    backend = make_backend("postgres", None, mp)
    try:
        sink = backend.sink()
        sink.ensure_table(spec)
        backend.query_no_result(f'ALTER TABLE "{backend.prefix}{spec.name}" ALTER COLUMN j TYPE json')
        with sink.hook.get_conn() as conn, conn.cursor() as cur:
            columns = [(c.name, c.type) for c in spec.columns]
            assert not POSTGRES.copies_binary(cur, None, sink.table_name(spec), columns)
        records = [{k: v for k, v in r.items() if not k.startswith("late")} for r in _typed_records()]
        sink.replace(spec, "ws", [TODAY], records)
        assert backend.count(spec) == 40
    finally:
        backend.drop_all()
        mp.undo()
