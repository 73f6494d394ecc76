"""The sandbox HTTP server: every route of the contract, on loopback, plus a control API.

Routes, paging fields, limits, window parameters and key scopes all come from
:mod:`airflow_provider_codex.api.endpoints`, so the sandbox and the client
cannot drift apart silently. A request goes through, in order:

1. routing (unknown path: 404; a method other than GET: 405);
2. bearer auth: missing or unknown key 401; the other API's key 403, naming the
   missing scope;
3. the owner id: unknown workspace or organization: 404;
4. faults (:class:`~.faults.Faults`): ``slow_ms``, the rate limiter, injected
   429s and 5xx;
5. validation (422) and the answer.

Choices where the contract is silent (the client must not depend on them):

* analytics: a row is in a window when its ``start_time`` is in
  ``[start_time, end_time)``; only ``end_time`` given: the 30 days before it;
  only ``start_time``: up to the end of today; no ``limit``: 1000 rows. The
  cursor carries the window, so ``page`` alone is enough; a ``page`` with a
  different window is a 422;
* ``/logs``: files with ``after < end_time < before`` (both exclusive);
  ``last_end_time`` is null on an empty page; unknown event types have no files;
* ``/max_event_time``: without ``event_type``, every Codex event type;
* faults answer 429 with ``Retry-After`` and 5xx (503, 502, 500 in turn) with
  the OpenAI-style error body.

The control API lives under ``/_sandbox/`` at the server root, outside the
contract's ``/v1``, and needs no key:

* ``GET /_sandbox/info``: URLs, ids and keys;
* ``GET /_sandbox/stats``: counts per route and status, 429s sent, the
  download host's requests with their headers (see :class:`~.stats.Stats`);
* ``GET|POST /_sandbox/faults``: read or replace the faults (JSON object;
  fields left out return to their defaults);
* ``GET|POST /_sandbox/clock``: read or set "now": ``{"now": "2026-11-25T06:00:00Z"}``,
  ``{"now": null}`` (back to the default) or ``{"advance_seconds": 3600}``;
* ``POST /_sandbox/reset``: faults from the config, counters, stats, limiter and clock reset.
"""

from __future__ import annotations

import bisect
import email.utils
import logging
import math
import re
import string
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_codex import _json
from airflow_provider_codex.api.endpoints import (
    API_KEYS,
    CODEX_ENVIRONMENTS,
    CODEX_EVENT_TYPES,
    CODEX_TASKS,
    COMPLIANCE_LOG_FILE,
    COMPLIANCE_LOGS,
    DEFAULT_BASE_URL,
    ENDPOINTS,
    EVENT_TYPE_PARAM,
    LIMIT_PARAM,
    MAX_EVENT_TIME,
    WINDOW_PARAMS,
    Api,
    Endpoint,
    Owner,
    Paging,
)

from ._httpd import SandboxHTTPServer, sandbox_of
from ._synth import iso_ms, iso_s
from .clock import SandboxClock
from .config import SandboxConfig
from .cursor import CursorCodec, CursorError, PageCursor
from .data import SandboxData
from .download import DownloadHandler, UrlSigner, file_url
from .faults import Faults, RateLimiter
from .params import MAX_UNIX_SECONDS, Query, ValidationFailed, detail
from .stats import Stats

log = logging.getLogger(__name__)

#: The path of the service URL (``/v1``): the sandbox serves the contract under it.
API_PREFIX = urlsplit(DEFAULT_BASE_URL).path.rstrip("/")
#: The control API's prefix (not part of the contract).
CONTROL_PREFIX = "/_sandbox"
_5XX_CYCLE = (503, 502, 500)


@dataclass
class Response:
    """An answer, fully in memory."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"


def json_response(status: int, value: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, _json.dumps(value), headers or [])


def error_response(
    status: int, message: str, type_: str, code: str | None = None, headers: list[tuple[str, str]] | None = None
) -> Response:
    """The OpenAI-style error body ``{"error": {"message", "type", "param", "code"}}``."""
    return json_response(status, {"error": {"message": message, "type": type_, "param": None, "code": code}}, headers)


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    owner: Owner
    endpoints: tuple[Endpoint, ...]


def _compile(template: str) -> re.Pattern[str]:
    """``/a/{owner_id}/logs/{log_file_id}`` -> an anchored regex with named groups."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P<{name}>[^/]+)")
    return re.compile("".join(parts) + r"\Z")


