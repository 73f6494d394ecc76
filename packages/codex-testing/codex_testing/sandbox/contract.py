"""Every route of the contract as a FastAPI route, built from the registry; FastAPI validates the queries.

Routes, paging fields, limits, window parameters and key scopes all come from
:mod:`airflow_provider_codex.api.endpoints`, so the sandbox and the client
cannot drift apart silently. A request goes through, in order:

1. routing (unknown path: 404; a method other than GET: 405);
2. bearer auth: missing or unknown key 401; the other API's key 403, naming the
   missing scope;
3. the owner id: unknown workspace or organization: 404;
4. faults (:class:`~.faults.Faults`): ``slow_ms``, the rate limiter, injected
   429s (with ``Retry-After``) and 5xx (503, 502, 500 in turn);
5. validation (422 in the FastAPI shape the contract gives, every problem of the
   request at once) and the answer (:mod:`.answers`).

Steps 1-4 are the route's first dependency: FastAPI solves dependencies before
it validates the route's own parameters. No postponed annotations here: FastAPI
reads the ``Annotated`` metadata of the signatures, which names the factories'
values (aliases and limits from the registry).
"""

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from pydantic import PlainValidator
from pydantic_core import PydanticCustomError
from starlette.responses import Response

from airflow_provider_codex.api.endpoints import (
    API_KEYS,
    COMPLIANCE_LOGS,
    DEFAULT_BASE_URL,
    ENDPOINTS,
    EVENT_TYPE_PARAM,
    LIMIT_PARAM,
    MAX_EVENT_TIME,
    Endpoint,
    Owner,
    Paging,
)

from . import answers
from .responses import Refusal, format_retry_after, invalid

if TYPE_CHECKING:
    from .server import SandboxServer

#: The path of the service URL (``/v1``): the sandbox serves the contract under it.
API_PREFIX = urlsplit(DEFAULT_BASE_URL).path.rstrip("/")
#: The range of Unix-second parameters the sandbox accepts (1970 .. 9999).
MAX_UNIX_SECONDS = 253_402_300_799
#: The scope key holding the route a request counts under in the stats.
ROUTE_KEY = "codex_sandbox.route"
#: Methods the contract routes answer (405 for all but GET).
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_5XX_CYCLE = (503, 502, 500)


