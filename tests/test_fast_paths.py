"""The provider's fast and lean paths (bench-driven work) do exactly what the plain code does.

``Shape.fill`` runs code compiled per shape; ``fill_slow`` is the reference
loop. Both must give the same records, key order included, on the sandbox's
rows and on rows carrying fields the shapes do not know (schema drift).
Deduplication keys that move to disk past ``memory_keys`` drop the same
records as keys held in memory.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import pytest
from codex_testing.sandbox import SandboxConfig, SandboxData

from airflow_provider_codex.sinks._staging import stage
from airflow_provider_codex.tables import CODEX_TASKS, COMPLIANCE_EVENTS, FlattenContext
from airflow_provider_codex.tables import analytics as analytics_tables
from airflow_provider_codex.tables._rows import Shape

TODAY = date(2026, 3, 4)


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
        for row in rows:
            objects = [row, *(x for x in (row.get("clients") or []) + (row.get("models") or []) if isinstance(x, dict))]
            for obj in objects:
                base = {"workspace_id": "ws", "day": TODAY}
                fast = shape.fill(dict(base), obj)
                slow = shape.fill_slow(dict(base), obj)
                assert fast == slow
                assert list(fast) == list(slow)


def test_usage_flatten_keeps_records_and_order(rows):
    ctx = FlattenContext(workspace_id="ws", loaded_at=datetime(2026, 3, 5, tzinfo=UTC))
    user_rows = [r for r in rows if r.get("user_id")]
    tagged = list(analytics_tables.flatten_usage_users(user_rows, ctx))
    expected = []
    grain = analytics_tables._USER
    for row in user_rows:
        base = {**ctx.base(TODAY), "user_id": row["user_id"]}
        expected.append((grain.daily.spec.name, grain.daily.fill_slow(dict(base), row)))
        for shape, items, counters in (
            (grain.clients, row.get("clients"), analytics_tables._CLIENT_COUNTERS),
            (grain.models, row.get("models"), analytics_tables._MODEL_COUNTERS),
        ):
            by_key: dict = {}
            for item in items or []:
                record = shape.fill_slow(dict(base), item)
                key = tuple(record[c] for c in shape.key_columns)
                if key in by_key:
                    analytics_tables.merge_counters(by_key[key], record, counters)
                else:
                    by_key[key] = record
            expected += [(shape.spec.name, r) for r in by_key.values()]
    assert tagged == expected


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


def test_the_vectorized_type_check_finds_the_first_value_the_per_value_rule_refuses():
    """``first_misfit`` checks a batch's column in a few C-speed passes; ``fits`` is the rule, value by value."""
    import math
    import random

    from airflow_provider_codex.tables import ColumnType
    from airflow_provider_codex.tables.schema import INT64_MAX, INT64_MIN, first_misfit, fits

    moment = datetime(2026, 1, 1, tzinfo=UTC)
    numbers = [0, 1, -5, 0.0, 2.5, -1e300, 1e300, INT64_MAX, INT64_MIN, INT64_MAX + 1, INT64_MIN - 1, 10**400]
    others = [None, math.inf, -math.inf, math.nan, True, False, "", "x", "1", {"a": 1}, [1], TODAY, moment]
    pool = numbers + others
    rng = random.Random(5)
    for kind in ColumnType:
        for _ in range(300):
            values = rng.choices(pool, k=rng.randint(0, 12))
            expected = next((i for i, v in enumerate(values) if v is not None and not fits(kind, v)), None)
            assert first_misfit(kind, values) == expected, (kind, values)
