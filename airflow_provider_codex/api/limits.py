"""How not to earn a 429: a client-side rate limit, one per process per service and key.

The service counts a key's requests whoever sends them, so every client of a
process that uses the same key on the same service paces through one shared
:class:`RateLimiter` (:func:`shared_limiter`). Pure bookkeeping, no I/O: the
limiter says how long to wait, the face sleeps.

What a client paces through is a :class:`Budget` handed out by a
:class:`BudgetSource`: by default the process's limiter (:data:`PROCESS_BUDGETS`);
a budget shared by processes (:mod:`.budget`: a host's SQLite file, or Redis for
every host) has the same four calls, so the faces drive both alike.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

from airflow_provider_codex.api.endpoints import DEFAULT_REQUESTS_PER_MINUTE


@dataclass(frozen=True)
class Booking:
    """One booked slot: how long to wait for it, and what :meth:`Budget.settle` needs to count it."""

    route: str
    wait: float
    #: The slot's moment, in the clock of whoever booked it.
    mark: float
    #: The slot's id in a shared store; None when this process's limiter booked it.
    token: str | None = None


class Budget(Protocol):
    """What paces a client's requests on each route; ``a``-prefixed calls are the async face's.

    ``book`` takes the next free slot and says how long to wait for it; once the
    answer is in, ``settle`` counts the request from that moment. Neither raises
    for want of a store: a budget that cannot book where it should books locally.
    """

    def book(self, route: str) -> Booking: ...

    def settle(self, booking: Booking) -> None: ...

    async def abook(self, route: str) -> Booking: ...

    async def asettle(self, booking: Booking) -> None: ...


class BudgetSource(Protocol):
    """Where a client gets the budget of one key on one service (see :data:`PROCESS_BUDGETS`)."""

    def budget_for(self, base_url: str, key: str, limit: int, period: float) -> Budget: ...


class RateLimiter:
    """A client-side sliding-window limit: at most ``limit`` requests per ``period`` per route.

    The service limits each route separately [reference: 100/min per route and
    method]; keeping under it spares a backfill a storm of 429s. ``reserve``
    books the next free slot and says how long to wait for it; once the answer
    is in, ``answered`` moves the request's mark to that moment. The service
    counts a request when it *arrives*, which is after it was sent and before
    it was answered: counting from the answer keeps the client on the safe
    side whatever the latency. Thread-safe, so the sync client may be shared
    by threads and the async one by tasks (the wait itself is the caller's).
    """

    def __init__(
        self,
        limit: int = DEFAULT_REQUESTS_PER_MINUTE,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("requests per minute must be at least 1")
        if period <= 0:
            raise ValueError("the limiter's period must be positive")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._marks: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def reserve(self, route: str) -> tuple[float, float]:
        """Book a slot for one request on ``route``: ``(seconds to wait, the slot's mark)``."""
        with self._lock:
            now = self._clock()
            marks = self._marks.setdefault(route, [])
            at = now if len(marks) < self.limit else max(now, marks[-self.limit] + self.period)
            bisect.insort(marks, at)
            del marks[: -self.limit]  # the last `limit` marks decide the next slot
            return max(0.0, at - now), at

    def answered(self, route: str, mark: float) -> None:
        """The request booked at ``mark`` has been answered: count it from now on."""
        with self._lock:
            marks = self._marks.get(route)
            if marks and mark in marks:
                marks.remove(mark)
                bisect.insort(marks, max(self._clock(), mark))

    # the Budget protocol: no I/O, so the async face's calls are the sync ones

    def book(self, route: str) -> Booking:
        wait, mark = self.reserve(route)
        return Booking(route, wait, mark)

    def settle(self, booking: Booking) -> None:
        self.answered(booking.route, booking.mark)

    async def abook(self, route: str) -> Booking:
        return self.book(route)

    async def asettle(self, booking: Booking) -> None:
        self.settle(booking)


# --- one limiter per process per service, key and limit ---------------------------------

#: Fingerprints are keyed with a per-process random salt: a key cannot be recovered from one.
_FINGERPRINT_SALT = os.urandom(16)
_SHARED: dict[Hashable, RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def key_fingerprint(key: str) -> str:
    """A salted digest standing for an API key in the limiter registry (never the key itself).

    Per process only: its salt is random, so a store every process shares names its windows
    with :func:`.budget.budget_name` instead.
    """
    return hashlib.blake2b(key.encode(), key=_FINGERPRINT_SALT, digest_size=16).hexdigest()


def shared_limiter(base_url: str, key: str, limit: int, period: float) -> RateLimiter:
    """The process's one limiter for ``(base URL, key fingerprint, limit, period)``.

    The service counts a key's requests whichever client sent them: clients and
    hooks of one process (threads of a worker, tasks of ``dag.test()``, triggers of
    a triggerer) that use the same key on the same service pace together through
    this limiter instead of each keeping its own count and earning 429s.
    """
    scope = (base_url.rstrip("/"), key_fingerprint(key), limit, float(period))
    with _SHARED_LOCK:
        limiter = _SHARED.get(scope)
        if limiter is None:
            limiter = _SHARED[scope] = RateLimiter(limit, period)
        return limiter


class ProcessBudgets:
    """The default :class:`BudgetSource`: the process's one limiter per service, key and limit.

    Enough for one process (threads, ``dag.test()``, a triggerer); tasks in
    processes of their own each count alone, see :mod:`.budget` for a shared one.
    """

    def budget_for(self, base_url: str, key: str, limit: int, period: float) -> Budget:
        return shared_limiter(base_url, key, limit, period)


PROCESS_BUDGETS = ProcessBudgets()
