"""What each contract route answers, once its request passed auth, faults and validation.

Choices where the contract is silent (the client must not depend on them):

* analytics: a row is in a window when its ``start_time`` is in
  ``[start_time, end_time)``; only ``end_time`` given: the 30 days before it;
  only ``start_time``: up to the end of today; no ``limit``: 1000 rows. The
  cursor carries the window, so ``page`` alone is enough; a ``page`` with a
  different window is a 422;
* ``/logs``: files with ``after < end_time < before`` (both exclusive);
  ``last_end_time`` is null on an empty page; unknown event types have no files;
* ``/max_event_time``: without ``event_type``, every Codex event type.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from starlette.responses import Response

from airflow_provider_codex import _json
from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES, CODEX_TASKS, WINDOW_PARAMS, Endpoint

from ._synth import iso_ms, iso_s
from .cursor import CursorError, PageCursor
from .download import file_url
from .responses import error_response, invalid, json_response

if TYPE_CHECKING:
    from .server import SandboxServer

T = TypeVar("T")


def _given(value: T | None, what: str, endpoint: Endpoint) -> T:
    if value is None:
        raise RuntimeError(f"the registry gives endpoint {endpoint.name!r} no {what}")
    return value


def window(endpoint: Endpoint) -> tuple[str, str]:
    return _given(WINDOW_PARAMS[endpoint.window], "time window", endpoint)


def cursor_names(endpoint: Endpoint) -> tuple[str, str]:
    """(query parameter, response field) of an endpoint's paging cursor."""
    rule = endpoint.paging_rule
    return _given(rule.cursor_param, "cursor", endpoint), _given(rule.cursor_field, "cursor", endpoint)


def _page_size(server: SandboxServer, endpoint: Endpoint, limit: int | None) -> int:
    limit = limit or endpoint.service_default_limit or _given(endpoint.max_limit, "max_limit", endpoint)
    return max(1, limit // 3) if server.faults.short_pages else limit


def analytics(
    server: SandboxServer, endpoint: Endpoint, limit: int | None, start: int | None, end: int | None, raw: str | None
) -> Response:
    start_name, end_name = window(endpoint)
    cursor_param, cursor_field = cursor_names(endpoint)
    if raw is not None:
        try:
            cursor = server.cursors.decode(raw, endpoint.name)
        except CursorError as bad:
            raise invalid(cursor_param, str(bad), raw) from None
        for name, given, expected in ((start_name, start, cursor.start_time), (end_name, end, cursor.end_time)):
            if given is not None and given != expected:
                raise invalid(name, f"{name} differs from the query the page cursor belongs to", given)
    else:
        default_start, default_end = server.data.default_analytics_window()
        if end is None:
            end = default_end
        if start is None:  # the 30 days before end (the default window when both are omitted)
            start = end - (default_end - default_start)
        if start >= end:
            raise invalid(start_name, f"{start_name} must be earlier than {end_name}", start)
        cursor = PageCursor(endpoint.name, start, end, 0)
    rows, has_more = server.data.analytics_window(
        endpoint.name, cursor.start_time, cursor.end_time, cursor.offset, _page_size(server, endpoint, limit)
    )
    next_page: str | None = None
    if has_more or server.faults.endless_cursor:
        next_page = server.cursors.encode(
            PageCursor(endpoint.name, cursor.start_time, cursor.end_time, cursor.offset + len(rows))
        )
    if server.faults.endless_cursor:
        has_more = True
        next_page = raw or next_page
    rule = endpoint.paging_rule
    body = b'{"object":"page",%s:[%s],%s:%s,%s:%s}' % (
        _json.dumps(rule.data_field),
        b",".join(rows),
        _json.dumps(rule.has_more_field),
        b"true" if has_more else b"false",
        _json.dumps(cursor_field),
        _json.dumps(next_page),
    )
    return Response(body, 200, media_type="application/json")


def logs(
    server: SandboxServer,
    endpoint: Endpoint,
    event_types: Sequence[str],
    after: datetime,
    before: datetime | None,
    limit: int | None,
    query: Mapping[str, str],
) -> Response:
    """``query``: the raw parameters (an endless cursor repeats ``after`` as sent)."""
    after_name, before_name = window(endpoint)
    rule = endpoint.paging_rule
    _, cursor_field = cursor_names(endpoint)
    if before is not None and before <= after:
        raise invalid(before_name, f"{before_name} must be later than {after_name}", query.get(before_name))
    files, has_more = server.data.list_log_files(event_types, after, before, _page_size(server, endpoint, limit))
    last: str | None = iso_s(files[-1].end_time) if files else None
    if server.faults.endless_cursor:
        has_more, last = True, query.get(after_name)
    return json_response(
        200, {rule.data_field: [f.listing() for f in files], rule.has_more_field: has_more, cursor_field: last}
    )


def log_file(server: SandboxServer, file_id: str) -> Response:
    info = server.data.log_file(file_id)
    if info is None:
        return error_response(404, f"Log file {file_id!r} not found", "invalid_request_error", "not_found")
    location = file_url(server.download_url, info.id, server.signer)
    return Response(b"", 307, {"Location": location, "Cache-Control": "no-store"}, "application/json")


def max_event_time(server: SandboxServer, event_types: Sequence[str]) -> Response:
    latest: dict[str, str | None] = {}
    for event_type in event_types or CODEX_EVENT_TYPES:
        moment = server.data.max_event_time(event_type)
        latest[event_type] = None if moment is None else iso_ms(int(moment.timestamp() * 1000 + 0.5))
    return json_response(200, {"max_event_time": latest})


def records(server: SandboxServer, endpoint: Endpoint, limit: int | None, after: str | None) -> Response:
    rule = endpoint.paging_rule
    _, cursor_field = cursor_names(endpoint)
    found = server.data.tasks() if endpoint.name == CODEX_TASKS.name else server.data.environments()
    first = 0 if after is None else bisect.bisect_right([str(r["id"]) for r in found], after)
    page = found[first : first + _page_size(server, endpoint, limit)]
    has_more = first + len(page) < len(found)
    last_id = page[-1]["id"] if page else None
    if server.faults.endless_cursor:
        has_more, last_id = True, after or last_id
    return json_response(
        200, {"object": "list", rule.data_field: page, cursor_field: last_id, rule.has_more_field: has_more}
    )
