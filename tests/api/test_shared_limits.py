"""Clients of one process share their rate limiter and their TLS context.

Over real HTTP against the sandbox, whose own limiter answers 429 past its limit:
clients that each kept their own count would earn 429s together.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import ssl
import threading
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_codex import _json
from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.config import Secret
from airflow_provider_codex.api.endpoints import CODEX_TASKS, USAGE
from airflow_provider_codex.api.limits import key_fingerprint, shared_limiter
from airflow_provider_codex.api.paging import window_params
from airflow_provider_codex.api.tls import ssl_context

START = datetime(2026, 2, 20, tzinfo=UTC)


def window(days: int):
    return window_params(USAGE, START, START + timedelta(days=days))


def test_one_limiter_per_service_key_limit_and_period():
    one = shared_limiter("http://h/v1", "sk-a", 30, 1.0)
    assert shared_limiter("http://h/v1/", "sk-a", 30, 1) is one
    assert shared_limiter("http://other/v1", "sk-a", 30, 1.0) is not one
    assert shared_limiter("http://h/v1", "sk-b", 30, 1.0) is not one
    assert shared_limiter("http://h/v1", "sk-a", 31, 1.0) is not one
    assert shared_limiter("http://h/v1", "sk-a", 30, 2.0) is not one
    assert "sk-a" not in key_fingerprint("sk-a")
    assert key_fingerprint("sk-a") == key_fingerprint("sk-a") != key_fingerprint("sk-b")


def test_clients_in_threads_pace_together_under_the_service_limit(sandbox, client_config):
    # The sandbox allows 30 requests per (compressed) minute of 0.5 s per route; so does each client.
    sandbox.faults.replace_all({"rate_limit_per_minute": 30, "time_scale": 120})
    rows: list[list[dict]] = []
    errors: list[BaseException] = []

    def one_task() -> None:
        try:
            # Each thread builds its own config and client, as separate tasks do.
            with CodexClient(client_config(requests_per_minute=30, rate_period=0.5)) as client:
                rows.append([r for page in client.iter_pages(USAGE, window(2), limit=1) for r in page.rows])
        except BaseException as failed:  # pragma: no cover - reported below
            errors.append(failed)

    threads = [threading.Thread(target=one_task) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    served = [r for i in range(2) for r in sandbox.data.usage_rows(START.date() + timedelta(days=i))]
    assert rows == [served] * 4
    stats = sandbox.stats()
    assert stats["requests_total"] > 60  # more than two windows' worth, sent by four clients
    assert stats["responses_429"] == 0


def test_sync_and_async_clients_share_one_limiter_per_key(sandbox, client_config):
    config = client_config(requests_per_minute=1234)
    sync = CodexClient(config)
    other = CodexClient(dataclasses.replace(config, timeout=5))  # same service, key and limit
    async_client = AsyncCodexClient(config)
    try:
        limiter = sync.core.limiter_for(USAGE)
        assert other.core.limiter_for(USAGE) is limiter
        assert async_client.core.limiter_for(USAGE) is limiter
        # Compliance routes are paced by the compliance key's limiter.
        assert sync.core.limiter_for(CODEX_TASKS) is not limiter
        assert async_client.core.limiter_for(CODEX_TASKS) is sync.core.limiter_for(CODEX_TASKS)
        another_key = dataclasses.replace(config, analytics_api_key=Secret("sk-someone-else"))
        assert CodexClient(another_key).core.limiter_for(USAGE) is not limiter
    finally:
        sync.close()
        other.close()
        asyncio.run(async_client.aclose())


def test_async_tasks_and_a_thread_pace_together(sandbox, client_config):
    sandbox.faults.replace_all({"rate_limit_per_minute": 30, "time_scale": 120})
    config = client_config(requests_per_minute=30, rate_period=0.5)

    async def fetch_async() -> int:
        async with AsyncCodexClient(config) as client:
            return sum([len(page.rows) async for page in client.iter_pages(USAGE, window(3), limit=1)])

    async def both() -> list[int]:
        return list(await asyncio.gather(fetch_async(), fetch_async()))

    counted: list[int] = []

    def in_thread() -> None:
        with CodexClient(config) as client:
            counted.append(sum(len(p.rows) for p in client.iter_pages(USAGE, window(3), limit=1)))

    thread = threading.Thread(target=in_thread)
    thread.start()
    counted.extend(asyncio.run(both()))
    thread.join()
    assert counted == [sum(len(sandbox.data.usage_rows(START.date() + timedelta(days=i))) for i in range(3))] * 3
    assert sandbox.stats()["requests_total"] > 60
    assert sandbox.stats()["responses_429"] == 0


def _pool_context(client: CodexClient) -> ssl.SSLContext:
    return client._http._transport._pool._ssl_context  # type: ignore[attr-defined]


def test_clients_share_one_tls_context_per_verify_setting(sandbox, client_config):
    with CodexClient(client_config()) as one, CodexClient(client_config(timeout=7)) as two:
        assert _pool_context(one) is _pool_context(two) is ssl_context(True)
        assert _pool_context(one).verify_mode is ssl.CERT_REQUIRED
        assert one.get_json(CODEX_TASKS)  # the client still talks to the sandbox
    with CodexClient(client_config(verify=False)) as insecure:
        context = _pool_context(insecure)
        assert context is ssl_context(False) is not ssl_context(True)
        assert context.verify_mode is ssl.CERT_NONE
        assert not context.check_hostname


def test_tls_context_follows_ssl_cert_file(monkeypatch):
    import certifi

    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    from_env = ssl_context(True)
    monkeypatch.delenv("SSL_CERT_FILE")
    assert ssl_context(True) is not from_env


# --- large bodies are parsed with the cyclic GC paused -----------------------------------


@pytest.fixture
def count_collections(monkeypatch):
    """Generations of the collections that ran while ``_json`` was parsing."""
    started: list[int] = []
    parsing = threading.Event()
    parse = _json._parse

    def watched_parse(data):
        parsing.set()
        try:
            return parse(data)
        finally:
            parsing.clear()

    def callback(phase: str, info: dict) -> None:
        if phase == "start" and parsing.is_set():
            started.append(info["generation"])

    monkeypatch.setattr(_json, "_parse", watched_parse)
    gc.callbacks.append(callback)
    thresholds = gc.get_threshold()
    gc.set_threshold(100)  # a collection every 100 container allocations, if enabled
    try:
        yield started
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(callback)


def _big_body() -> bytes:
    body = _json.dumps({"data": [{"id": i, "tags": ["a", "b"]} for i in range(60_000)]})
    assert len(body) >= _json.GC_PAUSE_BYTES
    return body


def test_a_large_body_is_parsed_without_collections(count_collections):
    body = _big_body()
    assert gc.isenabled()
    parsed = _json.loads(body)
    assert count_collections == []
    assert gc.isenabled()  # back on afterwards
    assert len(parsed["data"]) == 60_000
    # A small body is parsed as is (the pause is not worth it): collections do run.
    small = _json.dumps([{"i": i} for i in range(2_000)])
    assert len(small) < _json.GC_PAUSE_BYTES
    _json.loads(small)
    assert count_collections


def test_the_gc_is_restored_after_a_parse_error_and_left_off_if_it_was_off():
    bad = _big_body()[:-1]
    with pytest.raises(ValueError):
        _json.loads(bad)
    assert gc.isenabled()
    gc.disable()
    try:
        _json.loads(_big_body())
        assert not gc.isenabled()
    finally:
        gc.enable()
