"""Analytics routes over real HTTP: paging, the cursor, windows, workspace sums, data variety."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

from codex_testing.sandbox.analytics import is_quiet_day
from codex_testing.sandbox.clock import day_start
from sandbox_helpers import END, NOW, START, TODAY, collect, path

from airflow_provider_codex.api.endpoints import (
    CODE_REVIEW_RESPONSES,
    CODE_REVIEWS,
    LIMIT_PARAM,
    PAGING_RULES,
    USAGE,
    USAGE_WORKSPACE,
    Paging,
)

RULE = PAGING_RULES[Paging.NEXT_PAGE]
TOKENS = ("uncached_text_input_tokens", "cached_text_input_tokens", "text_output_tokens", "text_total_tokens")


def ts(day):
    return int(day_start(day).timestamp())


def days(first, count):
    return [first + timedelta(days=i) for i in range(count)]


def test_paging_a_multi_day_window_collects_exactly_the_served_rows(sandbox, analytics):
    window = days(TODAY - timedelta(days=8), 10)  # ends the day after today: no rows there
    rows, pages = collect(
        analytics,
        path(sandbox, USAGE),
        USAGE,
        {START: ts(window[0]), END: ts(window[-1] + timedelta(days=1)), LIMIT_PARAM: 37},
    )
    expected = [row for day in window for row in sandbox.data.usage_rows(day)]
    assert len(expected) > 37 * 3
    assert pages == -(-len(expected) // 37)
    assert rows == expected
    by_day = defaultdict(list)
    for row in rows:
        by_day[row["start_time"]].append(row["user_id"])
    assert sorted(by_day) == [ts(d) for d in window if sandbox.data.usage_rows(d)]
    assert ts(TODAY + timedelta(days=1)) not in by_day
    for users in by_day.values():
        assert users == sorted(users)
        assert len(users) == len(set(users))


def test_cursor_holds_plus_slash_and_equals_and_must_be_url_encoded(sandbox, analytics):
    url = path(sandbox, USAGE)
    params = {START: ts(TODAY - timedelta(days=3)), END: ts(TODAY), LIMIT_PARAM: 5}
    first = analytics.get(url, params=params).json()
    cursor = first[RULE.cursor_field]
    assert first[RULE.has_more_field] is True
    assert "+" in cursor
    assert "/" in cursor
    assert cursor.endswith("=")
    second = analytics.get(url, params={**params, RULE.cursor_param: cursor})
    assert second.status_code == 200
    assert second.json()[RULE.data_field] != first[RULE.data_field]
    assert (
        second.json()[RULE.data_field]
        == [r for d in days(TODAY - timedelta(days=3), 3) for r in sandbox.data.usage_rows(d)][5:10]
    )
    # Only the cursor is needed: it carries the window.
    alone = analytics.get(url, params={LIMIT_PARAM: 5, RULE.cursor_param: cursor})
    assert alone.json() == second.json()
    # Sent without URL-encoding, "+" arrives as a space: the cursor is refused.
    raw = analytics.get(f"{url}?{LIMIT_PARAM}=5&{RULE.cursor_param}={cursor}")
    assert raw.status_code == 422
    assert raw.json()["detail"][0]["loc"] == ["query", RULE.cursor_param]
    assert analytics.get(f"{url}?{LIMIT_PARAM}=5&{RULE.cursor_param}={quote(cursor, safe='')}").status_code == 200
    tampered = cursor[:-6] + ("A" if cursor[-6] != "A" else "B") + cursor[-5:]
    assert analytics.get(url, params={RULE.cursor_param: tampered}).status_code == 422
    other_route = analytics.get(path(sandbox, CODE_REVIEWS), params={RULE.cursor_param: cursor})
    assert other_route.status_code == 422
    conflicting = analytics.get(url, params={**params, START: ts(TODAY - timedelta(days=4)), RULE.cursor_param: cursor})
    assert conflicting.status_code == 422


def test_the_default_window_is_the_last_30_days_and_fits_one_request(sandbox, analytics):
    response = analytics.get(path(sandbox, USAGE), params={LIMIT_PARAM: USAGE.max_limit})
    body = response.json()
    expected = [r for d in days(TODAY - timedelta(days=29), 30) for r in sandbox.data.usage_rows(d)]
    assert body[RULE.has_more_field] is False
    assert body[RULE.cursor_field] is None
    assert body[RULE.data_field] == expected
    assert len({r["start_time"] for r in expected}) >= 25
    # Without a limit, the server's default page size applies, so a month needs more pages.
    default = analytics.get(path(sandbox, USAGE)).json()
    assert default[RULE.has_more_field] is (len(expected) > len(default[RULE.data_field]))


def test_windows_are_start_inclusive_end_exclusive_and_clipped_to_history(sandbox, analytics):
    day = TODAY - timedelta(days=2)
    one_day = analytics.get(path(sandbox, USAGE), params={START: ts(day), END: ts(day) + 86_400}).json()
    assert {r["start_time"] for r in one_day[RULE.data_field]} == {ts(day)}
    mid_day = analytics.get(path(sandbox, USAGE), params={START: ts(day) + 1, END: ts(day) + 86_401}).json()
    assert {r["start_time"] for r in mid_day[RULE.data_field]} == {ts(day) + 86_400}
    start = sandbox.data.analytics_history_start
    before = collect(
        analytics,
        path(sandbox, CODE_REVIEWS),
        CODE_REVIEWS,
        {START: ts(start - timedelta(days=5)), END: ts(start + timedelta(days=3))},
    )[0]
    assert min(r["start_time"] for r in before) >= ts(start)


def test_workspace_rows_add_up_to_the_user_rows(sandbox, analytics):
    window = days(TODAY - timedelta(days=13), 14)
    workspace_rows, _ = collect(
        analytics,
        path(sandbox, USAGE_WORKSPACE),
        USAGE_WORKSPACE,
        {START: ts(window[0]), END: ts(TODAY + timedelta(days=1)), LIMIT_PARAM: 3},
    )
    by_day = {row["start_time"]: row for row in workspace_rows}
    assert len(by_day) == len(workspace_rows)
    checked = 0
    for day in window:
        users = sandbox.data.usage_rows(day)
        if not users:
            assert ts(day) not in by_day
            continue
        ws = by_day[ts(day)]
        assert ws["user_id"] is None
        assert ws["actor"] is None
        for name in ("threads", "turns"):
            assert ws["totals"][name] == sum(u["totals"][name] for u in users)
        for name in ("credits", "cost_usd", "estimated_cost_usd"):
            assert Decimal(repr(ws["totals"][name])) == sum(Decimal(repr(u["totals"][name])) for u in users)
        clients = defaultdict(list)
        for user in users:
            assert user["totals"]["threads"] == sum(c["threads"] for c in user["clients"])
            for entry in user["clients"]:
                clients[entry["client_id"]].append(entry)
        assert [c["client_id"] for c in ws["clients"]] == sorted(clients)
        for entry in ws["clients"]:
            parts = clients[entry["client_id"]]
            assert entry["threads"] == sum(p["threads"] for p in parts)
            assert Decimal(repr(entry["credits"])) == sum(Decimal(repr(p["credits"])) for p in parts)
            for name in TOKENS:
                present = [p[name] for p in parts if p[name] is not None]
                assert entry[name] == (sum(present) if present else None)
        model_credits = defaultdict(Decimal)
        for user in users:
            for model in user.get("models") or []:
                model_credits[(model["model"], model["speed"])] += Decimal(repr(model["credits"]))
        assert {(m["model"], m["speed"]): Decimal(repr(m["credits"])) for m in ws["models"]} == model_credits
        lines = [u["code_attribution"]["lines_added"] for u in users if u.get("code_attribution")]
        assert ws["code_attribution"]["lines_added"] == sum(lines)
        checked += 1
    assert checked >= 10


def test_the_data_has_the_variety_loaders_must_handle(sandbox):
    rows = [r for d in days(TODAY - timedelta(days=20), 21) for r in sandbox.data.usage_rows(d)]
    clients = [c for r in rows for c in r["clients"]]
    assert any(r["actor"]["email"] is None for r in rows)
    assert any(r["actor"]["email"] for r in rows)
    assert any("models" not in r for r in rows)
    assert any("models" in r and r["models"] is None for r in rows)
    assert any("code_attribution" not in r for r in rows)
    assert any(m["model"] == "other" for r in rows for m in r.get("models") or [])
    assert any(c["client_id"] == "CODEX_FUTURE_SURFACE" for c in clients)
    assert any(c["client_id"] == "CODEX_UNKNOWN_DEFAULT" for c in clients)
    assert any(c["cached_text_input_tokens"] is None and c["text_output_tokens"] is not None for c in clients)
    assert any(c["text_output_tokens"] is None for c in clients)
    per_day = [len(sandbox.data.usage_rows(d)) for d in days(TODAY - timedelta(days=20), 21)]
    assert 0 < max(per_day) < sandbox.config.users
    assert len(set(per_day)) > 3


def test_quiet_days_have_no_rows_on_any_analytics_route(sandbox, analytics):
    history = days(sandbox.data.analytics_history_start, sandbox.config.analytics_history_days)
    quiet = [d for d in history if is_quiet_day(sandbox.config.seed, d)]
    busy = [d for d in history if not is_quiet_day(sandbox.config.seed, d)]
    assert quiet, "the test seed should have a quiet day in its history"
    for endpoint in (USAGE, USAGE_WORKSPACE, CODE_REVIEWS, CODE_REVIEW_RESPONSES):
        for day, expect_rows in ((quiet[0], False), (busy[0], True)):
            body = analytics.get(
                path(sandbox, endpoint), params={**endpoint.fixed_params, START: ts(day), END: ts(day) + 86_400}
            ).json()
            assert bool(body[RULE.data_field]) is expect_rows, (endpoint.name, day)


def test_code_review_routes_have_one_row_per_day(sandbox, analytics):
    window = days(TODAY - timedelta(days=6), 7)
    for endpoint, accessor in (
        (CODE_REVIEWS, sandbox.data.code_review_rows),
        (CODE_REVIEW_RESPONSES, sandbox.data.code_review_response_rows),
    ):
        rows, _ = collect(
            analytics,
            path(sandbox, endpoint),
            endpoint,
            {START: ts(window[0]), END: ts(TODAY + timedelta(days=1)), LIMIT_PARAM: 2},
        )
        assert rows == [r for d in window for r in accessor(d)]
        assert len(rows) == len({r["start_time"] for r in rows}) >= 6
    for row in sandbox.data.code_review_rows(TODAY):
        assert row["comments"] == sum(row["comment_details"].values())
    for row in sandbox.data.code_review_response_rows(TODAY):
        assert row["reactions"] == sum(row["reaction_details"].values())


def test_today_is_partial_while_the_day_runs_and_later_days_are_empty(sandbox, analytics):
    full = sandbox.data.usage_rows(TODAY)
    full_reviews = sandbox.data.code_review_rows(TODAY)[0]
    sandbox.set_clock(datetime.combine(TODAY, datetime.min.time(), tzinfo=NOW.tzinfo) + timedelta(hours=12))
    params = {START: ts(TODAY), END: ts(TODAY + timedelta(days=3)), LIMIT_PARAM: 1000}
    partial = analytics.get(path(sandbox, USAGE), params=params).json()[RULE.data_field]
    assert 0 < len(partial) < len(full)
    assert all(row in full for row in partial)
    reviews = analytics.get(path(sandbox, CODE_REVIEWS), params=params).json()[RULE.data_field]
    assert len(reviews) == 1
    assert reviews[0]["pull_request_reviews"] < full_reviews["pull_request_reviews"]
    sandbox.set_clock(None)
    assert analytics.get(path(sandbox, USAGE), params=params).json()[RULE.data_field] == full
    later = {START: ts(TODAY + timedelta(days=1)), END: ts(TODAY + timedelta(days=5))}
    body = analytics.get(path(sandbox, USAGE), params=later).json()
    assert body[RULE.data_field] == []
    assert body[RULE.has_more_field] is False
