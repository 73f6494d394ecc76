"""The columnar flatteners make exactly the rows the row flatteners make, on every shape of row.

For every dataset that has both (``Dataset.flatten_columns``), the same API
rows go through each; the records are compared after flattening (a batch
expanded into records), as multisets per table, then through staging (the
checks, deduplication, extra columns and counts every SQL load runs), rows
sorted. Inputs: the sandbox's rows of every route, the same rows drifted as
``Faults.extra_row_fields`` serves them, and hand-made hostile rows: nulls,
absent keys, unknown fields (scalars, objects, names that are not
identifiers or clash with a column), nested values that are not objects,
children that repeat a key or are not objects, values of the wrong type
(refused by staging, with the same error), bad ``start_time``\\ s, rows of
days outside the window. Compliance: sandbox events, repeated events, odd
content values, records without an id or a timestamp.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from codex_testing.sandbox import SandboxConfig, SandboxData
from codex_testing.sandbox.faults import add_row_fields

from airflow_provider_codex import _fast
from airflow_provider_codex.datasets import DATASETS
from airflow_provider_codex.load.loader import flattener
from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.sinks._staging import stage
from airflow_provider_codex.tables import ColumnValueError, ContentPolicy, FlattenContext, columnar, compliance
from airflow_provider_codex.tables.columnar import ColumnBatch

TODAY = date(2026, 3, 4)
DAYS = (TODAY - timedelta(days=1), TODAY)
LOADED_AT = datetime(2026, 3, 5, 1, 2, 3, tzinfo=UTC)
ANALYTICS = ("usage", "usage_workspace", "code_reviews", "code_review_responses")
DRIFT = {
    "usage": {"newScalar": 7, "new_object": {"a": [1]}, "totals.fooBar": 1.5, "clients.newCounter": 3},
    "usage_workspace": {"actor": "x", "models.speedTier": "fast", "totals.nested": [1, 2]},
    "code_reviews": {"comment_details.p3": 4, "Bad-Name": 1, "extra_json": "clash"},
    "code_review_responses": {"reaction_details": None, "comments": "many"},
}


def _unix(day: date, hour: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp())


def _hostile_usage(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of every odd shape, built from one real row."""
    out = []

    def variant(**changes: Any) -> None:
        row = copy.deepcopy(template)
        for name, value in changes.items():
            if value is _ABSENT:
                row.pop(name, None)
            else:
                row[name] = value
        out.append(row)

    client = (template.get("clients") or [{"client_id": "CODEX_CLI", "threads": 1}])[0]
    model = (template.get("models") or [{"model": "gpt-5", "speed": "standard", "credits": 1.0}])[0]
    variant(user_id=None)
    variant(user_id=_ABSENT)
    variant(user_id=17, totals=None, code_attribution=_ABSENT)
    variant(user_id="u-odd", totals={"threads": None, "turns": "three", "credits": True})
    variant(user_id="u-nan", totals={"credits": math.nan, "cost_usd": 10**30})
    variant(user_id="u-list", totals=[1, 2], actor={"email": 5, "type": {"x": 1}})
    variant(user_id="u-dup", clients=[client, {**client, "threads": 5}, "not-an-object"], models=[model, model])
    variant(user_id="u-mixed", clients=[client, {"client_id": None}, {"client_id": ""}], models="nope")
    variant(user_id="u-empty", clients=[], models=None)
    variant(user_id="u-child", clients=[7], models=[{**model, "weird field": 1, "nested": {"a": 1}}])
    variant(user_id="u-keytype", clients=[{**client, "client_id": 1}, {**client, "client_id": "1"}])
    variant(user_id="u-late", start_time=_unix(TODAY + timedelta(days=3)))
    variant(user_id="u-early", start_time=_unix(DAYS[0] - timedelta(days=1), 5))
    variant(user_id="u-float", start_time=float(_unix(TODAY, 7)) + 0.5)
    return out


_ABSENT = object()


@pytest.fixture(scope="module")
def data() -> SandboxData:
    return SandboxData(SandboxConfig(seed=11, users=40, today=TODAY + timedelta(days=1)))


def _analytics_rows(data: SandboxData, route: str) -> list[dict[str, Any]]:
    rows = [r for day in DAYS for r in data.analytics_rows(route, day)]
    drifted = [add_row_fields(copy.deepcopy(r), DRIFT[route]) for r in rows[::3]]
    return rows + drifted + (_hostile_usage(rows[0]) if rows else [])


