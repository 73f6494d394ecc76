"""Analytics rows -> daily tables, on rows written like the contract examples."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from table_examples import CODE_REVIEW_ROW, DAY_1, LOADED_AT, RESPONSE_ROW, START_1

from airflow_provider_codex.tables import (
    CODE_REVIEW_RESPONSES_DAILY,
    CODE_REVIEWS_DAILY,
    USAGE_USER_CLIENT_DAILY,
    USAGE_USER_DAILY,
    USAGE_USER_MODEL_DAILY,
    USAGE_WORKSPACE_CLIENT_DAILY,
    USAGE_WORKSPACE_DAILY,
    USAGE_WORKSPACE_MODEL_DAILY,
    FlattenContext,
    flatten_code_review_responses,
    flatten_code_reviews,
    flatten_usage_users,
    flatten_usage_workspace,
)
from airflow_provider_codex.tables.schema import ColumnValueError


def by_table(tagged):
    out: dict[str, list[dict]] = {}
    for name, record in tagged:
        out.setdefault(name, []).append(record)
    return out


def test_usage_row_fills_the_three_user_tables_field_by_field(usage_row, ctx):
    tables = by_table(flatten_usage_users([usage_row], ctx))
    assert set(tables) == {USAGE_USER_DAILY.name, USAGE_USER_CLIENT_DAILY.name, USAGE_USER_MODEL_DAILY.name}
    base = {"workspace_id": "ws-1", "day": DAY_1, "loaded_at": LOADED_AT, "user_id": "user-abc", "extra_json": None}
    assert tables[USAGE_USER_DAILY.name] == [
        {
            **base,
            "email": "a@example.com",
            "actor_type": "ACCOUNT_USER",
            "threads": 3,
            "turns": 20,
            "credits": 12.5,
            "cost_usd": 0.0,
            "estimated_cost_usd": 0.5,
            "lines_added": 120,
            "lines_removed": 4,
        }
    ]
    assert tables[USAGE_USER_CLIENT_DAILY.name] == [
        {
            **base,
            "client_id": "CODEX_CLI",
            "threads": 2,
            "turns": 15,
            "credits": 10.0,
            "uncached_text_input_tokens": 1200,
            "cached_text_input_tokens": 800,
            "text_output_tokens": 300,
            "text_total_tokens": 2300,
        }
    ]
    assert tables[USAGE_USER_MODEL_DAILY.name] == [
        {**base, "model": "gpt-5.2-codex", "speed": "standard", "credits": 10.0}
    ]
    specs = {s.name: s for s in (USAGE_USER_DAILY, USAGE_USER_CLIENT_DAILY, USAGE_USER_MODEL_DAILY)}
    for name, records in tables.items():
        assert set(records[0]) == set(specs[name].column_names), name  # every column, nothing else


def test_every_record_key_is_a_spec_column(usage_row, ctx):
    specs = {s.name: s for s in (USAGE_USER_DAILY, USAGE_USER_CLIENT_DAILY, USAGE_USER_MODEL_DAILY)}
    for name, record in flatten_usage_users([usage_row], ctx):
        assert set(record) <= set(specs[name].column_names)
        assert all(record[k] for k in specs[name].key)


def test_nulls_stay_null_and_absent_lists_give_no_rows(usage_row, ctx):
    usage_row["actor"]["email"] = None
    usage_row["models"] = None
    del usage_row["code_attribution"]
    usage_row["totals"]["cost_usd"] = None
    usage_row["clients"][0]["cached_text_input_tokens"] = None
    usage_row["clients"][0]["text_total_tokens"] = None
    tables = by_table(flatten_usage_users([usage_row], ctx))
    daily = tables[USAGE_USER_DAILY.name][0]
    assert daily["email"] is None
    assert daily["cost_usd"] is None  # unavailable, not zero
    assert daily.get("lines_added") is None and daily.get("lines_removed") is None
    client = tables[USAGE_USER_CLIENT_DAILY.name][0]
    assert client["cached_text_input_tokens"] is None and client["text_total_tokens"] is None
    assert client["uncached_text_input_tokens"] == 1200
    assert USAGE_USER_MODEL_DAILY.name not in tables

    del usage_row["models"]
    usage_row["clients"] = []
    tables = by_table(flatten_usage_users([usage_row], ctx))
    assert set(tables) == {USAGE_USER_DAILY.name}


def test_unknown_enum_values_are_kept(usage_row, ctx):
    usage_row["clients"][0]["client_id"] = "CODEX_SOMETHING_NEW"
    usage_row["models"][0]["model"] = "other"
    usage_row["models"][0]["speed"] = "warp"
    tables = by_table(flatten_usage_users([usage_row], ctx))
    assert tables[USAGE_USER_CLIENT_DAILY.name][0]["client_id"] == "CODEX_SOMETHING_NEW"
    model = tables[USAGE_USER_MODEL_DAILY.name][0]
    assert (model["model"], model["speed"]) == ("other", "warp")


def test_entries_with_one_key_are_added_up_with_null_semantics(usage_row, ctx):
    usage_row["clients"] = [
        {"client_id": "CODEX_UNKNOWN_DEFAULT", "threads": 1, "turns": None, "credits": 1.5},
        {"client_id": "CODEX_UNKNOWN_DEFAULT", "threads": 2, "turns": None, "credits": None},
        {"client_id": "CODEX_WEB", "threads": 4},
    ]
    usage_row["models"] = [
        {"model": "other", "speed": "standard", "credits": 1.0},
        {"model": "other", "speed": "standard", "credits": 2.0},
        {"model": None, "credits": 0.5},
    ]
    tables = by_table(flatten_usage_users([usage_row], ctx))
    clients = {r["client_id"]: r for r in tables[USAGE_USER_CLIENT_DAILY.name]}
    assert clients["CODEX_UNKNOWN_DEFAULT"]["threads"] == 3
    assert clients["CODEX_UNKNOWN_DEFAULT"]["turns"] is None
    assert clients["CODEX_UNKNOWN_DEFAULT"]["credits"] == 1.5
    assert clients["CODEX_WEB"]["threads"] == 4
    models = {(r["model"], r["speed"]): r["credits"] for r in tables[USAGE_USER_MODEL_DAILY.name]}
    # a missing key part becomes "" (SQL keys cannot be null); the credits stay as given
    assert models == {("other", "standard"): 3.0, ("", ""): 0.5}


def test_unknown_extra_fields_are_kept(usage_row, ctx):
    usage_row["newScalar"] = "x"  # top-level scalar -> its own column
    usage_row["totals"]["reasoningTokens"] = 42  # nested scalar -> prefixed column
    usage_row["breakdown"] = {"a": [1, 2]}  # non-scalar -> extra_json
    usage_row["credits"] = 99  # clashes with a known column -> extra_json
    usage_row["bad name!"] = 1  # snake-cases to a valid name
    usage_row["9lives"] = 9  # not a valid column name -> extra_json
    usage_row["clients"][0]["newClientCounter"] = 5
    daily = by_table(flatten_usage_users([usage_row], ctx))[USAGE_USER_DAILY.name][0]
    assert daily["new_scalar"] == "x"
    assert daily["totals_reasoning_tokens"] == 42
    assert daily["bad_name"] == 1
    assert daily["credits"] == 12.5
    assert json.loads(daily["extra_json"]) == {"breakdown": {"a": [1, 2]}, "credits": 99, "9lives": 9}
    client = by_table(flatten_usage_users([usage_row], ctx))[USAGE_USER_CLIENT_DAILY.name][0]
    assert client["new_client_counter"] == 5


def test_a_missing_container_still_gives_every_column(usage_row, ctx):
    del usage_row["totals"]
    usage_row["code_attribution"] = None
    usage_row["actor"] = ["not", "an", "object"]
    daily = by_table(flatten_usage_users([usage_row], ctx))[USAGE_USER_DAILY.name][0]
    assert set(daily) == set(USAGE_USER_DAILY.column_names)
    for column in ("email", "actor_type", "threads", "credits", "cost_usd", "lines_added", "lines_removed"):
        assert daily[column] is None, column
    assert json.loads(daily["extra_json"]) == {"actor": ["not", "an", "object"]}
    assert daily["user_id"] == "user-abc"


def test_user_id_falls_back_to_actor(usage_row, ctx):
    usage_row["user_id"] = None
    daily = by_table(flatten_usage_users([usage_row], ctx))[USAGE_USER_DAILY.name][0]
    assert daily["user_id"] == "user-abc"


def test_workspace_rows_fill_the_workspace_tables(usage_row, ctx):
    usage_row["user_id"] = None
    usage_row["actor"] = None
    tables = by_table(flatten_usage_workspace([usage_row], ctx))
    assert set(tables) == {
        USAGE_WORKSPACE_DAILY.name,
        USAGE_WORKSPACE_CLIENT_DAILY.name,
        USAGE_WORKSPACE_MODEL_DAILY.name,
    }
    daily = tables[USAGE_WORKSPACE_DAILY.name][0]
    assert "user_id" not in daily and "email" not in daily  # no such columns in the workspace tables
    assert set(daily) == set(USAGE_WORKSPACE_DAILY.column_names)
    assert daily["extra_json"] is None
    assert daily["credits"] == 12.5 and daily["lines_added"] == 120
    assert USAGE_WORKSPACE_DAILY.key == ("workspace_id", "day")
    assert USAGE_WORKSPACE_CLIENT_DAILY.key == ("workspace_id", "day", "client_id")
    assert USAGE_WORKSPACE_MODEL_DAILY.key == ("workspace_id", "day", "model", "speed")
    assert "user_id" not in USAGE_WORKSPACE_DAILY.column_names


def test_day_is_the_utc_day_of_start_time(usage_row):
    ctx = FlattenContext("ws-1", datetime(2025, 11, 5, 8, tzinfo=timezone(timedelta(hours=2))))
    assert ctx.loaded_at == datetime(2025, 11, 5, 6, tzinfo=UTC)
    second = dict(usage_row, start_time=START_1 + 86400)
    days = [r["day"] for n, r in flatten_usage_users([usage_row, second], ctx) if n == USAGE_USER_DAILY.name]
    assert days == [DAY_1, date(2025, 11, 2)]
    only_second = FlattenContext("ws-1", LOADED_AT, days=frozenset({date(2025, 11, 2)}))
    kept = [r["day"] for _, r in flatten_usage_users([usage_row, second], only_second)]
    assert set(kept) == {date(2025, 11, 2)}


def test_row_without_start_time_is_refused(usage_row, ctx):
    del usage_row["start_time"]
    with pytest.raises(ValueError, match="start_time"):
        list(flatten_usage_users([usage_row], ctx))


@pytest.mark.parametrize("start", [1e20, -1e20, float("nan"), float("inf"), 10**30, "2025-11-01", True, {"t": 1}])
def test_a_start_time_no_destination_can_store_is_a_contract_error(usage_row, ctx, start):
    """On 13677ea 1e20 raised a raw ValueError/OverflowError from datetime (retried as any error)."""
    usage_row["start_time"] = start
    with pytest.raises(ColumnValueError, match=r"an analytics row's start_time: .*, expected a Unix time between"):
        list(flatten_usage_users([usage_row], ctx))


def test_entries_with_one_key_whose_counter_is_not_a_number_keep_it_for_staging_to_refuse(usage_row, ctx):
    """An object where a number belongs, in an entry that is added up: on 13677ea a raw TypeError."""
    usage_row["clients"] = [
        {"client_id": "CODEX_CLI", "threads": 1, "turns": {"n": 2}},
        {"client_id": "CODEX_CLI", "threads": {"n": 1}, "turns": 3},
        {"client_id": "CODEX_CLI", "threads": 5, "turns": 4},
    ]
    (client,) = by_table(flatten_usage_users([usage_row], ctx))[USAGE_USER_CLIENT_DAILY.name]
    assert client["threads"] == {"n": 1} and client["turns"] == {"n": 2}


def test_context_refuses_naive_loaded_at_and_empty_workspace():
    with pytest.raises(ValueError, match="timezone"):
        FlattenContext("ws-1", datetime(2025, 11, 5))
    with pytest.raises(ValueError, match="workspace_id"):
        FlattenContext("", LOADED_AT)


def test_code_reviews(ctx):
    [(name, record)] = list(flatten_code_reviews([CODE_REVIEW_ROW], ctx))
    assert name == CODE_REVIEWS_DAILY.name
    assert record == {
        "workspace_id": "ws-1",
        "day": DAY_1,
        "loaded_at": LOADED_AT,
        "pull_request_reviews": 7,
        "comments": 11,
        "p0": 1,
        "p1": 4,
        "p2": 6,
        "extra_json": None,
    }
    assert CODE_REVIEWS_DAILY.key == ("workspace_id", "day")


def test_code_review_responses_flatten_all_counters(ctx):
    [(name, record)] = list(flatten_code_review_responses([RESPONSE_ROW], ctx))
    assert name == CODE_REVIEW_RESPONSES_DAILY.name
    expected = {
        "pull_request_reviews": 5,
        "comments": 9,
        "replies": 3,
        "reactions": 6,
        "upvotes": 4,
        "downvotes": 1,
        "other_reactions": 1,
        "engaged": 7,
        "reacted": 5,
        "upvoted": 4,
        "downvoted": 1,
        "reacted_other": 1,
        "replied": 3,
    }
    assert {k: record[k] for k in expected} == expected
    assert record["extra_json"] is None
    assert set(record) == set(CODE_REVIEW_RESPONSES_DAILY.column_names)


def test_code_review_row_with_null_details(ctx):
    row = dict(CODE_REVIEW_ROW, comment_details=None, comments=None)
    [(_, record)] = list(flatten_code_reviews([row], ctx))
    assert record["comments"] is None and record.get("p0") is None


def test_flattening_is_fast_enough(usage_row, ctx):
    import time

    rows = [usage_row] * 20_000
    started = time.perf_counter()
    count = sum(1 for _ in flatten_usage_users(rows, ctx))
    assert count == 60_000
    assert time.perf_counter() - started < 5  # ~0.3 s on a laptop; generous for CI
