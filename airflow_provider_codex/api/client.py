"""The two faces of the Codex client: :class:`CodexClient` (sync) and :class:`AsyncCodexClient`.

Neither holds a rule of its own: both drive the flows of the sans-IO core
(:mod:`.core`, :mod:`.downloads`) and do only the I/O, ``httpx`` and sleeping.
What a face does hold is how it bounds an attempt in time (``asyncio.timeout``
in the async face, :mod:`.deadline` in the sync one) and the redaction scope
every flow runs in (:func:`~.errors.redacting`): no error leaves a face with a
key in it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx

from airflow_provider_codex.api.config import ClientConfig
from airflow_provider_codex.api.core import Action, Book, ClientCore, ClientStats, Flow, Outcome, Send, Settle, Sleep
from airflow_provider_codex.api.deadline import DeadlineExceeded, attempt_deadline, bound_by_deadline
from airflow_provider_codex.api.downloads import (
    DOWNLOAD_CHUNK,
    LogFile,
    VerifiedFile,
    download_flow,
    log_files_flow,
    log_listing_params,
)
from airflow_provider_codex.api.endpoints import COMPLIANCE_LOGS, Endpoint
from airflow_provider_codex.api.errors import redacting
from airflow_provider_codex.api.limits import Budget
from airflow_provider_codex.api.paging import Page, Pager
from airflow_provider_codex.api.tls import ssl_context

T = TypeVar("T")


class _Face:
    """What both faces share: the core and the public, I/O-free helpers."""

    def __init__(self, config: ClientConfig, limiter: Budget | None = None) -> None:
        self.core = ClientCore(config, limiter)

    @property
    def config(self) -> ClientConfig:
        return self.core.config

    @property
    def stats(self) -> ClientStats:
        return self.core.stats

    def pager(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager:
        return Pager(endpoint, params, limit=limit, cursor=cursor)

    def _log_pager(self, event_types: Sequence[str], after: datetime, before: datetime | None) -> Pager:
        return self.pager(COMPLIANCE_LOGS, log_listing_params(event_types, after, before))

    def _http_options(self) -> dict[str, Any]:
        """What both ``httpx`` clients are made with: the timeout, the shared TLS context, no redirects."""
        return {
            "timeout": httpx.Timeout(self.config.timeout),
            "verify": ssl_context(self.config.verify),
            "follow_redirects": False,
        }

    def _deadline_passed(self) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"no complete answer within {self.config.request_deadline:g}s, "
            f"the 'request_deadline' of {self.config.source}"
        )


class CodexClient(_Face):
    """Synchronous client (operators, hooks, TaskFlow tasks)."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        limiter: Budget | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(config, limiter)
        self._http = bound_by_deadline(httpx.Client(transport=transport, **self._http_options()))

    def _drive(self, flow: Flow[T]) -> T:
        outcome: Outcome = None
        with redacting(self.core.secrets):
            try:
                while True:
                    outcome = self._perform(flow.send(outcome))
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def _perform(self, action: Action) -> Outcome:
        if isinstance(action, Sleep):
            time.sleep(action.seconds)
            return None
        if isinstance(action, Book):
            return action.budget.book(action.route)
        if isinstance(action, Settle):
            action.budget.settle(action.booking)
            return None
        with attempt_deadline(self.config.request_deadline) as deadline:
            try:
                return self._send(action)
            except httpx.TimeoutException as exc:
                return self._deadline_passed() if deadline.bound else exc
            except httpx.TransportError as exc:
                return exc

    def _send(self, action: Send) -> httpx.Response:
        response = self._http.send(action.request, stream=True)
        try:
            sink = action.sink_for(response)
            if sink is None:
                response.read()
            else:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                    sink.write(chunk)
        finally:
            response.close()
        return _unbound(response)

    def get_json(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        path_params: Mapping[str, str] | None = None,
    ) -> Any:
        """One call to a route that does not page."""
        return self._drive(self.core.json_flow(endpoint, params, path_params))

    def iter_pages(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[Page]:
        """Every page of a route, one at a time (constant memory)."""
        pager = self.pager(endpoint, params, limit=limit, cursor=cursor)
        while not pager.done:
            yield self._drive(self.core.page_flow(pager))

    def iter_log_files(
        self, event_types: Sequence[str], after: datetime, before: datetime | None = None
    ) -> Iterator[LogFile]:
        """The log files listed for ``(after, before]``, by end time."""
        pager = self._log_pager(event_types, after, before)
        while not pager.done:
            yield from self._drive(log_files_flow(self.core, pager))

    def download_log_file(self, file: LogFile) -> VerifiedFile:
        """A log file's bytes, checked against the listing's SHA-256."""
        return self._drive(download_flow(self.core, file.id, file.sha256))

    def max_event_time(self, event_types: Sequence[str]) -> dict[str, datetime | None]:
        return self._drive(self.core.max_event_time_flow(event_types))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CodexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncCodexClient(_Face):
    """Asynchronous client (triggers), driving the same flows as :class:`CodexClient`."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        limiter: Budget | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(config, limiter)
        self._http = httpx.AsyncClient(transport=transport, **self._http_options())

    async def _drive(self, flow: Flow[T]) -> T:
        outcome: Outcome = None
        with redacting(self.core.secrets):
            try:
                while True:
                    outcome = await self._perform(flow.send(outcome))
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    async def _perform(self, action: Action) -> Outcome:
        if isinstance(action, Sleep):
            await asyncio.sleep(action.seconds)
            return None
        if isinstance(action, Book):
            return await action.budget.abook(action.route)
        if isinstance(action, Settle):
            await action.budget.asettle(action.booking)
            return None
        deadline = asyncio.timeout(self.config.request_deadline)
        try:
            async with deadline:
                return await self._send(action)
        except TimeoutError:
            if deadline.expired():
                return self._deadline_passed()
            raise
        except httpx.TransportError as exc:
            return exc

    async def _send(self, action: Send) -> httpx.Response:
        response = await self._http.send(action.request, stream=True)
        try:
            sink = action.sink_for(response)
            if sink is None:
                await response.aread()
            else:
                async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
                    sink.write(chunk)
        finally:
            await response.aclose()
        return _unbound(response)

    async def get_json(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        path_params: Mapping[str, str] | None = None,
    ) -> Any:
        return await self._drive(self.core.json_flow(endpoint, params, path_params))

    async def iter_pages(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[Page]:
        pager = self.pager(endpoint, params, limit=limit, cursor=cursor)
        while not pager.done:
            yield await self._drive(self.core.page_flow(pager))

    async def iter_log_files(
        self, event_types: Sequence[str], after: datetime, before: datetime | None = None
    ) -> AsyncIterator[LogFile]:
        pager = self._log_pager(event_types, after, before)
        while not pager.done:
            for file in await self._drive(log_files_flow(self.core, pager)):
                yield file

    async def download_log_file(self, file: LogFile) -> VerifiedFile:
        return await self._drive(download_flow(self.core, file.id, file.sha256))

    async def max_event_time(self, event_types: Sequence[str]) -> dict[str, datetime | None]:
        return await self._drive(self.core.max_event_time_flow(event_types))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncCodexClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _unbound(response: httpx.Response) -> httpx.Response:
    """``response``, closed, without httpx's reference cycle to its stream.

    The cycle (``response.stream`` -> its bound stream -> ``response``) outlives
    ``close()``, so a body would wait for a cyclic collection, and a load spaces
    those out (:mod:`airflow_provider_codex._gc`); see ``bench/RESULTS.md``. The
    stream is spent by now, so an empty one takes its place.
    """
    response.stream = httpx.ByteStream(b"")
    return response
