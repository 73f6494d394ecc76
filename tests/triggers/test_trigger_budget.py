"""A trigger books its requests in the connection's rate budget, and a budget that is down fails no trigger.

The triggerer is a process of its own: with the ``redis`` backend, its checks
count in the same window as the tasks' requests (the async face, ``redis.asyncio``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
import redis

from airflow_provider_codex.api.budget import KEY_PREFIX, budget_name
from airflow_provider_codex.api.endpoints import MAX_EVENT_TIME
from airflow_provider_codex.triggers.codex import CodexComplianceFreshnessTrigger

DB = 13  # as tests/api/test_rate_budget.py
LANDED = "2026-03-04T00:00:00Z"


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not _redis_answers(), reason="needs the local Redis on 127.0.0.1:6379")


def first_event(trigger: CodexComplianceFreshnessTrigger) -> dict:
    async def run() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(run(), 30))


def freshness(conn_id: str) -> CodexComplianceFreshnessTrigger:
    return CodexComplianceFreshnessTrigger(
        codex_conn_id=conn_id, target=LANDED, event_types=["CODEX_LOG"], poke_interval=0.1
    )


def redis_conn(monkeypatch, port: int) -> str:
    connection = {"conn_type": "redis", "host": "127.0.0.1", "port": port, "extra": {"db": DB}}
    monkeypatch.setenv("AIRFLOW_CONN_TRIGGER_REDIS", json.dumps(connection))
    return "trigger_redis"


@pytest.fixture
def budget_keys():
    yield
    client = redis.Redis(host="127.0.0.1", db=DB)
    for key in client.scan_iter(f"{KEY_PREFIX}*"):
        client.delete(key)
    client.close()


def test_a_trigger_books_its_checks_in_redis(sandbox, codex_conn, monkeypatch, budget_keys):
    conn_id = codex_conn(rate_limit_backend="redis", rate_limit_redis_conn_id=redis_conn(monkeypatch, 6379))
    assert first_event(freshness(conn_id))["status"] == "success"
    name = budget_name(sandbox.base_url, sandbox.compliance_key, MAX_EVENT_TIME.name, 60.0)
    assert redis.Redis(host="127.0.0.1", db=DB).zcard(name) == sandbox.stats()["requests_total"] == 1


def test_a_trigger_whose_budget_is_down_still_fires_and_warns(sandbox, codex_conn, monkeypatch, caplog):
    caplog.set_level(logging.WARNING)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    # its own Redis connection (host:port), so its own store and "down" state in this process
    conn_id = codex_conn(rate_limit_backend="redis", rate_limit_redis_conn_id=redis_conn(monkeypatch, closed))
    assert first_event(freshness(conn_id))["status"] == "success"
    warned = [r.getMessage() for r in caplog.records if r.name.endswith("api.budget")]
    assert len(warned) == 1 and "cannot be reached" in warned[0]
    assert sandbox.compliance_key not in caplog.text
