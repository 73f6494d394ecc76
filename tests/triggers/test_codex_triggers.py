"""The Codex triggers, run directly (``asyncio.run`` over ``trigger.run()``) against the sandbox.

A connection is read the way a triggerer reads it (``AIRFLOW_CONN_*`` in the
environment); the sandbox's clock is frozen at 2026-03-05T00:00Z.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk._shared.module_loading import import_string

from airflow_provider_codex.triggers.codex import (
    CodexAnalyticsDayTrigger,
    CodexComplianceFreshnessTrigger,
    CodexReadinessTrigger,
)

TYPES = ["CODEX_LOG", "CODEX_SECURITY_LOG"]
LANDED = "2026-03-04T00:00:00Z"  # freshness is past this
NOT_LANDED = "2026-03-05T00:00:00Z"  # not yet (the sparse security log lags)


def first_event(trigger: CodexReadinessTrigger, *, limit: float = 30):
    """The first event the trigger yields (a sensor's trigger yields exactly one)."""

    async def run():
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(run(), limit))


def deadline(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def freshness(conn_id, target, **kwargs):
    return CodexComplianceFreshnessTrigger(
        codex_conn_id=conn_id, target=target, event_types=TYPES, **{"poke_interval": 0.2} | kwargs
    )


def analytics(conn_id, day, **kwargs):
    return CodexAnalyticsDayTrigger(
        codex_conn_id=conn_id,
        endpoint="usage_workspace",
        day=day,
        **{"settle_seconds": 365 * 86400.0, "poke_interval": 0.2} | kwargs,
    )


# --- serialisation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trigger",
    [
        freshness("codex_default", NOT_LANDED, timeout_at="2026-03-05T01:00:00+00:00"),
        analytics("codex_default", "2026-03-04", settle_seconds=86400.0),
        analytics("codex_default", "2026-03-04", timeout_at=None),
    ],
    ids=["freshness", "analytics", "no-timeout"],
)
def test_serialise_then_rebuild_gives_the_same_trigger(trigger):
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON: strings, floats, a list
    rebuilt = import_string(classpath)(**kwargs)
    assert type(rebuilt) is type(trigger)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.make_check() == trigger.make_check()


def test_bad_arguments_are_refused_when_the_trigger_is_made():
    with pytest.raises(ValueError):
        freshness("c", "2026-03-05T00:00:00")  # no time zone
    with pytest.raises(ValueError):
        analytics("c", "2026-03-04", timeout_at="tomorrow")
    with pytest.raises(KeyError):
        CodexAnalyticsDayTrigger(
            codex_conn_id="c", endpoint="nope", day="2026-03-04", settle_seconds=0, poke_interval=1
        )


# --- running --------------------------------------------------------------------------------


def test_freshness_fires_success_when_events_have_landed(sandbox, codex_conn):
    event = first_event(freshness(codex_conn(), LANDED))
    assert event["status"] == "success"
    assert event["details"]["target"] == LANDED
    assert set(event["details"]["max_event_time"]) == set(TYPES)
    assert sandbox.stats()["requests"]["max_event_time"] == {"200": 1}


def test_freshness_keeps_checking_until_its_deadline(sandbox, codex_conn):
    started = time.monotonic()
    event = first_event(freshness(codex_conn(), NOT_LANDED, timeout_at=deadline(1.0)))
    assert event["status"] == "timeout"
    assert "CODEX_SECURITY_LOG" in event["message"]  # what was still missing at the end
    assert 1.0 <= time.monotonic() - started < 10
    assert sandbox.stats()["requests"]["max_event_time"]["200"] >= 4


def test_freshness_fires_when_events_land_while_it_waits(sandbox, codex_conn):
    trigger = freshness(codex_conn(), NOT_LANDED, timeout_at=deadline(30))

    async def scenario():
        waiting = asyncio.ensure_future(anext(trigger.run()))
        while sandbox.stats()["requests"].get("max_event_time", {}).get("200", 0) < 2:
            await asyncio.sleep(0.05)
        assert not waiting.done()
        sandbox.set_clock(datetime(2026, 3, 6, tzinfo=UTC))
        return (await asyncio.wait_for(waiting, 10)).payload

    event = asyncio.run(scenario())
    assert event["status"] == "success"
    assert all(t >= "2026-03-05" for t in event["details"]["max_event_time"].values())


def test_analytics_fires_for_rows_and_for_a_settled_quiet_day(sandbox, codex_conn):
    rows = first_event(analytics(codex_conn(), "2026-03-04"))
    assert rows["status"] == "success"
    assert rows["details"]["state"] == "rows"
    quiet = first_event(analytics(codex_conn(), "2025-11-01", settle_seconds=86400.0))
    assert quiet["status"] == "success"
    assert quiet["details"]["state"] == "settled_empty"
    assert "quiet day" in quiet["message"]


def test_analytics_times_out_on_a_day_without_rows(sandbox, codex_conn):
    event = first_event(analytics(codex_conn(), "2026-03-05", timeout_at=deadline(0.8)))
    assert event["status"] == "timeout"
    assert "no rows yet" in event["message"]


def test_server_errors_are_waited_out(sandbox, codex_conn):
    sandbox.faults.fail_5xx_every = 1
    trigger = freshness(codex_conn(), LANDED, timeout_at=deadline(30))

    async def scenario():
        waiting = asyncio.ensure_future(anext(trigger.run()))
        while sum(sandbox.stats()["requests"].get("max_event_time", {}).values()) < 4:
            await asyncio.sleep(0.05)
        assert not waiting.done()  # 5xx after the client's retries: not ready, check again
        sandbox.faults.fail_5xx_every = 0
        return (await asyncio.wait_for(waiting, 10)).payload

    assert asyncio.run(scenario())["status"] == "success"


@pytest.mark.parametrize(
    ("make", "extra", "expected"),
    [
        (freshness, {"compliance_api_key": "sk-revoked"}, "CodexAuthError"),
        (analytics, {"analytics_api_key": "sk-revoked"}, "CodexAuthError"),
        (analytics, {"analytics_api_key": "swap"}, "CodexPermissionError"),
        (freshness, {"workspace_id": "99999999-2222-4333-8444-555555555555"}, "CodexNotFoundError"),
        (freshness, {"workspace_id": None}, "CodexConfigError"),
    ],
    ids=["401-compliance", "401-analytics", "403", "404", "no-workspace"],
)
def test_permanent_errors_fire_an_error_at_once(sandbox, codex_conn, make, extra, expected):
    if extra.get("analytics_api_key") == "swap":
        extra = {"analytics_api_key": sandbox.compliance_key}
    day_or_target = "2026-03-04" if make is analytics else NOT_LANDED
    started = time.monotonic()
    event = first_event(make(codex_conn(**extra), day_or_target, timeout_at=deadline(60)))
    assert time.monotonic() - started < 10
    assert event["status"] == "error"
    assert event["message"].startswith(expected)
    assert "sk-revoked" not in json.dumps(event)
    assert sandbox.compliance_key not in json.dumps(event)
    assert set(event) == {"status", "message"}
    assert sandbox.stats()["requests_total"] <= 1  # never retried


def test_a_missing_connection_fires_an_error(sandbox):
    event = first_event(freshness("no_such_conn", LANDED))
    assert event["status"] == "error"
    assert "no_such_conn" in event["message"]


def test_running_twice_gives_the_same_answer(sandbox, codex_conn):
    trigger = analytics(codex_conn(), "2026-03-04")
    assert first_event(trigger) == first_event(trigger)
