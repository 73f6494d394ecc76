"""The sans-IO core both client faces drive: every rule of an exchange, written once.

Auth, URLs, rate limiting, retries, error mapping and paging live in
:class:`ClientCore` as generator *flows* that yield what they need done
(:class:`Sleep`, :class:`Send`) and receive the outcome. The sync face drives
a flow with ``httpx.Client`` and ``time.sleep``, the async one the very same
flow with ``httpx.AsyncClient`` and ``asyncio.sleep``, so the two cannot drift.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import httpx

from airflow_provider_codex import _json
from airflow_provider_codex.api.classify import classify, refused
from airflow_provider_codex.api.config import ClientConfig
from airflow_provider_codex.api.endpoints import EVENT_TYPE_PARAM, MAX_EVENT_TIME, Api, Endpoint
from airflow_provider_codex.api.errors import CodexContractError, CodexRateLimitError, excerpt, quote
from airflow_provider_codex.api.limits import Booking, Budget
from airflow_provider_codex.api.paging import Page, Pager
from airflow_provider_codex.api.urls import route_url

log = logging.getLogger(__name__)

T = TypeVar("T")


# --- what a flow asks its driver to do ------------------------------------------------


class BodySink(Protocol):
    """Where a face streams a 2xx body instead of reading it into memory (a download)."""

    def write(self, chunk: bytes) -> None: ...

    def reset(self) -> None:
        """Empty again: an attempt that failed half-way leaves nothing for the next one."""


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Send:
    request: httpx.Request
    #: Stream a 2xx body into this sink instead of reading it into memory.
    into: BodySink | None = None

    def sink_for(self, response: httpx.Response) -> BodySink | None:
        """Where the body of ``response`` goes: the sink for a success, else (None) into memory."""
        return self.into if response.is_success else None


@dataclass(frozen=True)
class Book:
    """Book a slot of ``budget`` on ``route`` (the outcome: the :class:`Booking`).

    An action of its own, not a call in the flow: a shared budget asks a store,
    which is I/O the face does its own way (sync or async).
    """

    budget: Budget
    route: str


@dataclass(frozen=True)
class Settle:
    """The request of ``booking`` has been answered: count it from now on."""

    budget: Budget
    booking: Booking


Action = Sleep | Send | Book | Settle
Outcome = httpx.Response | httpx.TransportError | Booking | None
Flow = Generator[Action, Outcome, T]


@dataclass
class ClientStats:
    """What a client did, for a task's summary and its log."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    integrity_retries: int = 0
    by_status: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "integrity_retries": self.integrity_retries,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
        }


# --- the core --------------------------------------------------------------------------