def _aware(value: Any) -> datetime:
    """An ISO 8601 date-time that must carry a time zone (``datetime.fromisoformat``'s grammar)."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise PydanticCustomError(
            "datetime_parsing", "Input should be a valid datetime (ISO 8601 with a time zone)"
        ) from None
    if moment.tzinfo is None:
        raise PydanticCustomError("timezone_aware", "Input should have timezone info")
    return moment


_AWARE = PlainValidator(_aware)


def _choose(endpoints: Sequence[Endpoint], query: Mapping[str, str]) -> Endpoint:
    """Pick among endpoints sharing a path by their fixed params (``group=workspace``)."""
    matching = [e for e in endpoints if all(query.get(k) == v for k, v in e.fixed_params.items())]
    return max(matching or endpoints[:1], key=lambda e: len(e.fixed_params))


def _check_fixed(endpoints: Sequence[Endpoint], query: Mapping[str, str]) -> None:
    """A fixed parameter (``group``) with a value no endpoint of the path takes: a 422 of its own."""
    for name in sorted({n for e in endpoints for n in e.fixed_params}):
        allowed = sorted({e.fixed_params[name] for e in endpoints if name in e.fixed_params})
        value = query.get(name)
        if value is not None and value not in allowed:
            raise invalid(name, "Input should be " + " or ".join(repr(a) for a in allowed), value, "enum")


def _authorize(server: "SandboxServer", endpoint: Endpoint, header: str | None) -> None:
    challenge = {"WWW-Authenticate": 'Bearer realm="codex-sandbox"'}
    if header is None or not header.startswith("Bearer ") or not header[7:].strip():
        raise Refusal(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            "invalid_request_error",
            "missing_api_key",
            challenge,
        )
    api = server.keys.get(header[7:].strip())
    if api is None:
        raise Refusal(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key", challenge)
    if api != endpoint.api:
        raise Refusal(
            403,
            f"You have insufficient permissions for this operation. Missing "
            f"scopes: {API_KEYS[endpoint.api].scope}. This key belongs to the {api.value} API.",
            "permission_error",
            "missing_scope",
        )


async def _inject_faults(server: "SandboxServer", endpoint: Endpoint, owner_id: str) -> None:
    faults = server.faults
    if faults.slow_ms:
        await asyncio.sleep(faults.slow_ms / 1000)
    http_date = faults.retry_after_format == "http-date"
    if faults.rate_limit_per_minute:
        wait = server.limiter.acquire(f"{endpoint.name}:{owner_id}", faults.rate_limit_per_minute, faults.time_scale)
        if wait is not None:
            seconds = float(math.ceil(wait)) if faults.time_scale == 1 else math.ceil(wait * 1000) / 1000
            raise Refusal(
                429,
                f"Rate limit of {faults.rate_limit_per_minute} requests per minute exceeded for this route",
                "rate_limit_error",
                "rate_limit_exceeded",
                {"Retry-After": format_retry_after(seconds, http_date)},
            )
    number = faults.count_request(endpoint.name)
    if number <= faults.fail_429_first_n or (faults.fail_429_every and number % faults.fail_429_every == 0):
        raise Refusal(
            429,
            "Rate limit exceeded (injected by the sandbox)",
            "rate_limit_error",
            "rate_limit_exceeded",
            {"Retry-After": format_retry_after(faults.retry_after, http_date)},
        )
    if faults.fail_5xx_every and number % faults.fail_5xx_every == 0:
        status = _5XX_CYCLE[(number // faults.fail_5xx_every - 1) % len(_5XX_CYCLE)]
        raise Refusal(status, "The server had an error (injected by the sandbox)", "server_error")


def _checks(server: "SandboxServer", owner: Owner, endpoints: Sequence[Endpoint]) -> Callable[..., Awaitable[Endpoint]]:
    """Steps 1-4: the endpoint the request is for, or a :class:`Refusal`."""

    async def checks(request: Request, owner_id: str) -> Endpoint:
        endpoint = _choose(endpoints, request.query_params)
        request.scope[ROUTE_KEY] = endpoint.name
        if request.method != "GET":
            message = f"Method {request.method} not allowed"
            raise Refusal(405, message, "invalid_request_error", headers={"Allow": "GET"})
        _authorize(server, endpoint, request.headers.get("Authorization"))
        if owner_id != server.owner_ids[owner]:
            message = f"{owner.value.capitalize()} {owner_id!r} not found"
            raise Refusal(404, message, "invalid_request_error", "not_found")
        await _inject_faults(server, endpoint, owner_id)
        _check_fixed(endpoints, request.query_params)
        return endpoint

    return checks


def _route(server: "SandboxServer", endpoints: Sequence[Endpoint], owner: Owner) -> Callable[..., Response]:
    """The route function of a path: its query parameters, declared from the registry, then its answer."""
    first = endpoints[0]
    checked = Depends(_checks(server, owner, endpoints))
    limit_query = Query(alias=LIMIT_PARAM, ge=1, le=first.max_limit)
    if first.redirects_to_signed_url:

        def log_file(*, endpoint: Annotated[Endpoint, checked], log_file_id: str) -> Response:
            return answers.log_file(server, log_file_id)

        return log_file
    if first.paging == Paging.NEXT_PAGE:
        start_name, end_name = answers.window(first)

        def analytics(
            *,
            endpoint: Annotated[Endpoint, checked],
            limit: Annotated[int | None, limit_query] = None,
            start: Annotated[int | None, Query(alias=start_name, ge=0, le=MAX_UNIX_SECONDS)] = None,
            end: Annotated[int | None, Query(alias=end_name, ge=0, le=MAX_UNIX_SECONDS)] = None,
            page: Annotated[str | None, Query(alias=answers.cursor_names(first)[0])] = None,
        ) -> Response:
            return answers.analytics(server, endpoint, limit, start, end, page)

        return analytics
    if first.name == COMPLIANCE_LOGS.name:
        after_name, before_name = answers.window(first)

        def logs(
            *,
            request: Request,
            endpoint: Annotated[Endpoint, checked],
            event_types: Annotated[list[str], Query(alias=EVENT_TYPE_PARAM)],
            after: Annotated[datetime, Query(alias=after_name), _AWARE],
            before: Annotated[datetime | None, Query(alias=before_name), _AWARE] = None,
            limit: Annotated[int | None, limit_query] = None,
        ) -> Response:
            return answers.logs(server, endpoint, event_types, after, before, limit, request.query_params)

        return logs
    if first.name == MAX_EVENT_TIME.name:

        def max_event_time(
            *,
            endpoint: Annotated[Endpoint, checked],
            event_types: Annotated[list[str] | None, Query(alias=EVENT_TYPE_PARAM)] = None,
        ) -> Response:
            return answers.max_event_time(server, event_types or ())

        return max_event_time

    def records(
        *,
        endpoint: Annotated[Endpoint, checked],
        limit: Annotated[int | None, limit_query] = None,
        after: Annotated[str | None, Query(alias=answers.cursor_names(first)[0])] = None,
    ) -> Response:
        return answers.records(server, endpoint, limit, after)

    return records


def router(server: "SandboxServer") -> APIRouter:
    """Every path of the registry, once per owner, under the service URL's path."""
    paths: dict[tuple[str, Owner], list[Endpoint]] = {}
    for endpoint in ENDPOINTS.values():
        for owner in endpoint.owners:
            paths.setdefault((endpoint.route(owner), owner), []).append(endpoint)
    routes = APIRouter()
    for (template, owner), endpoints in paths.items():
        routes.add_api_route(API_PREFIX + template, _route(server, endpoints, owner), methods=METHODS)
    return routes
