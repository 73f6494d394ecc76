"""Helpers of the sandbox tests: the test config, clients, registry paths, paging."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
from codex_testing.sandbox import RunningSandbox
from codex_testing.sandbox.clock import day_start

from airflow_provider_codex.api.endpoints import PAGING_RULES, WINDOW_PARAMS, Endpoint, Owner, Paging, WindowStyle

TODAY = date(2026, 3, 4)  # a Wednesday
NOW = day_start(TODAY + timedelta(days=1))
SANDBOX_CONFIG: dict[str, Any] = {
    "seed": 7,
    "users": 40,
    "events_per_day": 300,
    "today": TODAY,
    "now": NOW,
    "analytics_history_days": 60,
}
#: The window parameters of the registry, by style (analytics: unix seconds; compliance: ISO times).
START, END = WINDOW_PARAMS[WindowStyle.UNIX_SECONDS]  # type: ignore[misc]
AFTER, BEFORE = WINDOW_PARAMS[WindowStyle.ISO_AFTER_BEFORE]  # type: ignore[misc]
NEXT = PAGING_RULES[Paging.NEXT_PAGE]


def client(sandbox: RunningSandbox, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=sandbox.base_url, headers=headers, timeout=30)


def path(sandbox: RunningSandbox, endpoint: Endpoint, owner: Owner = Owner.WORKSPACE, **params: str) -> str:
    """The URL path of ``endpoint`` (relative to the base URL) for the sandbox's owner ids."""
    owner_id = sandbox.workspace_id if owner == Owner.WORKSPACE else sandbox.organization_id
    return endpoint.route(owner).format(owner_id=owner_id, **params)


def collect(http: httpx.Client, url: str, endpoint: Endpoint, params: dict[str, Any]) -> tuple[list[Any], int]:
    """Every record of a paged query, following the registry's paging rule; also the page count."""
    rule = PAGING_RULES[endpoint.paging]
    assert endpoint.paging != Paging.NONE
    params = {**endpoint.fixed_params, **params}
    records: list[Any] = []
    pages = 0
    while True:
        response = http.get(url, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        records.extend(body[rule.data_field])
        pages += 1
        assert pages < 10_000
        if not body[rule.has_more_field]:
            return records, pages
        params[rule.cursor_param] = body[rule.cursor_field]