class ClientCore:
    """Builds requests, applies the limiter and the retry policy, reads responses.

    It does no I/O: its flows are driven by one of the two faces (:mod:`.client`).
    """

    def __init__(self, config: ClientConfig, limiter: Budget | None = None) -> None:
        self.config = config
        #: An explicit limiter paces every route of this client; without one, each API's
        #: routes use the config's budget for that service and key (see ``limiter_for``).
        self.limiter = limiter
        self._limiters: dict[Api, Budget] = {}
        self.stats = ClientStats()
        #: What every error and log line of this client is scrubbed of.
        self.secrets = config.secrets()

    def limiter_for(self, endpoint: Endpoint) -> Budget:
        """The budget that paces ``endpoint``: shared by every client that calls the same service
        with the same key at the same limit, in this process or (``config.rate_budget``) in all."""
        if self.limiter is not None:
            return self.limiter
        limiter = self._limiters.get(endpoint.api)
        if limiter is None:
            config = self.config
            key = config.key_for(endpoint.api).reveal()
            limiter = config.rate_budget.budget_for(
                config.base_url, key, config.requests_per_minute, config.rate_period
            )
            self._limiters[endpoint.api] = limiter
        return limiter

    # building

    def url(self, endpoint: Endpoint, path_params: Mapping[str, str] | None = None) -> str:
        """The route's URL; every path part percent-escaped (see :func:`.urls.path_part`)."""
        return route_url(self.config, endpoint, path_params)

    def request(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        path_params: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        key = self.config.key_for(endpoint.api)
        return httpx.Request(
            "GET",
            self.url(endpoint, path_params),
            params=list(params),
            headers={"Authorization": f"Bearer {key.reveal()}", "Accept": "application/json"},
        )

    # the exchange: limiter, send, classify, retry

    def exchange(
        self,
        endpoint: Endpoint,
        request: httpx.Request,
        *,
        into: BodySink | None = None,
        rate_limited: bool = True,
    ) -> Flow[httpx.Response]:
        """Send ``request`` until it succeeds or a rule says stop. Redirects count as success.

        ``rate_limited=False`` skips the client-side limiter: signed download URLs
        are served by another host that the API's per-route limit does not cover.
        """
        policy = self.config.retry
        limiter = self.limiter_for(endpoint) if rate_limited else None
        for attempt in range(1, policy.max_attempts + 1):
            booking: Booking | None = None
            if limiter is not None:
                booked = yield Book(limiter, endpoint.name)
                assert isinstance(booked, Booking), booked
                booking = booked
                if booking.wait > 0:
                    yield Sleep(booking.wait)
            if into is not None:
                into.reset()
            outcome = yield Send(request, into)
            assert not isinstance(outcome, Booking), outcome
            if limiter is not None and booking is not None:
                yield Settle(limiter, booking)
            self.stats.requests += 1
            if isinstance(outcome, httpx.Response):
                self.stats.by_status[outcome.status_code] += 1
                if outcome.status_code < 400:
                    return outcome
            error, retry_after = classify(self.config, endpoint, outcome)
            if not error.retryable:
                raise error
            if isinstance(error, CodexRateLimitError):
                self.stats.rate_limited += 1
            wait = policy.wait(attempt, retry_after)
            if wait.refused is not None:
                raise refused(endpoint, error, wait)
            if attempt == policy.max_attempts:
                raise error
            self.stats.retries += 1
            log.warning(
                "%s: %s; retry %d of %d in %.1fs",
                endpoint.name,
                error,
                attempt,
                policy.max_attempts - 1,
                wait.seconds,
            )
            yield Sleep(wait.seconds)
        raise AssertionError("unreachable")  # pragma: no cover

    # flows

    def json_flow(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        path_params: Mapping[str, str] | None = None,
    ) -> Flow[Any]:
        response = yield from self.exchange(endpoint, self.request(endpoint, params, path_params))
        return self.read_json(endpoint, response)

    def read_json(self, endpoint: Endpoint, response: httpx.Response) -> Any:
        try:
            return _json.loads(response.content)
        except ValueError:
            raise CodexContractError(
                f"{endpoint.name}: the body is not JSON ({response.status_code}): {excerpt(response.text)}"
            ) from None

    def page_flow(self, pager: Pager) -> Flow[Page]:
        body = yield from self.json_flow(pager.endpoint, pager.next_params())
        return pager.advance(body)

    def max_event_time_flow(self, event_types: Sequence[str]) -> Flow[dict[str, datetime | None]]:
        params = [(EVENT_TYPE_PARAM, t) for t in event_types]
        body = yield from self.json_flow(MAX_EVENT_TIME, params)
        found = body.get("max_event_time") if isinstance(body, dict) else None
        if not isinstance(found, dict):
            raise CodexContractError(f"{MAX_EVENT_TIME.name}: unexpected body: {quote(body)}")
        return {t: _parse_time(f"{MAX_EVENT_TIME.name}: max_event_time.{t}", found.get(t)) for t in event_types}


def _parse_time(where: str, value: Any) -> datetime | None:
    """An ISO 8601 time with a zone from a response, or None for null."""
    if value is None:
        return None
    moment = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        raise CodexContractError(f"{where}: expected an ISO 8601 time with a zone, got {quote(value)}")
    return moment