def _routes() -> list[_Route]:
    by_template: dict[tuple[str, Owner], list[Endpoint]] = {}
    for endpoint in ENDPOINTS.values():
        for owner in endpoint.owners:
            by_template.setdefault((endpoint.route(owner), owner), []).append(endpoint)
    return [_Route(_compile(template), owner, tuple(endpoints)) for (template, owner), endpoints in by_template.items()]


def _window(endpoint: Endpoint) -> tuple[str, str]:
    window = WINDOW_PARAMS[endpoint.window]
    if window is None:
        raise RuntimeError(f"the registry gives endpoint {endpoint.name!r} no time window")
    return window


def _cursor(endpoint: Endpoint) -> tuple[str, str]:
    """(query parameter, response field) of an endpoint's paging cursor."""
    rule = endpoint.paging_rule
    if rule.cursor_param is None or rule.cursor_field is None:
        raise RuntimeError(f"the registry gives endpoint {endpoint.name!r} no paging cursor")
    return rule.cursor_param, rule.cursor_field


def _max_limit(endpoint: Endpoint) -> int:
    if endpoint.max_limit is None:
        raise RuntimeError(f"the registry gives endpoint {endpoint.name!r} no max_limit")
    return endpoint.max_limit


def _default_limit(endpoint: Endpoint) -> int:
    return endpoint.service_default_limit or _max_limit(endpoint)


def format_retry_after(seconds: float, http_date: bool) -> str:
    """``Retry-After`` as seconds (``"2"``, or ``"0.25"`` under 1 s) or an HTTP date (rounded up)."""
    if http_date:
        return email.utils.formatdate(math.ceil(time.time() + seconds), usegmt=True)
    if seconds == int(seconds):
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


