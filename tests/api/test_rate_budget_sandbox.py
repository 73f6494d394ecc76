"""Processes sharing a budget (Redis, the host's file) stay under the sandbox's per-route limit; alone, they do not.

The sandbox counts arrivals per route in a sliding window (a compressed minute of
0.5 s) and answers 429 past it, as the service does; every worker is an OS
process of its own, with the client's limit set to the sandbox's.
"""

from __future__ import annotations

import pytest
import redis
from budget_workers import fetch_pages
from test_rate_budget import BACKENDS, DB, run_processes

from airflow_provider_codex.api.budget import KEY_PREFIX
from airflow_provider_codex.api.endpoints import USAGE

LIMIT, SCALE = 10, 120  # 10 requests per 0.5 s per route


def fetch_in_processes(sandbox, backend: str, path: str = "", processes: int = 3) -> list[tuple[int, int, int]]:
    sandbox.faults.replace_all({"rate_limit_per_minute": LIMIT, "time_scale": SCALE})
    settings = {
        "backend": backend,
        "path": path,
        "port": 6379,
        "db": DB,
        "base_url": sandbox.base_url,
        "workspace_id": sandbox.workspace_id,
        "key": sandbox.analytics_key,
        "limit": LIMIT,
        "period": 60 / SCALE,
        "start": "2026-02-01",
        "days": 2,
        "page_rows": 1,
    }
    return run_processes([(fetch_pages, settings)] * processes)  # type: ignore[return-value]


@pytest.fixture
def clean_budget(backend):
    yield
    if backend == "redis":
        client = redis.Redis(host="127.0.0.1", db=DB)
        for key in client.scan_iter(f"{KEY_PREFIX}*"):
            client.delete(key)
        client.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_sharing_a_budget_earn_no_429s(sandbox, backend, clean_budget, tmp_path):
    results = fetch_in_processes(sandbox, backend, str(tmp_path / "budget.sqlite3"))
    rows = sum(len(sandbox.data.usage_rows(day)) for day in _days())
    assert [r[0] for r in results] == [rows] * 3
    requests = sum(r[1] for r in results)
    assert requests >= 3 * LIMIT  # the limit binds: the run spans several windows
    assert sum(r[2] for r in results) <= 1  # at most one 429 at a window's edge
    stats = sandbox.stats()
    assert stats["responses_429"] <= 1
    assert sum(stats["requests"][USAGE.name].values()) == requests == stats["requests_total"]


def test_processes_each_with_its_own_limiter_earn_429s(sandbox):
    results = fetch_in_processes(sandbox, "process")
    assert sum(r[2] for r in results) >= 5
    assert sandbox.stats()["responses_429"] >= 5


def _days():
    from datetime import date, timedelta

    return [date(2026, 2, 1) + timedelta(days=i) for i in range(2)]
