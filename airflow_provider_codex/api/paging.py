"""The cursor loops of the contract, as state machines with no I/O.

A :class:`Pager` knows what to ask for next and reads each page's envelope;
both client faces drive the same pager, a page at a time, so memory stays
constant whatever the window.

Rules that hold for every style (``shared/codex-api.md``):

- stop on ``has_more: false``, never on a short page;
- pass the cursor back unchanged (it is opaque: it is never parsed, and httpx
  URL-encodes it, ``+``, ``/`` and ``=`` included);
- a cursor that repeats, a run of ``MAX_EMPTY_PAGES`` empty pages that all say
  ``has_more``, or more pages than ``max_pages``, is an error
  (:class:`~.errors.CodexPagingError`), never an endless loop;
- a body that does not look like the envelope fails loudly with the body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_provider_codex.api.endpoints import (
    LIMIT_PARAM,
    MAX_EMPTY_PAGES,
    WINDOW_PARAMS,
    Endpoint,
    Paging,
    WindowStyle,
)
from airflow_provider_codex.api.errors import CodexContractError, CodexPagingError, quote

#: A query as httpx takes it: a list keeps repeated names (``event_type``) and order.
QueryParams = list[tuple[str, str]]

#: Far more pages than any real window needs: a bound, not a size (see ``bench/RESULTS.md``).
DEFAULT_MAX_PAGES = 100_000


@dataclass(frozen=True)
class Page:
    """One page of rows, with where it came from (for progress logs and resumption)."""

    endpoint: str
    number: int
    rows: list[dict[str, Any]]
    has_more: bool
    #: The cursor that fetches the *next* page (None on the last page).
    next_cursor: str | None


def window_params(endpoint: Endpoint, start: datetime, end: datetime) -> QueryParams:
    """The query parameters expressing ``[start, end)`` in the route's own style."""
    names = WINDOW_PARAMS[endpoint.window]
    if names is None:
        raise ValueError(f"endpoint {endpoint.name!r} takes no time window")
    for moment in (start, end):
        if moment.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware (UTC)")
    if end <= start:
        raise ValueError(f"empty window: end {end.isoformat()} is not after start {start.isoformat()}")
    if endpoint.window is WindowStyle.UNIX_SECONDS:
        values = (str(int(start.timestamp())), str(int(end.timestamp())))
    else:
        values = (iso_utc(start), iso_utc(end))
    return [(names[0], values[0]), (names[1], values[1])]


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with an explicit ``Z``, as the compliance API requires a zone."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Pager:
    """Walks one route's pages: ``next_params()`` → request → ``advance(body)``.

    ``cursor`` resumes a walk that stopped (a deferred task carries it in its
    trigger kwargs): the first request then asks for that page directly.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        *,
        limit: int | None = None,
        cursor: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        if endpoint.paging is Paging.NONE:
            raise ValueError(f"endpoint {endpoint.name!r} does not page")
        self.endpoint = endpoint
        self.rule = endpoint.paging_rule
        self._base: QueryParams = [(k, v) for k, v in endpoint.fixed_params.items()]
        self._base += [(k, v) for k, v in params if k != self.rule.cursor_param or cursor is None]
        page_size = limit if limit is not None else endpoint.default_limit
        if page_size is not None:
            if endpoint.max_limit is not None and not 1 <= page_size <= endpoint.max_limit:
                raise ValueError(f"limit for {endpoint.name!r} must be 1..{endpoint.max_limit}, got {page_size}")
            self._base.append((LIMIT_PARAM, str(page_size)))
        self.cursor = cursor
        self.max_pages = max_pages
        self.pages_read = 0
        #: Cursors passed back so far (the resumed-from one included).
        self.cursors_followed = 0
        #: Empty pages in a row that said ``has_more``.
        self.empty_run = 0
        self.done = False
        self._seen: set[bytes] = set()
        # The starting point counts as seen: a cursor that points back at it is a loop too.
        start = cursor if cursor is not None else dict(params).get(self.rule.cursor_param or "")
        if start is not None:
            self._remember(start)

    def next_params(self) -> QueryParams:
        """The query for the next page."""
        if self.done:
            raise RuntimeError("the pager is done")
        params = list(self._base)
        if self.cursor is not None:
            assert self.rule.cursor_param is not None
            params = [(k, v) for k, v in params if k != self.rule.cursor_param]
            params.append((self.rule.cursor_param, self.cursor))
        return params

    def advance(self, body: Any) -> Page:
        """Read one page's body; move the cursor on or finish."""
        if not isinstance(body, Mapping):
            raise self._bad(body, "the body is not a JSON object")
        rows = body.get(self.rule.data_field)
        has_more = body.get(self.rule.has_more_field)
        if not isinstance(rows, list):
            raise self._bad(body, f"'{self.rule.data_field}' is not a list")
        if not isinstance(has_more, bool):
            raise self._bad(body, f"'{self.rule.has_more_field}' is not true or false")
        self.pages_read += 1
        if self.cursor is not None:
            self.cursors_followed += 1
        self.empty_run = self.empty_run + 1 if has_more and not rows else 0
        if self.empty_run >= MAX_EMPTY_PAGES:
            raise CodexPagingError(
                f"{self.endpoint.name}: {self.empty_run} empty pages in a row said "
                f"'{self.rule.has_more_field}' is true ({self.cursors_followed} cursors followed); "
                "stopping instead of walking on forever"
            )
        next_cursor: str | None = None
        if has_more:
            assert self.rule.cursor_field is not None
            raw = body.get(self.rule.cursor_field)
            if not isinstance(raw, str) or not raw:
                raise self._bad(body, f"'{self.rule.has_more_field}' is true but '{self.rule.cursor_field}' is missing")
            next_cursor = raw
            if not self._remember(raw):
                raise CodexPagingError(
                    f"{self.endpoint.name}: the service returned the same "
                    f"'{self.rule.cursor_field}' twice (page {self.pages_read}); "
                    "stopping instead of looping forever"
                )
            if self.pages_read >= self.max_pages:
                raise CodexPagingError(
                    f"{self.endpoint.name}: more than {self.max_pages} pages for one window; "
                    "stopping instead of looping forever (narrow the window or raise max_pages)"
                )
        self.cursor = next_cursor
        self.done = not has_more
        return Page(self.endpoint.name, self.pages_read, rows, has_more, next_cursor)

    def _remember(self, cursor: str) -> bool:
        """Record a cursor (as a digest: cursors can be long); False if already seen."""
        digest = hashlib.blake2b(cursor.encode(), digest_size=16).digest()
        if digest in self._seen:
            return False
        self._seen.add(digest)
        return True

    def _bad(self, body: Any, why: str) -> CodexContractError:
        return CodexContractError(f"{self.endpoint.name}: unexpected page body ({why}); got: {quote(body)}")
