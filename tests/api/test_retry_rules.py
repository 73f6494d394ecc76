"""One retry rule per test, on a mock transport (the sandbox tests cover the real HTTP)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.config import ClientConfig, Secret
from airflow_provider_codex.api.endpoints import CODE_REVIEWS, MAX_EVENT_TIME
from airflow_provider_codex.api.errors import (
    CodexAuthError,
    CodexConfigError,
    CodexRateLimitError,
    CodexServerError,
    CodexTransportError,
)
from airflow_provider_codex.api.limits import RateLimiter
from airflow_provider_codex.api.retry import RetryPolicy, parse_retry_after

OK_PAGE = {"object": "page", "data": [], "has_more": False, "next_page": None}


def make_client(handler, **retry):
    config = ClientConfig(
        base_url="http://codex.test/v1",
        workspace_id="ws",
        analytics_api_key=Secret("sk-analytics-unit"),
        compliance_api_key=Secret("sk-compliance-unit"),
        retry=RetryPolicy(**{"backoff_base": 0, "jitter": False, **retry}),
        requests_per_minute=10_000,
    )
    return CodexClient(config, transport=httpx.MockTransport(handler))


def scripted(*responses):
    """A handler answering each request with the next response; records the requests."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def test_retry_after_in_seconds_and_http_date():
    assert parse_retry_after("7") == 7.0
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(90)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_exponentially_and_is_capped():
    policy = RetryPolicy(backoff_base=1, backoff_max=10, jitter=False)
    assert [policy.backoff(n) for n in range(1, 6)] == [1, 2, 4, 8, 10]
    jittered = RetryPolicy(backoff_base=1, backoff_max=10)
    assert 0 <= jittered.backoff(3, rng=lambda: 0.5) == 2.0


def test_429_is_retried_with_the_servers_retry_after(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json=OK_PAGE))
    with make_client(handler) as client:
        list(client.iter_pages(CODE_REVIEWS))
        assert client.stats.retries == 1 and client.stats.rate_limited == 1
    assert len(seen) == 2
    assert slept == [3.0]


def test_retry_after_above_the_cap_fails_with_a_clear_message(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: pytest.fail(f"slept {s}s"))
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "7200"}))
    with make_client(handler, max_retry_after=600) as client, pytest.raises(CodexRateLimitError) as caught:
        list(client.iter_pages(CODE_REVIEWS))
    assert "7200s" in str(caught.value) and "max_retry_after" in str(caught.value)
    assert caught.value.retry_after == 600  # what the error carries (a deferral's length) is capped too
    assert len(seen) == 1


def test_wait_longer_than_max_sleep_is_raised_for_deferral(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: pytest.fail(f"slept {s}s"))
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "120"}))
    with make_client(handler, max_sleep=60) as client, pytest.raises(CodexRateLimitError) as caught:
        client.get_json(MAX_EVENT_TIME, [("event_type", "CODEX_LOG")])
    assert caught.value.retry_after == 120


def test_5xx_and_transport_errors_are_retried_then_surface(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    handler, seen = scripted(httpx.Response(503, text="busy"))
    with make_client(handler, max_attempts=3) as client, pytest.raises(CodexServerError):
        list(client.iter_pages(CODE_REVIEWS))
    assert len(seen) == 3

    handler, seen = scripted(
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json=OK_PAGE)
    )
    with make_client(handler, max_attempts=3) as client:
        assert list(client.iter_pages(CODE_REVIEWS))[0].rows == []
    assert len(seen) == 3

    handler, seen = scripted(httpx.ConnectError("refused"))
    with make_client(handler, max_attempts=2) as client, pytest.raises(CodexTransportError):
        list(client.iter_pages(CODE_REVIEWS))


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_client_errors_are_never_retried(status):
    handler, seen = scripted(httpx.Response(status, json={"detail": [{"loc": ["query", "limit"], "msg": "bad"}]}))
    with make_client(handler) as client, pytest.raises(Exception) as caught:
        list(client.iter_pages(CODE_REVIEWS))
    assert len(seen) == 1
    assert getattr(caught.value, "status", None) == status


def test_401_names_the_connection_field_and_never_the_key():
    handler, _ = scripted(httpx.Response(401, json={"error": "invalid key"}))
    with make_client(handler) as client, pytest.raises(CodexAuthError) as caught:
        list(client.iter_pages(CODE_REVIEWS))
    assert "analytics_api_key" in str(caught.value)
    assert "sk-analytics-unit" not in str(caught.value)


def test_missing_key_names_the_field_to_fill():
    config = ClientConfig(base_url="http://codex.test/v1", workspace_id="ws", analytics_api_key=Secret("k"))
    with CodexClient(config) as client, pytest.raises(CodexConfigError) as caught:
        client.max_event_time(["CODEX_LOG"])
    assert "compliance_api_key" in str(caught.value) and "read" in str(caught.value)


def test_secret_never_prints_itself():
    config = ClientConfig(analytics_api_key=Secret("sk-very-secret"))
    assert "sk-very-secret" not in repr(config) and "sk-very-secret" not in str(config)


def test_limiter_allows_a_burst_then_spaces_requests():
    now = [0.0]
    limiter = RateLimiter(limit=3, period=60, clock=lambda: now[0])
    assert [limiter.reserve("r")[0] for _ in range(3)] == [0, 0, 0]
    assert limiter.reserve("r")[0] == 60  # the 4th waits for the 1st to leave the window
    assert limiter.reserve("other")[0] == 0  # routes are limited separately
    now[0] = 30.0
    assert limiter.reserve("r")[0] == 30  # the 5th: the 2nd slot frees at 60, 30s from now


def test_limiter_counts_a_request_from_its_answer():
    now = [0.0]
    limiter = RateLimiter(limit=1, period=10, clock=lambda: now[0])
    _, mark = limiter.reserve("r")
    now[0] = 4.0  # a slow answer: the service may have counted it as late as this
    limiter.answered("r", mark)
    assert limiter.reserve("r")[0] == 10  # 4 + 10 - now(4)


def test_limiter_never_allows_more_than_the_limit_in_any_window():
    now = [0.0]
    limiter = RateLimiter(limit=5, period=10, clock=lambda: now[0])
    sent = []
    for step in range(200):
        now[0] = step * 0.3
        sent.append(now[0] + limiter.reserve("r")[0])
    sent.sort()
    for i, t in enumerate(sent):
        in_window = [s for s in sent[i:] if s < t + 10]
        assert len(in_window) <= 5


def test_async_client_follows_the_same_rules(monkeypatch):
    slept: list[float] = []

    async def fake_sleep(seconds):
        slept.append(seconds)

    monkeypatch.setattr("asyncio.sleep", fake_sleep)
    responses = [
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"max_event_time": {"CODEX_LOG": "2026-11-01T06:00:00Z"}}),
    ]

    def handler(request):
        return responses.pop(0)

    config = ClientConfig(
        base_url="http://codex.test/v1",
        workspace_id="ws",
        compliance_api_key=Secret("k"),
        retry=RetryPolicy(jitter=False),
    )

    async def run():
        async with AsyncCodexClient(config, transport=httpx.MockTransport(handler)) as client:
            return await client.max_event_time(["CODEX_LOG"])

    result = asyncio.run(run())
    assert result["CODEX_LOG"] == datetime(2026, 11, 1, 6, tzinfo=UTC)
    assert slept == [2.0]
