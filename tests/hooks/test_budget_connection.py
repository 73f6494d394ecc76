"""The rate budget backend is a connection setting: checked when read, resolved to the Redis connection.

Connections are real ``AIRFLOW_CONN_*`` variables read by Airflow's own secrets
backend; the Redis one points at the local Redis (database 13, the budget tests').
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis

from airflow_provider_codex.api.budget import KEY_PREFIX, SharedBudget, budget_name
from airflow_provider_codex.api.budget_redis import RedisStore
from airflow_provider_codex.api.endpoints import USAGE
from airflow_provider_codex.api.errors import CodexConfigError
from airflow_provider_codex.api.limits import PROCESS_BUDGETS, RateLimiter
from airflow_provider_codex.api.paging import window_params
from airflow_provider_codex.hooks.codex import CodexHook

START = datetime(2026, 2, 20, tzinfo=UTC)
DB = 13  # as tests/api/test_rate_budget.py


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def failure(conn_id: str) -> str:
    with pytest.raises(CodexConfigError) as failed:
        CodexHook(conn_id).config  # noqa: B018
    with pytest.raises(CodexConfigError) as failed_async:
        asyncio.run(CodexHook(conn_id).aget_config())
    assert str(failed_async.value) == str(failed.value)
    return str(failed.value)


def redis_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "budget_redis", **extra: object) -> str:
    connection = {"conn_type": "redis", "host": "127.0.0.1", "port": 6379, "extra": {"db": DB, **extra}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    return conn_id


@pytest.mark.parametrize("value", ["memcached", 3, ["redis"]])
def test_an_unknown_backend_names_the_field_and_the_choices(codex_conn, value):
    message = failure(codex_conn(rate_limit_backend=value))
    assert "'rate_limit_backend' must be one of 'process', 'host', 'redis'" in message
    assert "fix the 'rate_limit_backend' field" in message and "default, host" in message


@pytest.mark.parametrize("value", ["redis default", "../x", 7])
def test_a_redis_connection_id_that_is_no_id_names_the_field(codex_conn, value):
    message = failure(codex_conn(rate_limit_backend="redis", rate_limit_redis_conn_id=value))
    assert "'rate_limit_redis_conn_id' must be the id of an Airflow Redis connection" in message
    assert "fix the 'rate_limit_redis_conn_id' field" in message


def test_a_missing_redis_connection_names_it_and_the_fixes(codex_conn):
    conn_id = codex_conn(rate_limit_backend="redis", rate_limit_redis_conn_id="no_such_redis")
    message = failure(conn_id)
    assert "'rate_limit_redis_conn_id' names the connection 'no_such_redis', which is not defined" in message
    assert "set 'rate_limit_backend' to 'host'" in message
    ok, said = CodexHook(conn_id).test_connection()
    assert not ok and "misconfigured" in said and "no_such_redis" in said


@pytest.mark.parametrize(
    ("extra", "wanted"),
    [({"cluster": True}, "is a Redis cluster"), ({"db": "first"}, "'db' extra must be a whole number")],
)
def test_a_redis_connection_the_budget_cannot_use_is_named(codex_conn, monkeypatch, extra, wanted):
    redis_id = redis_conn(monkeypatch, "odd_redis", **extra)
    message = failure(codex_conn(rate_limit_backend="redis", rate_limit_redis_conn_id=redis_id))
    assert "connection 'odd_redis' (the rate budget's Redis)" in message and wanted in message


def test_the_process_backend_is_the_process_limiter(codex_conn):
    hook = CodexHook(codex_conn(rate_limit_backend=" PROCESS ", rate_limit_redis_conn_id="whatever"))
    assert hook.config.rate_budget is PROCESS_BUDGETS
    assert isinstance(hook.client.core.limiter_for(USAGE), RateLimiter)


def test_the_default_host_backend_books_in_the_hosts_file(sandbox, codex_conn):
    from airflow_provider_codex.api.budget_host import HostStore, default_path

    hook = CodexHook(codex_conn())  # the default
    store = hook.config.rate_budget
    assert isinstance(store, HostStore) and store.path == default_path()
    assert CodexHook(codex_conn(rate_limit_backend="host")).config.rate_budget is store
    assert isinstance(hook.client.core.limiter_for(USAGE), SharedBudget)
    params = window_params(USAGE, START, START + timedelta(days=1))
    assert [r for page in hook.client.iter_pages(USAGE, params) for r in page.rows] == sandbox.data.usage_rows(
        START.date()
    )
    import sqlite3

    name = budget_name(sandbox.base_url, sandbox.analytics_key, USAGE.name, 60.0)
    with sqlite3.connect(store.path) as db:
        (booked,) = db.execute("SELECT count(*) FROM slots WHERE name = ?", (name,)).fetchone()
    assert booked == hook.client.stats.requests > 0
    hook.close()


@pytest.fixture
def budget_keys():
    yield
    client = redis.Redis(host="127.0.0.1", db=DB)
    for key in client.scan_iter(f"{KEY_PREFIX}*"):
        client.delete(key)
    client.close()


@pytest.mark.skipif(not _redis_answers(), reason="needs the local Redis on 127.0.0.1:6379")
def test_the_redis_backend_books_every_face_in_the_connections_redis(sandbox, codex_conn, monkeypatch, budget_keys):
    redis_id = redis_conn(monkeypatch)
    conn_id = codex_conn(rate_limit_backend="redis", rate_limit_redis_conn_id=redis_id, requests_per_minute=50)
    hook, other = CodexHook(conn_id), CodexHook(conn_id)
    store = hook.config.rate_budget
    assert isinstance(store, RedisStore)
    assert other.config.rate_budget is store  # one store (pool, "down" state) per process and Redis
    budget = hook.client.core.limiter_for(USAGE)
    assert isinstance(budget, SharedBudget) and other.client.core.limiter_for(USAGE) is budget
    params = window_params(USAGE, START, START + timedelta(days=1))
    rows = [r for page in hook.client.iter_pages(USAGE, params) for r in page.rows]
    assert rows == sandbox.data.usage_rows(START.date())

    async def through_the_async_client() -> int:
        async with await CodexHook(conn_id).aget_async_client() as client:
            assert client.core.limiter_for(USAGE) is budget  # triggers book in the same budget
            return sum([len(page.rows) async for page in client.iter_pages(USAGE, params)])

    assert asyncio.run(through_the_async_client()) == len(rows)
    name = budget_name(sandbox.base_url, sandbox.analytics_key, USAGE.name, 60.0)
    booked = redis.Redis(host="127.0.0.1", db=DB).zcard(name)
    assert booked == 2 * hook.client.stats.requests  # both faces' requests are in the one window
    hook.close()
    other.close()
