"""Rows outside the window and windows that have not ended are said, never passed over in silence."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from codex_e2e import run_dag
from hostile import hostile_server, json_reply

WORKSPACE = "11111111-2222-4333-8444-555555555555"


def _review_row(day: date) -> dict[str, object]:
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return {
        "object": "codex.code_reviews",
        "start_time": start,
        "end_time": start + 86_400,
        "pull_request_reviews": 3,
        "comments": 5,
        "comment_details": {"p0": 1, "p1": 2, "p2": 2},
    }


@pytest.fixture
def careless_server() -> Iterator[str]:
    """An analytics API that answers every window with its two days plus a row of a day nobody asked for."""
    days = [date(2026, 2, 12), date(2026, 2, 13), date(2026, 1, 30)]
    page = {"object": "page", "data": [_review_row(d) for d in days], "has_more": False}
    with hostile_server(lambda seen: json_reply(page)) as server:
        yield server.base_url


def _use(monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    extra = {"workspace_id": WORKSPACE, "analytics_api_key": "sk-careless", "requests_per_minute": 100_000}
    monkeypatch.setenv(
        "AIRFLOW_CONN_CODEX_DEFAULT", json.dumps({"conn_type": "codex", "host": base_url, "extra": extra})
    )


def test_rows_outside_the_window_are_counted_and_warned_about(
    careless_server, monkeypatch, make_destination, test_dags, caplog
):
    _use(monkeypatch, careless_server)
    dest = make_destination("sqlite")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_codex"):
        run = run_dag(
            test_dags, "load_sql_code_reviews", start="2026-02-12", end="2026-02-14", sql_conn_id=dest.conn_id
        )
    assert run.state == "success"
    summary = run.summary()
    assert summary["rows"] == {"codex_code_reviews_daily": {"2026-02-12": 1, "2026-02-13": 1}}
    assert summary["rows_outside_window"] == {"2026-01-30": 1}
    assert summary["unfinished_days"] == []
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("outside the window" in m and "2026-01-30" in m for m in warned), warned


def test_a_window_that_includes_today_loads_with_a_warning_and_a_flag(
    live_sandbox, use_sandbox, make_destination, test_dags, caplog
):
    use_sandbox(live_sandbox)
    dest = make_destination("sqlite")
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=1), today + timedelta(days=1)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_codex"):
        run = run_dag(
            test_dags, "load_sql_code_reviews", start=start.isoformat(), end=end.isoformat(), sql_conn_id=dest.conn_id
        )
    assert run.state == "success"
    summary = run.summary()
    assert summary["unfinished_days"] == [today.isoformat()]
    assert summary["rows_outside_window"] == {}
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("have not ended" in m and today.isoformat() in m for m in warned), warned
