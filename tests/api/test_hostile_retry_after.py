"""One rule for every ``Retry-After`` (429 and 5xx), over real HTTP: capped, never slept past the cap.

A server asking for 31 years, ``inf`` or a date in 9999 gets a raised
:class:`CodexRateLimitError` carrying the *capped* wait (what a deferrable task
defers for), on both faces, in the sensors' poke and in the triggers; garbage
falls back to the client's own backoff.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import pytest
from hostile import WORKSPACE, client_config, hostile_server, json_reply

from airflow_provider_codex.api import retry as retry_rules
from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.endpoints import CODE_REVIEWS, MAX_EVENT_TIME
from airflow_provider_codex.api.errors import CodexRateLimitError
from airflow_provider_codex.api.retry import RetryPolicy, parse_retry_after
from airflow_provider_codex.readiness import FreshnessCheck
from airflow_provider_codex.sensors.codex import CodexComplianceFreshnessSensor
from airflow_provider_codex.triggers.codex import TIMEOUT, CodexComplianceFreshnessTrigger

HUGE = ["1000000000", "inf", "1e999", "Fri, 31 Dec 9999 23:59:59 GMT", "9" * 400]
GARBAGE = ["nan", "-5", "soon", "Fri, 31 Dec 99999 23:59:59 GMT", "\x00\x01", "1 000"]
OK_PAGE = {"object": "page", "data": [], "has_more": False, "next_page": None}
FRESH = {"max_event_time": {"CODEX_LOG": "2026-03-05T00:00:00Z"}}


@pytest.mark.parametrize("value", HUGE + GARBAGE + ["0", "2.5", "Wed, 01 Jan 2020 00:00:00 GMT"])
def test_parse_retry_after_is_finite_bounded_or_none_and_never_raises(value):
    seconds = parse_retry_after(value)
    assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= retry_rules.RETRY_AFTER_CEILING)
    if value in HUGE:
        assert seconds is not None and seconds > 10**6  # a huge wait stays huge (then capped), not "retry now"
    if value in GARBAGE:
        assert seconds is None  # unreadable: the client's own backoff


def busy(status, retry_after, then=None):
    """Answer ``status`` with ``Retry-After: retry_after`` first, then ``then`` (or the same again)."""
    calls = []

    def answer(seen):
        calls.append(seen)
        if then is not None and len(calls) > 1:
            return json_reply(then)
        return json_reply({"error": {"message": "busy"}}, status, **{"Retry-After": retry_after})

    return answer


@pytest.fixture
def no_sleep(monkeypatch):
    """Any sleep in the client fails the test (the hostile server never sleeps)."""
    monkeypatch.setattr("time.sleep", lambda s: pytest.fail(f"the client slept {s}s"))


@pytest.mark.parametrize("status", [429, 503, 500])
@pytest.mark.parametrize("value", HUGE)
def test_a_huge_retry_after_is_raised_with_the_capped_wait(no_sleep, status, value):
    with hostile_server(busy(status, value)) as server:
        config = client_config(server.base_url, retry=RetryPolicy(max_sleep=30, max_retry_after=900))
        with CodexClient(config) as client, pytest.raises(CodexRateLimitError) as caught:
            list(client.iter_pages(CODE_REVIEWS))
    assert caught.value.retry_after == 900  # the deferral is capped too: never until 2058
    assert caught.value.status == status
    assert "max_retry_after" in str(caught.value)
    assert "asked to wait a year or more" in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_a_non_deferrable_client_never_sleeps_past_the_cap(no_sleep, status):
    with (
        hostile_server(busy(status, "1000000000")) as server,
        CodexClient(client_config(server.base_url)) as client,
        pytest.raises(CodexRateLimitError) as caught,
    ):
        list(client.iter_pages(CODE_REVIEWS))
    assert caught.value.retry_after == RetryPolicy().max_retry_after
    assert len(server.requests) == 1


def test_a_5xx_wait_over_max_sleep_is_raised_for_deferral(no_sleep):
    with hostile_server(busy(503, "120")) as server:
        config = client_config(server.base_url, retry=RetryPolicy(max_sleep=60))
        with CodexClient(config) as client, pytest.raises(CodexRateLimitError) as caught:
            client.get_json(MAX_EVENT_TIME, [("event_type", "CODEX_LOG")])
    assert caught.value.retry_after == 120
    assert "worth sleeping in a worker" in str(caught.value)


@pytest.mark.parametrize("value", GARBAGE)
def test_an_unreadable_retry_after_falls_back_to_the_backoff(monkeypatch, value):
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    with (
        hostile_server(busy(503, value, then=OK_PAGE)) as server,
        CodexClient(client_config(server.base_url)) as client,
    ):
        assert list(client.iter_pages(CODE_REVIEWS))[0].rows == []
    assert len(server.requests) == 2
    assert len(slept) == 1 and 0 <= slept[0] <= 0.05  # the policy's own backoff (backoff_max)


def test_a_small_5xx_retry_after_is_honoured(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    with hostile_server(busy(503, "3", then=OK_PAGE)) as server, CodexClient(client_config(server.base_url)) as client:
        list(client.iter_pages(CODE_REVIEWS))
    assert slept == [3.0]


@pytest.mark.parametrize("status", [429, 503])
def test_the_async_face_follows_the_same_rule(monkeypatch, status):
    async def no_async_sleep(seconds):
        pytest.fail(f"the async client slept {seconds}s")

    monkeypatch.setattr("asyncio.sleep", no_async_sleep)

    async def run(base_url):
        config = client_config(base_url, retry=RetryPolicy(max_sleep=30))
        async with AsyncCodexClient(config) as client:
            return await client.max_event_time(["CODEX_LOG"])

    with hostile_server(busy(status, "inf")) as server, pytest.raises(CodexRateLimitError) as caught:
        asyncio.run(asyncio.wait_for(run(server.base_url), 20))
    assert caught.value.retry_after == 900


def connect(monkeypatch, server, conn_id="codex_hostile"):
    import json

    extra = {"workspace_id": WORKSPACE, "compliance_api_key": "sk-compliance-" + "c" * 30}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "codex", "host": server.base_url, "extra": extra})
    )
    return conn_id


def test_the_sensors_poke_reads_a_huge_5xx_wait_as_not_ready(monkeypatch, no_sleep):
    with hostile_server(busy(503, "1000000000")) as server:
        sensor = CodexComplianceFreshnessSensor(task_id="wait", codex_conn_id=connect(monkeypatch, server))
        check = FreshnessCheck(("CODEX_LOG",), datetime(2026, 3, 4, tzinfo=UTC))
        assert sensor._check_once(check) is None  # "not ready yet": checked again at the next poke
    assert len(server.requests) == 1


def test_the_trigger_reads_a_huge_5xx_wait_as_not_ready_and_times_out(monkeypatch):
    with hostile_server(busy(503, "1000000000")) as server:
        trigger = CodexComplianceFreshnessTrigger(
            codex_conn_id=connect(monkeypatch, server),
            target="2026-03-04T00:00:00Z",
            event_types=["CODEX_LOG"],
            poke_interval=0.1,
            timeout_at=(datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        )

        async def first_event():
            async for event in trigger.run():
                return event.payload
            raise AssertionError("no event")

        payload = asyncio.run(asyncio.wait_for(first_event(), 20))
    assert payload["status"] == TIMEOUT
    assert "Retry-After" in payload["message"]
    assert len(server.requests) >= 1
