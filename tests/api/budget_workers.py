"""What the rate budget tests run in OS processes of their own (spawned), as Airflow runs tasks.

Each worker books ``requests`` slots of one budget, sleeps as told, notes the
slot's mark and the moment it "sent", settles, and puts its records on a queue.
A barrier starts every process's first booking together (spawning takes a while).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from airflow_provider_codex.api.budget import budget_name
from airflow_provider_codex.api.budget_host import HostStore
from airflow_provider_codex.api.budget_redis import RedisStore
from airflow_provider_codex.api.limits import PROCESS_BUDGETS, Budget, BudgetSource

Record = tuple[float, float, bool]  # (the slot's mark, when it was sent, booked in the store)


def source(spec: dict[str, Any]) -> BudgetSource:
    if spec["backend"] == "redis":
        return RedisStore.connect(host="127.0.0.1", port=spec["port"], db=spec["db"])
    if spec["backend"] == "host":
        return HostStore(Path(spec["path"]))
    return PROCESS_BUDGETS


def budget(spec: dict[str, Any]) -> Budget:
    return source(spec).budget_for(spec["base_url"], spec["key"], spec["limit"], spec["period"])


def book_sync(spec: dict[str, Any], barrier: Any, out: Any) -> None:
    paced = budget(spec)
    records: list[Record] = []
    barrier.wait(60)
    for _ in range(spec["requests"]):
        booking = paced.book(spec["route"])
        time.sleep(booking.wait)
        records.append((booking.mark, time.time(), booking.token is not None))
        paced.settle(booking)
    out.put(records)


def book_async(spec: dict[str, Any], barrier: Any, out: Any) -> None:
    paced = budget(spec)
    records: list[Record] = []

    async def one_task(count: int) -> None:
        for _ in range(count):
            booking = await paced.abook(spec["route"])
            await asyncio.sleep(booking.wait)
            records.append((booking.mark, time.time(), booking.token is not None))
            await paced.asettle(booking)

    async def all_tasks() -> None:
        await asyncio.gather(*(one_task(spec["requests"]) for _ in range(spec["tasks"])))

    barrier.wait(60)
    asyncio.run(all_tasks())
    out.put(records)


def name_of(base_url: str, key: str, route: str, period: float, out: Any) -> None:
    out.put(budget_name(base_url, key, route, period))


def fetch_pages(spec: dict[str, Any], barrier: Any, out: Any) -> None:
    """Page through ``days`` of ``/usage`` one row a page against the sandbox: ``(rows, requests, 429s)``."""
    from datetime import UTC, datetime, timedelta

    from airflow_provider_codex.api.client import CodexClient
    from airflow_provider_codex.api.config import ClientConfig, Secret
    from airflow_provider_codex.api.endpoints import USAGE
    from airflow_provider_codex.api.paging import window_params
    from airflow_provider_codex.api.retry import RetryPolicy

    config = ClientConfig(
        base_url=spec["base_url"],
        workspace_id=spec["workspace_id"],
        analytics_api_key=Secret(spec["key"]),
        requests_per_minute=spec["limit"],
        rate_period=spec["period"],
        retry=RetryPolicy(max_attempts=30, backoff_base=0.01, backoff_max=0.05),
        rate_budget=source(spec),
    )
    start = datetime.fromisoformat(spec["start"]).replace(tzinfo=UTC)
    params = window_params(USAGE, start, start + timedelta(days=spec["days"]))
    with CodexClient(config) as client:
        barrier.wait(60)
        rows = sum(len(page.rows) for page in client.iter_pages(USAGE, params, limit=spec.get("page_rows", 5)))
        out.put([(rows, client.stats.requests, client.stats.rate_limited)])