class SandboxServer:
    """The API server and the download server of one sandbox, sharing data, faults and stats."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = SandboxClock(config.today, config.now)
        self.faults: Faults = config.faults.copy()
        self.data = SandboxData(config, self.clock, self.faults)
        self.stats = Stats()
        self.limiter = RateLimiter()
        self.signer = UrlSigner(config.signed_url_ttl_seconds)
        self.cursors = CursorCodec(config.seed)
        self._routes = _routes()
        self._keys: Mapping[str, Api] = {config.analytics_key: Api.ANALYTICS, config.compliance_key: Api.COMPLIANCE}
        self._owners: Mapping[Owner, str] = {
            Owner.WORKSPACE: config.workspace_id,
            Owner.ORGANIZATION: config.organization_id,
        }
        self._handlers: Mapping[str, Callable[[Endpoint, Query], Response]] = {
            COMPLIANCE_LOGS.name: self._logs,
            MAX_EVENT_TIME.name: self._max_event_time,
            CODEX_TASKS.name: self._records,
            CODEX_ENVIRONMENTS.name: self._records,
        }
        self._api = SandboxHTTPServer((config.host, config.port), ApiHandler, self)
        self._download = SandboxHTTPServer((config.host, config.download_port), DownloadHandler, self)
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        host, port = self._api.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The service URL to give a client (``http://127.0.0.1:PORT/v1``)."""
        return self.root_url + API_PREFIX

    @property
    def control_url(self) -> str:
        return self.root_url + CONTROL_PREFIX

    @property
    def download_url(self) -> str:
        host, port = self._download.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve both sockets from background threads."""
        for name, httpd in (("api", self._api), ("download", self._download)):
            thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name=f"codex-sandbox-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for httpd in (self._api, self._download):
            if self._threads:
                httpd.shutdown()
            httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def reset(self) -> None:
        """Faults back to the config's, counters, stats, rate limiter and clock reset."""
        self.faults.replace_all(self.config.faults.as_dict())
        self.stats.reset()
        self.limiter.reset()
        self.clock.set(None)

    def info(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "control_url": self.control_url,
            "download_url": self.download_url,
            "workspace_id": self.config.workspace_id,
            "organization_id": self.config.organization_id,
            "analytics_key": self.config.analytics_key,
            "compliance_key": self.config.compliance_key,
            "seed": self.config.seed,
            "today": self.config.today.isoformat(),
            "now": iso_s(self.clock.now()),
            "clock_live": self.clock.live,
        }

    def stats_snapshot(self) -> dict[str, Any]:
        snapshot = self.stats.snapshot()
        snapshot["faults"] = self.faults.as_dict()
        snapshot["now"] = iso_s(self.clock.now())
        return snapshot

    # -- dispatch ----------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, authorization: str | None, body: bytes) -> tuple[Response, str | None]:
        """Answer one request; also return the route name to count it under (``None``: don't)."""
        split = urlsplit(raw_path)
        path = split.path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self._control(method, path[len(CONTROL_PREFIX) :], body), None
        if not path.startswith(API_PREFIX + "/"):
            return error_response(404, f"Unknown path {path}", "invalid_request_error", "not_found"), "unknown"
        sub_path = path[len(API_PREFIX) :]
        for route in self._routes:
            match = route.pattern.match(sub_path)
            if match is not None:
                break
        else:
            return error_response(404, f"Unknown path {path}", "invalid_request_error", "not_found"), "unknown"
        query = Query(parse_qs(split.query, keep_blank_values=True))
        endpoint = self._choose(route.endpoints, query)
        if method != "GET":
            return error_response(
                405, f"Method {method} not allowed", "invalid_request_error", headers=[("Allow", "GET")]
            ), endpoint.name
        refused = self._authorize(endpoint, authorization)
        if refused is not None:
            return refused, endpoint.name
        if match.group("owner_id") != self._owners[route.owner]:
            return error_response(
                404,
                f"{route.owner.value.capitalize()} {match.group('owner_id')!r} not found",
                "invalid_request_error",
                "not_found",
            ), endpoint.name
        injected = self._inject_faults(endpoint, match.group("owner_id"))
        if injected is not None:
            return injected, endpoint.name
        try:
            query.check()
            if endpoint.name == COMPLIANCE_LOG_FILE.name:
                return self._log_file(match.group("log_file_id")), endpoint.name
            if endpoint.paging == Paging.NEXT_PAGE:
                return self._analytics(endpoint, query), endpoint.name
            return self._handlers[endpoint.name](endpoint, query), endpoint.name
        except ValidationFailed as invalid:
            return json_response(422, {"detail": invalid.details}), endpoint.name

    def _choose(self, endpoints: tuple[Endpoint, ...], query: Query) -> Endpoint:
        """Pick among endpoints sharing a path by their fixed params (``group=workspace``)."""
        fixed_names = {name for e in endpoints for name in e.fixed_params}
        for name in sorted(fixed_names):
            value = query.one(name)
            allowed = sorted({e.fixed_params[name] for e in endpoints if name in e.fixed_params})
            if value is not None and value not in allowed:
                query.fail(name, "Input should be " + " or ".join(repr(a) for a in allowed), "enum", value)
        matching = [e for e in endpoints if all(query.one(k) == v for k, v in e.fixed_params.items())]
        return max(matching or endpoints[:1], key=lambda e: len(e.fixed_params))

    def _authorize(self, endpoint: Endpoint, header: str | None) -> Response | None:
        challenge = [("WWW-Authenticate", 'Bearer realm="codex-sandbox"')]
        if header is None or not header.startswith("Bearer ") or not header[7:].strip():
            return error_response(
                401,
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                "invalid_request_error",
                "missing_api_key",
                challenge,
            )
        api = self._keys.get(header[7:].strip())
        if api is None:
            return error_response(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key", challenge
            )
        if api != endpoint.api:
            scope = API_KEYS[endpoint.api].scope
            return error_response(
                403,
                f"You have insufficient permissions for this operation. Missing "
                f"scopes: {scope}. This key belongs to the {api.value} API.",
                "permission_error",
                "missing_scope",
            )
        return None

    def _inject_faults(self, endpoint: Endpoint, owner_id: str) -> Response | None:
        faults = self.faults
        if faults.slow_ms:
            time.sleep(faults.slow_ms / 1000)
        http_date = faults.retry_after_format == "http-date"
        if faults.rate_limit_per_minute:
            wait = self.limiter.acquire(f"{endpoint.name}:{owner_id}", faults.rate_limit_per_minute, faults.time_scale)
            if wait is not None:
                seconds = float(math.ceil(wait)) if faults.time_scale == 1 else math.ceil(wait * 1000) / 1000
                return error_response(
                    429,
                    f"Rate limit of {faults.rate_limit_per_minute} requests per minute exceeded for this route",
                    "rate_limit_error",
                    "rate_limit_exceeded",
                    [("Retry-After", format_retry_after(seconds, http_date))],
                )
        number = faults.count_request(endpoint.name)
        if number <= faults.fail_429_first_n or (faults.fail_429_every and number % faults.fail_429_every == 0):
            return error_response(
                429,
                "Rate limit exceeded (injected by the sandbox)",
                "rate_limit_error",
                "rate_limit_exceeded",
                [("Retry-After", format_retry_after(faults.retry_after, http_date))],
            )
        if faults.fail_5xx_every and number % faults.fail_5xx_every == 0:
            status = _5XX_CYCLE[(number // faults.fail_5xx_every - 1) % len(_5XX_CYCLE)]
            return error_response(status, "The server had an error (injected by the sandbox)", "server_error")
        return None

    # -- contract routes ---------------------------------------------------------------------

    def _page_size(self, limit: int) -> int:
        return max(1, limit // 3) if self.faults.short_pages else limit

    def _analytics(self, endpoint: Endpoint, query: Query) -> Response:
        start_name, end_name = _window(endpoint)
        rule = endpoint.paging_rule
        cursor_param, cursor_field = _cursor(endpoint)
        limit = query.integer(LIMIT_PARAM, minimum=1, maximum=_max_limit(endpoint)) or _default_limit(endpoint)
        start = query.integer(start_name, minimum=0, maximum=MAX_UNIX_SECONDS)
        end = query.integer(end_name, minimum=0, maximum=MAX_UNIX_SECONDS)
        raw_cursor = query.one(cursor_param)
        query.check()
        if raw_cursor is not None:
            try:
                cursor = self.cursors.decode(raw_cursor, endpoint.name)
            except CursorError as bad:
                raise ValidationFailed([detail(cursor_param, str(bad), "value_error", raw_cursor)]) from None
            for name, given, expected in ((start_name, start, cursor.start_time), (end_name, end, cursor.end_time)):
                if given is not None and given != expected:
                    query.fail(name, f"{name} differs from the query the page cursor belongs to", "value_error", given)
            query.check()
        else:
            default_start, default_end = self.data.default_analytics_window()
            if end is None:
                end = default_end
            if start is None:  # the 30 days before end (the default window when both are omitted)
                start = end - (default_end - default_start)
            if start >= end:
                query.fail(start_name, f"{start_name} must be earlier than {end_name}", "value_error", start)
                query.check()
            cursor = PageCursor(endpoint.name, start, end, 0)
        rows, has_more = self.data.analytics_window(
            endpoint.name, cursor.start_time, cursor.end_time, cursor.offset, self._page_size(limit)
        )
        next_page: str | None = None
        if has_more or self.faults.endless_cursor:
            next_page = self.cursors.encode(
                PageCursor(endpoint.name, cursor.start_time, cursor.end_time, cursor.offset + len(rows))
            )
        if self.faults.endless_cursor:
            has_more = True
            next_page = raw_cursor or next_page
        body = b"".join(
            (
                b'{"object":"page",',
                _json.dumps(rule.data_field),
                b":[",
                b",".join(rows),
                b"],",
                _json.dumps(rule.has_more_field),
                b":",
                b"true" if has_more else b"false",
                b",",
                _json.dumps(cursor_field),
                b":",
                _json.dumps(next_page),
                b"}",
            )
        )
        return Response(200, body)

    def _logs(self, endpoint: Endpoint, query: Query) -> Response:
        after_name, before_name = _window(endpoint)
        rule = endpoint.paging_rule
        _, cursor_field = _cursor(endpoint)
        event_types = query.require(EVENT_TYPE_PARAM)
        after = query.timestamp(after_name, required=True)
        before = query.timestamp(before_name, required=False)
        limit = query.integer(LIMIT_PARAM, minimum=1, maximum=_max_limit(endpoint)) or _default_limit(endpoint)
        query.check()
        if after is None:  # unreachable: check() refused the request
            raise ValidationFailed(query.errors)
        if before is not None and before <= after:
            query.fail(
                before_name, f"{before_name} must be later than {after_name}", "value_error", query.one(before_name)
            )
            query.check()
        files, has_more = self.data.list_log_files(event_types, after, before, self._page_size(limit))
        last: str | None = iso_s(files[-1].end_time) if files else None
        if self.faults.endless_cursor:
            has_more, last = True, query.one(after_name)
        return json_response(
            200, {rule.data_field: [f.listing() for f in files], rule.has_more_field: has_more, cursor_field: last}
        )

    def _log_file(self, file_id: str) -> Response:
        info = self.data.log_file(file_id)
        if info is None:
            return error_response(404, f"Log file {file_id!r} not found", "invalid_request_error", "not_found")
        location = file_url(self.download_url, info.id, self.signer)
        return Response(307, b"", [("Location", location), ("Cache-Control", "no-store")])

    def _max_event_time(self, endpoint: Endpoint, query: Query) -> Response:
        event_types = query.all(EVENT_TYPE_PARAM) or list(CODEX_EVENT_TYPES)
        latest: dict[str, str | None] = {}
        for event_type in event_types:
            moment = self.data.max_event_time(event_type)
            latest[event_type] = None if moment is None else iso_ms(int(moment.timestamp() * 1000 + 0.5))
        return json_response(200, {"max_event_time": latest})

    def _records(self, endpoint: Endpoint, query: Query) -> Response:
        rule = endpoint.paging_rule
        cursor_param, cursor_field = _cursor(endpoint)
        limit = query.integer(LIMIT_PARAM, minimum=1, maximum=_max_limit(endpoint)) or _default_limit(endpoint)
        after = query.one(cursor_param)
        query.check()
        records = self.data.tasks() if endpoint.name == CODEX_TASKS.name else self.data.environments()
        ids = [str(r["id"]) for r in records]
        first = 0 if after is None else bisect.bisect_right(ids, after)
        page = records[first : first + self._page_size(limit)]
        has_more = first + len(page) < len(records)
        last_id = page[-1]["id"] if page else None
        if self.faults.endless_cursor:
            has_more, last_id = True, after or last_id
        return json_response(
            200, {"object": "list", rule.data_field: page, cursor_field: last_id, rule.has_more_field: has_more}
        )

    # -- control API -------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> Response:
        try:
            payload: Any = _json.loads(body) if body.strip() else {}
        except ValueError:
            return error_response(400, "the body is not JSON", "invalid_request_error")
        if path == "/info" and method == "GET":
            return json_response(200, self.info())
        if path == "/stats" and method == "GET":
            return json_response(200, self.stats_snapshot())
        if path == "/reset" and method == "POST":
            self.reset()
            return json_response(200, self.stats_snapshot())
        if path == "/faults" and method in {"GET", "POST"}:
            if method == "POST":
                if not isinstance(payload, dict):
                    return error_response(400, "faults must be a JSON object", "invalid_request_error")
                try:
                    self.faults.replace_all(payload)
                except (ValueError, TypeError) as bad:
                    return error_response(400, str(bad), "invalid_request_error")
            return json_response(200, self.faults.as_dict())
        if path == "/clock" and method in {"GET", "POST"}:
            if method == "POST":
                problem = self._set_clock(payload)
                if problem is not None:
                    return error_response(400, problem, "invalid_request_error")
            return json_response(200, {"now": iso_s(self.clock.now()), "live": self.clock.live})
        return error_response(
            404, f"Unknown control route {method} {CONTROL_PREFIX}{path}", "invalid_request_error", "not_found"
        )

    def _set_clock(self, payload: Any) -> str | None:
        if not isinstance(payload, dict) or not ({"now", "advance_seconds"} & set(payload)):
            return 'give {"now": "<ISO 8601 with zone>" | null} or {"advance_seconds": <number>}'
        try:
            if "advance_seconds" in payload:
                self.clock.advance(float(payload["advance_seconds"]))
            elif payload["now"] is None:
                self.clock.set(None)
            else:
                self.clock.set(datetime.fromisoformat(str(payload["now"])))
        except (ValueError, TypeError) as bad:
            return str(bad)
        return None


class ApiHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler of the API socket."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "CodexSandbox/1.0"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the sandbox's stats are the record."""

    def _dispatch(self) -> None:
        sandbox = sandbox_of(self)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            response, route = sandbox.handle(self.command, self.path, self.headers.get("Authorization"), body)
        except Exception:
            log.error("sandbox error on %s %s\n%s", self.command, self.path, traceback.format_exc())
            response, route = error_response(500, "sandbox internal error", "server_error"), "error"
        if route is not None:
            sandbox.stats.record_request(route, response.status, len(response.body))
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_PATCH = _dispatch
    do_DELETE = _dispatch
