"""The readiness rules (pure), and the checks that sensors and triggers share, on both client faces."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.endpoints import CODE_REVIEWS, COMPLIANCE_LOGS, USAGE_WORKSPACE
from airflow_provider_codex.api.errors import (
    CodexAuthError,
    CodexConfigError,
    CodexContractError,
    CodexNotFoundError,
    CodexPermissionError,
    CodexRateLimitError,
    CodexServerError,
    CodexTransportError,
    CodexValidationError,
)
from airflow_provider_codex.failures import is_permanent, is_transient
from airflow_provider_codex.readiness import (
    AnalyticsDayCheck,
    DayState,
    FreshnessCheck,
    analytics_day_ready,
    freshness_ready,
)
from airflow_provider_codex.windows import WindowError

TARGET = datetime(2026, 3, 5, tzinfo=UTC)
DAY_END = datetime(2026, 3, 5, tzinfo=UTC)
SETTLE = timedelta(days=1)


@pytest.mark.parametrize(
    ("max_times", "ready"),
    [
        ({"CODEX_LOG": TARGET, "CODEX_SECURITY_LOG": TARGET + timedelta(hours=1)}, True),
        ({"CODEX_LOG": TARGET, "CODEX_SECURITY_LOG": TARGET - timedelta(seconds=1)}, False),
        ({"CODEX_LOG": TARGET + timedelta(days=1), "CODEX_SECURITY_LOG": None}, False),
        ({}, False),
    ],
)
def test_freshness_needs_every_type_at_or_past_the_target(max_times, ready):
    assert freshness_ready(max_times, TARGET) is ready


@pytest.mark.parametrize(
    ("rows", "now", "state"),
    [
        (True, DAY_END - timedelta(seconds=1), DayState.NOT_ENDED),  # partial rows of a running day
        (False, DAY_END - timedelta(seconds=1), DayState.NOT_ENDED),
        (True, DAY_END, DayState.ROWS),
        (False, DAY_END, DayState.WAITING),
        (False, DAY_END + SETTLE - timedelta(seconds=1), DayState.WAITING),
        (False, DAY_END + SETTLE, DayState.SETTLED_EMPTY),
        (True, DAY_END + SETTLE * 10, DayState.ROWS),
    ],
)
def test_an_analytics_day_is_ready_with_rows_or_once_settled(rows, now, state):
    assert analytics_day_ready(rows, DAY_END, SETTLE, now) is state
    assert state.ready is (state in (DayState.ROWS, DayState.SETTLED_EMPTY))


def _http(cls, status):
    return cls("boom", status=status, endpoint="usage")


@pytest.mark.parametrize(
    "error",
    [
        _http(CodexAuthError, 401),
        _http(CodexPermissionError, 403),
        _http(CodexNotFoundError, 404),
        CodexValidationError("bad", status=422, endpoint="usage", detail=[]),
        CodexConfigError("no workspace"),
        CodexContractError("not the contract"),
        WindowError("not whole days"),
        AirflowNotFoundException("no such connection"),
    ],
)
def test_errors_that_waiting_cannot_fix_are_permanent(error):
    assert is_permanent(error)
    assert not is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        CodexRateLimitError("slow down", status=429, endpoint="usage", retry_after=3600),
        _http(CodexServerError, 503),
        CodexTransportError("connection reset"),
    ],
)
def test_rate_limits_and_outages_only_mean_not_ready_yet(error):
    assert is_transient(error)
    assert not is_permanent(error)


def test_other_exceptions_are_neither_so_they_surface_as_bugs():
    assert not is_permanent(KeyError("x"))
    assert not is_transient(KeyError("x"))


# --- the checks against the sandbox: the sync and async faces agree ----------------------------


def both_faces(config, check):
    with CodexClient(config) as client:
        sync = check.run(client)

    async def run_async():
        async with AsyncCodexClient(config) as client:
            return await check.arun(client)

    return sync, asyncio.run(run_async())


def test_freshness_check_on_both_faces(sandbox, client_config):
    landed = FreshnessCheck(("CODEX_LOG", "CODEX_SECURITY_LOG"), datetime(2026, 3, 4, tzinfo=UTC))
    sync, async_ = both_faces(client_config(), landed)
    assert sync == async_
    assert sync.ready
    assert sync.details["target"] == "2026-03-04T00:00:00Z"

    behind = FreshnessCheck(("CODEX_LOG", "CODEX_SECURITY_LOG"), TARGET)
    sync, async_ = both_faces(client_config(), behind)
    assert sync == async_
    assert not sync.ready
    assert "CODEX_LOG, CODEX_SECURITY_LOG" in sync.message
    assert sandbox.stats()["requests"]["max_event_time"] == {"200": 4}


def test_analytics_check_on_both_faces(sandbox, client_config):
    now = datetime(2026, 11, 25, tzinfo=UTC)
    with_rows = AnalyticsDayCheck(USAGE_WORKSPACE, date(2026, 3, 4), SETTLE, clock=lambda: now)
    sync, async_ = both_faces(client_config(), with_rows)
    assert sync == async_
    assert sync.ready
    assert sync.details == {"endpoint": "usage_workspace", "day": "2026-03-04", "state": "rows"}

    not_yet = AnalyticsDayCheck(CODE_REVIEWS, date(2026, 3, 5), timedelta(days=3650), clock=lambda: now)
    sync, async_ = both_faces(client_config(), not_yet)
    assert sync == async_
    assert sync.details["state"] == "waiting"
    assert sandbox.stats()["requests"] == {"usage_workspace": {"200": 2}, "code_reviews": {"200": 2}}


def test_a_day_that_has_not_ended_costs_no_request(sandbox, client_config):
    running = AnalyticsDayCheck(
        USAGE_WORKSPACE, date(2026, 3, 4), SETTLE, clock=lambda: datetime(2026, 3, 4, 18, tzinfo=UTC)
    )
    sync, async_ = both_faces(client_config(), running)
    assert sync == async_
    assert sync.details["state"] == "not_ended"
    assert sandbox.stats()["requests_total"] == 0


def test_checks_refuse_what_they_cannot_check():
    with pytest.raises(ValueError, match="not an analytics endpoint"):
        AnalyticsDayCheck(COMPLIANCE_LOGS, date(2026, 3, 4), SETTLE)
    with pytest.raises(ValueError, match="event type"):
        FreshnessCheck((), TARGET)
    with pytest.raises(ValueError, match="timezone"):
        FreshnessCheck(("CODEX_LOG",), datetime(2026, 3, 5))
