"""Airflow's REST API, called in-process as the user who opened the view.

The view asks Airflow's own public API (``/api/v2``) what the user may see,
with the user's own token: Airflow's auth manager then filters and refuses
exactly as it does for the UI. The call goes straight into the api-server's
ASGI app (httpx's ASGI transport), so it needs no network, no base URL that
resolves from inside the server, and no second credential.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import Request

from airflow_provider_codex.plugins.sources import ApiGet, ApiRefused

#: Seconds one in-process API call may take (the view's page makes a few dozen at most).
API_TIMEOUT = 20.0
#: The cookie the Airflow UI keeps its token in (``airflow.api_fastapi.auth.managers.base_auth_manager``).
TOKEN_COOKIE = "_token"  # noqa: S105 (a cookie name, not a secret)


def user_token(request: Request) -> str | None:
    """The token the request authenticated with: an explicit bearer token wins over the UI's cookie, as in Airflow."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials
    return request.cookies.get(TOKEN_COOKIE) or None


def root_app() -> Any:
    """The api-server's app (the one this plugin's app is mounted in): ``cached_app`` returns the running one."""
    from airflow.api_fastapi.app import cached_app

    return cached_app(apps=os.environ.get("AIRFLOW_API_APPS", "all"))


def api_root_path() -> str:
    """``[api] base_url``'s path (``/`` or ``/airflow/``), under which the REST API is served."""
    from airflow.api_fastapi.app import API_ROOT_PATH

    return str(API_ROOT_PATH)


def airflow_api(token: str, *, app: Any = None, root_path: str | None = None, timeout: float = API_TIMEOUT) -> ApiGet:
    """A ``GET`` on Airflow's REST API with ``token``, each call bounded by ``timeout`` seconds."""
    root = api_root_path() if root_path is None else root_path
    transport = httpx.ASGITransport(app=root_app() if app is None else app, root_path=root.removesuffix("/"))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def get(path: str, params: Mapping[str, Any]) -> Any:
        async with httpx.AsyncClient(transport=transport, base_url="http://airflow", timeout=timeout) as client:
            response = await asyncio.wait_for(
                client.get(f"{root}api/v2/{path}", params=dict(params), headers=headers), timeout
            )
        if response.is_error:
            raise ApiRefused(path, response.status_code)
        return response.json()

    return get
