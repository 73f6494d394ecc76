"""``CodexHook``: an Airflow connection of type ``codex`` → Codex API clients.

The hook only translates a connection into a :class:`~airflow_provider_codex.api.ClientConfig`
and offers typed, window-shaped helpers on top of the clients; every HTTP rule
lives in :mod:`airflow_provider_codex.api`.

Connection fields (see ``get_provider_info.CONN_FIELDS``): ``host`` is the base
URL (default ``https://api.chatgpt.com/v1``); the extras hold ``workspace_id``,
``organization_id``, ``analytics_api_key``, ``compliance_api_key``,
``content_hash_secret``, ``timeout``, ``requests_per_minute``, ``rate_period_seconds``
(the seconds that limit is counted over, default 60), ``verify_ssl``.
Either key may be absent; calling an API whose key is missing raises an
error naming the field to fill.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient, LogFile
from airflow_provider_codex.api.config import ClientConfig, Secret, secret_or_none
from airflow_provider_codex.api.endpoints import (
    API_KEYS,
    CODEX_EVENT_TYPES,
    DEFAULT_BASE_URL,
    DEFAULT_REQUESTS_PER_MINUTE,
    USAGE_WORKSPACE,
    Api,
    endpoint,
)
from airflow_provider_codex.api.errors import CodexError
from airflow_provider_codex.api.paging import Page, window_params
from airflow_provider_codex.api.retry import RetryPolicy

#: The period ``requests_per_minute`` is counted over unless the connection says otherwise.
DEFAULT_RATE_PERIOD_SECONDS = 60.0


class CodexHook(BaseHook):
    """Interact with the OpenAI Codex Analytics and Compliance APIs.

    :param codex_conn_id: the connection of type ``codex``.
    :param retry: retry policy for every call (default: :class:`RetryPolicy`).
    """

    conn_name_attr = "codex_conn_id"
    default_conn_name = "codex_default"
    conn_type = "codex"
    hook_name = "OpenAI Codex"

    def __init__(
        self,
        codex_conn_id: str = default_conn_name,
        *,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.codex_conn_id = codex_conn_id
        self.retry = retry

    # connection → config

    @cached_property
    def config(self) -> ClientConfig:
        """The client configuration read from the connection (keys masked in logs)."""
        return self.config_from_connection(self.get_connection(self.codex_conn_id), self.retry)

    @classmethod
    def config_from_connection(cls, conn: Any, retry: RetryPolicy | None = None) -> ClientConfig:
        extra = conn.extra_dejson or {}
        keys = {api: secret_or_none(extra.get(info.connection_field)) for api, info in API_KEYS.items()}
        for key in keys.values():
            if key is not None:
                mask_secret(key.reveal())
        salt = extra.get("content_hash_secret")
        if salt:
            mask_secret(salt)
        return ClientConfig(
            base_url=cls._base_url(conn),
            workspace_id=_text(extra.get("workspace_id")),
            organization_id=_text(extra.get("organization_id")),
            analytics_api_key=keys[Api.ANALYTICS],
            compliance_api_key=keys[Api.COMPLIANCE],
            timeout=float(extra.get("timeout") or 60),
            request_deadline=float(extra.get("request_deadline") or ClientConfig.request_deadline),
            requests_per_minute=int(extra.get("requests_per_minute") or DEFAULT_REQUESTS_PER_MINUTE),
            rate_period=float(extra.get("rate_period_seconds") or DEFAULT_RATE_PERIOD_SECONDS),
            verify=_bool(extra.get("verify_ssl"), default=True),
            retry=retry or RetryPolicy(),
            source=f"connection '{conn.conn_id}'",
        )

    @staticmethod
    def _base_url(conn: Any) -> str:
        host = (conn.host or "").strip()
        if not host:
            return DEFAULT_BASE_URL
        if "://" not in host:
            scheme = conn.schema or "https"
            port = f":{conn.port}" if conn.port else ""
            host = f"{scheme}://{host}{port}"
        return host.rstrip("/")

    @property
    def content_hash_secret(self) -> Secret | None:
        """The salt for hashing compliance content, from the connection."""
        extra = self.get_connection(self.codex_conn_id).extra_dejson or {}
        return secret_or_none(extra.get("content_hash_secret"))

    # clients

    def get_conn(self) -> CodexClient:
        """The sync client (one per hook, reused: it holds the connection pool; its rate limiter
        is shared with every client of the process that uses the same service and key)."""
        return self.client

    @cached_property
    def client(self) -> CodexClient:
        return CodexClient(self.config)

    async def aget_config(self) -> ClientConfig:
        """:attr:`config`, read without blocking the event loop (for triggers)."""
        conn = await self.aget_connection(self.codex_conn_id)
        return self.config_from_connection(conn, self.retry)

    async def aget_async_client(self) -> AsyncCodexClient:
        """A new async client for a trigger; the caller closes it (``async with``)."""
        return AsyncCodexClient(await self.aget_config())

    # window-shaped helpers (TaskFlow users call these directly)

    def iter_pages(
        self, endpoint_name: str, start: datetime, end: datetime, *, cursor: str | None = None
    ) -> Iterator[Page]:
        """The pages of an analytics endpoint for ``[start, end)``, one at a time."""
        route = endpoint(endpoint_name)
        yield from self.client.iter_pages(route, window_params(route, start, end), cursor=cursor)

    def iter_rows(self, endpoint_name: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """The rows of an analytics endpoint for ``[start, end)`` (``usage``, ``usage_workspace``,
        ``code_reviews``, ``code_review_responses``)."""
        for page in self.iter_pages(endpoint_name, start, end):
            yield from page.rows

    def iter_log_files(
        self,
        start: datetime,
        end: datetime,
        *,
        event_types: Sequence[str] = CODEX_EVENT_TYPES,
        grace: timedelta = timedelta(0),
    ) -> Iterator[LogFile]:
        """Log files that may hold events of ``[start, end)``: ``after=start``, ``before=end+grace``."""
        yield from self.client.iter_log_files(event_types, start, end + grace)

    def iter_list(self, endpoint_name: str) -> Iterator[dict[str, Any]]:
        """Every record of a compliance list (``codex_tasks``, ``codex_environments``)."""
        for page in self.client.iter_pages(endpoint(endpoint_name)):
            yield from page.rows

    # Airflow UI / CLI

    def test_connection(self) -> tuple[bool, str]:
        """Check each configured key against its own API; say which failed and why."""
        try:
            config = self.config_from_connection(
                self.get_connection(self.codex_conn_id), RetryPolicy(max_attempts=2, backoff_max=2)
            )
        except (ValueError, TypeError) as bad:
            return False, f"connection '{self.codex_conn_id}' is misconfigured: {bad}"
        checks = {Api.ANALYTICS: config.analytics_api_key, Api.COMPLIANCE: config.compliance_api_key}
        if not any(checks.values()):
            fields = " or ".join(f"'{info.connection_field}'" for info in API_KEYS.values())
            return False, f"connection '{self.codex_conn_id}' has no key: fill {fields}"
        results: list[str] = []
        ok = True
        with CodexClient(config) as client:
            for api, key in checks.items():
                if key is None:
                    results.append(f"{api.value}: no key configured (skipped)")
                    continue
                try:
                    _probe(client, api)
                except CodexError as failed:
                    ok = False
                    results.append(f"{api.value}: FAILED: {failed}")
                else:
                    results.append(f"{api.value}: OK")
        return ok, "; ".join(results)

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]


def _probe(client: CodexClient, api: Api) -> None:
    """The cheapest call that proves a key works on its API."""
    if api is Api.ANALYTICS:
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        route = USAGE_WORKSPACE
        next(iter(client.iter_pages(route, window_params(route, end - timedelta(days=1), end), limit=1)))
    else:
        client.max_event_time(CODEX_EVENT_TYPES[:1])


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _bool(value: Any, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in {"false", "0", "no", "off"}