def _events(data: SandboxData) -> list[dict[str, Any]]:
    events = [e for day in DAYS for kind in ("CODEX_LOG", "CODEX_SECURITY_LOG") for e in data.events(kind, day)]
    odd = copy.deepcopy(events[:6])
    odd[0]["prompt_text"] = {"nested": ["text", 1]}
    odd[1]["tool_input"] = None
    odd[2]["event_details"] = "not-an-object"
    odd[3]["timestamp"] = _unix(TODAY, 3)
    odd[4]["unknown"] = {"prompt_text": "deep"}
    odd[5]["timestamp"] = "2026-01-01T00:00:00Z"  # outside the window: counted, not loaded
    for i, event in enumerate(odd):
        event["event_id"] = f"odd-{i}"
    return events + odd + events[::7]  # every 7th again: at-least-once delivery


def _ctx() -> FlattenContext:
    return FlattenContext("ws-1", LOADED_AT, days=DAYS, content_policy=ContentPolicy(salt="pepper"))


def _records(items: list[Any], names: dict[str, tuple[str, ...]]) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every record, a batch expanded, as a multiset of (table, sorted (column, repr(value)))."""
    out: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for table, item in items:
        for record in item.records(names[table]) if isinstance(item, ColumnBatch) else [item]:
            out[(table, tuple(sorted((k, repr(v)) for k, v in record.items())))] += 1
    return out


def _both(name: str, rows: list[dict[str, Any]]) -> tuple[Any, Any]:
    dataset = DATASETS[name]
    assert dataset.flatten_columns is not None
    results = []
    for flatten in (dataset.flatten, dataset.flatten_columns):
        ctx = _ctx()
        try:
            items = list(flatten(iter(rows), ctx))
        except ValueError as error:
            results.append(("error", type(error), str(error)))
            continue
        results.append((items, dict(ctx.outside)))
    return results[0], results[1]


def _staged(name: str, items: list[Any]) -> Any:
    dataset = DATASETS[name]
    try:
        with stage(dataset.tables, "ws-1", DAYS, iter(items), buffer_rows=500) as tables:
            return [
                (
                    t.columns,
                    dict(t.inserted),
                    t.duplicates,
                    sorted(repr(r) for d in t.days for b in t.rows(d) for r in b),
                )
                for t in tables
            ]
    except ValueError as error:
        return type(error), str(error)


@pytest.mark.parametrize("name", [*ANALYTICS, "compliance_events"])
def test_both_flatteners_make_the_same_records_and_staged_rows(data, name):
    rows = _events(data) if name == "compliance_events" else _analytics_rows(data, name)
    assert len(rows) > 10
    by_rows, by_columns = _both(name, rows)
    names = {t.name: t.column_names for t in DATASETS[name].tables}
    (row_items, row_outside), (column_items, column_outside) = by_rows, by_columns
    assert any(isinstance(item, ColumnBatch) for _, item in column_items)
    assert _records(column_items, names) == _records(row_items, names)
    assert column_outside == row_outside and sum(row_outside.values()) > 0
    staged, staged_columns = _staged(name, row_items), _staged(name, column_items)
    if isinstance(staged, tuple):  # several hostile rows hold values no column takes: each path refuses one
        for refused in (staged, staged_columns):
            assert isinstance(refused, tuple) and refused[0] is ColumnValueError
            assert refused[1].startswith(tuple(names)) and "does not fit the column's type" in refused[1]
    else:
        assert sum(sum(t[1].values()) for t in staged) > 0
        assert staged_columns == staged


@pytest.mark.parametrize(("column", "value"), [("turns", "three"), ("credits", math.nan), ("threads", 2**64)])
def test_one_wrong_type_is_refused_alike_before_anything_is_written(data, column, value):
    rows = [r for r in _analytics_rows(data, "usage")[:80] if not str(r.get("user_id", "")).startswith("u-")]
    rows[60] = copy.deepcopy(rows[60])
    rows[60]["totals"] = {**(rows[60].get("totals") or {}), column: value}
    (row_items, _), (column_items, _) = _both("usage", rows)
    refused = _staged("usage", row_items)
    assert refused[0] is ColumnValueError and f"codex_usage_user_daily.{column}:" in refused[1]
    assert repr(rows[60]["user_id"]) in refused[1]
    assert _staged("usage", column_items) == refused


@pytest.mark.parametrize("name", ANALYTICS)
def test_both_paths_stage_the_same_rows_once_the_values_fit(data, name):
    """Drift and odd shapes without misfits: every table staged alike, new columns included."""
    misfits = ("u-odd", "u-nan", "u-list")
    fitting = [r for r in _analytics_rows(data, name) if not str(r.get("user_id", "")).startswith(misfits)]
    if name == "code_review_responses":
        fitting = [r for r in fitting if not isinstance(r.get("comments"), str)]
    (row_items, _), (column_items, _) = _both(name, fitting)
    staged = _staged(name, row_items)
    assert isinstance(staged, list), staged
    assert _staged(name, column_items) == staged
    if name == "usage":
        assert any(len(t[0]) > len(DATASETS[name].tables[0].columns) for t in staged[:1])  # extra columns


@pytest.mark.parametrize(
    ("bad", "message"),
    [({"start_time": "yesterday"}, "start_time"), ({"start_time": math.inf}, "start_time")],
)
def test_a_row_that_cannot_be_placed_fails_alike(data, bad, message):
    rows = _analytics_rows(data, "usage")[:50]
    rows[30] = {**rows[30], **bad}
    by_rows, by_columns = _both("usage", rows)
    assert by_rows[0] == "error" and message in by_rows[2]
    assert by_columns == by_rows


@pytest.mark.parametrize("broken", [{"event_id": None}, {"timestamp": "garbage"}, {"timestamp": None}])
def test_a_compliance_record_that_cannot_be_placed_fails_alike(data, broken):
    events = _events(data)[:40]
    events[25] = {**events[25], **broken}
    by_rows, by_columns = _both("compliance_events", events)
    assert by_rows[0] == "error" and by_columns == by_rows


def test_the_loader_picks_columns_only_for_a_sink_that_takes_them_with_the_fast_paths_on(monkeypatch):
    usage = DATASETS["usage"]
    sql = SqlSink(object(), dialect="sqlite")

    class RowsOnly(SqlSink):
        takes_columns = False

    assert flattener(usage, sql) is usage.flatten_columns
    assert flattener(usage, RowsOnly(object(), dialect="sqlite")) is usage.flatten
    assert flattener(DATASETS["codex_tasks"], sql) is DATASETS["codex_tasks"].flatten
    monkeypatch.setattr(_fast, "ENABLED", False)
    assert flattener(usage, sql) is usage.flatten
    assert columnar.pick(usage.flatten, None) is usage.flatten


@pytest.mark.parametrize(
    "policy",
    [
        ContentPolicy(salt="pepper"),
        ContentPolicy(salt="pepper", prompt_text="keep", tool_input="drop"),
        ContentPolicy(prompt_text="keep", response_text="keep", tool_input="keep"),
    ],
)
def test_redacting_through_the_json_text_equals_the_walk(data, policy):
    """Content at the top, nested, in lists, under keys that only look like it, values of every kind."""
    events = _events(data)[:30]
    odd: list[dict[str, Any]] = [
        {"prompt_text": "a", "x": {"prompt_text": "nested"}},
        {"x": [{"tool_input": {"k": [1, 2]}}, 3], "response_text": None},
        {'a"prompt_text': 1, "b": 'says "prompt_text": no'},
        {"prompt_text": 10**30},
        {"prompt_text": ["t", {"response_text": "deeper"}]},
        {"tool_input": True, "response_text": 1.5, "prompt_text": ""},
        {},
    ]
    for record in events + odd:
        want = compliance.redact_walking(policy, record)
        got = compliance.redact_dumped(policy, record)
        assert got == want and (got[0] is record) == (want[0] is record), record


def test_deduplication_of_column_batches_on_disk_keeps_the_same_records():
    """A batch's keys go to the on-disk key set in a few statements: the same first copies win as one by one."""
    day = DAYS[0]
    spec = DATASETS["compliance_events"].tables[0]
    ids = [f"e{i - 3 if i % 7 == 0 and i > 3 else i}" for i in range(3000)] + ["e5", "e5", "x", "x"]
    records = [{**dict.fromkeys(spec.column_names), "workspace_id": "ws-1", "event_id": e, "day": day} for e in ids]
    for r, n in zip(records, range(len(records)), strict=True):
        r["input_tokens"] = n
    batches = [
        (spec.name, ColumnBatch(tuple([r[c] for r in records[i : i + 700]] for c in spec.column_names)))
        for i in range(0, len(records), 700)
    ]
    results = []
    for items, memory_keys in (([(spec.name, r) for r in records], 10**9), (batches, 10**9), (batches, 50)):
        with stage([spec], "ws-1", (day,), iter(items), memory_keys=memory_keys) as tables:
            results.append(
                (
                    tables[0].duplicates,
                    sorted(r[0]["input_tokens"] for r in [[x] for b in tables[0].records(day) for x in b]),
                )
            )
    assert results[0] == results[1] == results[2] and results[0][0] > 400
