"""``CodexHook``: an Airflow connection of type ``codex`` → Codex API clients.

The hook only translates a connection into a :class:`~airflow_provider_codex.api.ClientConfig`
and offers typed, window-shaped helpers on top of the clients; every HTTP rule
lives in :mod:`airflow_provider_codex.api`.

Connection fields (see ``get_provider_info.CONN_FIELDS``): ``host`` is the base
URL (default ``https://api.chatgpt.com/v1``); the extras hold ``workspace_id``,
``organization_id``, ``analytics_api_key``, ``compliance_api_key``,
``content_hash_secret``, ``timeout``, ``requests_per_minute``, ``rate_period_seconds``
(the seconds that limit is counted over, default 60), ``verify_ssl``,
``rate_limit_backend`` (``host``, the default: one budget per machine; ``process``; or
``redis``: one for every worker, see :mod:`.budget`) and ``rate_limit_redis_conn_id``
(default ``redis_default``).
Either key may be absent; calling an API whose key is missing raises an
error naming the field to fill.

The URI form works too: ``codex://api.chatgpt.com/v1?workspace_id=…&analytics_api_key=…``
is ``https://api.chatgpt.com/v1`` (Airflow puts the URI's path into ``schema``; the
hook reads it as the base path). The scheme is ``https`` unless the ``scheme`` extra
says ``http``, or ``schema`` itself is ``http``/``https`` (as the HTTP provider reads it).

Every field is checked when the connection is read: a wrong value fails at once
with a :class:`~airflow_provider_codex.api.errors.CodexConfigError` that names the
field and the fix, before any request is made or anything is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.log import mask_secret

from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.config import ClientConfig, Secret, checked_owner_id, secret_or_none
from airflow_provider_codex.api.downloads import LogFile
from airflow_provider_codex.api.endpoints import (
    API_KEYS,
    CODEX_EVENT_TYPES,
    DEFAULT_BASE_URL,
    USAGE_WORKSPACE,
    Api,
    Owner,
)
from airflow_provider_codex.api.errors import CodexConfigError, CodexError
from airflow_provider_codex.api.paging import Page, window_params
from airflow_provider_codex.api.retry import RetryPolicy
from airflow_provider_codex.datasets import Source, endpoint_for
from airflow_provider_codex.get_provider_info import CONN_FIELDS
from airflow_provider_codex.hooks.budget import REDIS, budget_choice, missing_redis_connection, rate_budget

#: The schemes a base URL may have.
SCHEMES = ("https", "http")


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
    def config_from_connection(
        cls, conn: Any, retry: RetryPolicy | None = None, *, redis_conn: Any = None
    ) -> ClientConfig:
        """The config of ``conn``; with the ``redis`` budget backend, ``redis_conn`` is its Redis
        connection (read here when not given)."""
        source = _source(conn)
        extra = connection_extra(conn)
        choice = budget_choice(extra, source)
        keys = {api: secret_or_none(_text(extra.get(info.connection_field))) for api, info in API_KEYS.items()}
        for key in keys.values():
            if key is not None:
                mask_secret(key.reveal())
        salt = extra.get("content_hash_secret")
        if salt:
            mask_secret(str(salt))
        return ClientConfig(
            base_url=cls._base_url(conn, extra, source),
            workspace_id=checked_owner_id(Owner.WORKSPACE, extra.get("workspace_id"), source),
            organization_id=checked_owner_id(Owner.ORGANIZATION, extra.get("organization_id"), source),
            analytics_api_key=keys[Api.ANALYTICS],
            compliance_api_key=keys[Api.COMPLIANCE],
            timeout=_number(extra, "timeout", source),
            request_deadline=_number(extra, "request_deadline", source),
            requests_per_minute=int(_number(extra, "requests_per_minute", source)),
            rate_period=_number(extra, "rate_period_seconds", source),
            verify=_bool(extra, "verify_ssl", source, default=True),
            retry=retry or RetryPolicy(),
            rate_budget=rate_budget(choice, source, redis_conn),
            source=source,
        )

    @staticmethod
    def _base_url(conn: Any, extra: Mapping[str, Any], source: str) -> str:
        """The base URL from a full URL in ``host``, or from a URI-form connection's parts.

        As the HTTP provider's ``HttpHook`` does, ``schema`` may name the scheme; any
        other ``schema`` is the path of a URI-form connection (``codex://host/v1``).
        """
        host = (conn.host or "").strip()
        schema = (conn.schema or "").strip().strip("/")
        scheme = _text(extra.get("scheme"))
        if not host:
            url = DEFAULT_BASE_URL
        elif "://" in host:
            url = host
        else:
            if schema.lower() in SCHEMES:
                scheme, schema = scheme or schema.lower(), ""
            port = f":{conn.port}" if conn.port else ""
            path = f"/{schema}" if schema else ""
            url = f"{(scheme or 'https').lower()}://{host}{port}{path}"
        parts = urlsplit(url)
        if parts.scheme.lower() not in SCHEMES or not parts.netloc:
            raise CodexConfigError(
                f"{source}: base URL {url!r} is not an http(s) URL: give the host as "
                f"'{DEFAULT_BASE_URL}', or the URI as 'codex://host:port/v1' (scheme https; "
                "add ?scheme=http for a plain-HTTP server)"
            )
        return url.rstrip("/")

    @property
    def content_hash_secret(self) -> Secret | None:
        """The salt for hashing compliance content, from the connection."""
        return secret_or_none(
            _text(connection_extra(self.get_connection(self.codex_conn_id)).get("content_hash_secret"))
        )

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
        choice = budget_choice(connection_extra(conn), _source(conn))
        redis_conn = None
        if choice.backend == REDIS:
            try:
                redis_conn = await self.aget_connection(choice.redis_conn_id)
            except AirflowNotFoundException:
                raise missing_redis_connection(choice, _source(conn)) from None
        return self.config_from_connection(conn, self.retry, redis_conn=redis_conn)

    async def aget_async_client(self) -> AsyncCodexClient:
        """A new async client for a trigger; the caller closes it (``async with``)."""
        return AsyncCodexClient(await self.aget_config())

    # window-shaped helpers (TaskFlow users call these directly)

    def iter_pages(self, dataset: str, start: datetime, end: datetime, *, cursor: str | None = None) -> Iterator[Page]:
        """The pages of an analytics dataset for ``[start, end)``, one at a time."""
        route = endpoint_for(dataset, Source.ANALYTICS_WINDOW)
        yield from self.client.iter_pages(route, window_params(route, start, end), cursor=cursor)

    def iter_rows(self, dataset: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """The rows of an analytics dataset for ``[start, end)`` (``usage``, ``usage_workspace``,
        ``code_reviews``, ``code_review_responses``)."""
        for page in self.iter_pages(dataset, start, end):
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

    def iter_list(self, dataset: str) -> Iterator[dict[str, Any]]:
        """Every record of a compliance list dataset (``codex_tasks``, ``codex_environments``)."""
        for page in self.client.iter_pages(endpoint_for(dataset, Source.SNAPSHOT)):
            yield from page.rows

    # Airflow UI / CLI

    def test_connection(self) -> tuple[bool, str]:
        """Check each configured key against its own API; say which failed and why."""
        try:
            config = self.config_from_connection(
                self.get_connection(self.codex_conn_id), RetryPolicy(max_attempts=2, backoff_max=2)
            )
        except (CodexConfigError, ValueError, TypeError) as bad:
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


def connection_extra(conn: Any) -> dict[str, Any]:
    """The connection's extras as a JSON object, read from ``conn.extra`` itself.

    Airflow's ``extra_dejson`` logs invalid JSON and returns ``{}``, which would
    surface later as "no key"; a list would fail as an attribute error. Either
    is a :class:`CodexConfigError` that says what the extra must be. The message
    never quotes the extra: it holds the keys.
    """
    source = _source(conn)
    raw = conn.extra
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError as bad:
            where = (
                f" (line {bad.lineno}, column {bad.colno}: {bad.msg})" if isinstance(bad, json.JSONDecodeError) else ""
            )
            raise CodexConfigError(
                f"{source}: its extra is not valid JSON{where}: give the extra fields as one JSON object, "
                'such as {"workspace_id": "…", "analytics_api_key": "…"}'
            ) from None
    else:
        value = raw
    if not isinstance(value, dict):
        raise CodexConfigError(
            f"{source}: its extra is a JSON {type(value).__name__}, not an object: give the extra fields as "
            'one JSON object, such as {"workspace_id": "…", "analytics_api_key": "…"}'
        )
    return value


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _source(conn: Any) -> str:
    """How errors name the connection a field came from."""
    return f"connection '{conn.conn_id}'"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}…"


def _number(extra: Mapping[str, Any], field: str, source: str) -> float:
    """A numeric extra, checked against its bounds in ``CONN_FIELDS`` (strings come from URIs and forms)."""
    schema = CONN_FIELDS[field]["schema"]
    integer = "integer" in schema["type"]
    value = extra.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return float(schema["default"])
    number: float | None = None
    if not isinstance(value, bool):
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            number = None
    above, maximum = schema["exclusiveMinimum"], schema.get("maximum")
    if (
        number is None
        or not math.isfinite(number)
        or number <= above
        or (maximum is not None and number > maximum)
        or (integer and not number.is_integer())
    ):
        kind = "a whole number" if integer else "a number"
        bounds = f"above {above:g}" + (f" and at most {maximum:g}" if maximum is not None else "")
        raise CodexConfigError(
            f"{source}: '{field}' must be {kind} {bounds}, got {_shown(value)}: fix the '{field}' field "
            f"(or leave it empty for the default, {schema['default']})"
        )
    return number


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _bool(extra: Mapping[str, Any], field: str, source: str, *, default: bool) -> bool:
    value = extra.get(field)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE and not isinstance(value, float):
        return text in _TRUE
    raise CodexConfigError(
        f"{source}: '{field}' must be true or false, got {_shown(value)}: fix the '{field}' field "
        f"(or leave it empty for the default, {str(default).lower()})"
    )
