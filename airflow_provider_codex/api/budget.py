"""A rate budget every process shares: the sliding window of :mod:`.limits`, kept in a store.

Airflow runs each task instance in a process of its own, on any host, so a
per-process limiter lets N tasks send N times a key's limit. A
:class:`SharedStore` keeps each route's window where every process sees it (a
SQLite file for the processes of one host, :mod:`.budget_host`; Redis for a
whole deployment, :mod:`.budget_redis`) and books each slot atomically: two
processes can never take the same one. A store that does not answer (down,
refused, slow: every call is bounded by a short timeout) must not fail a task,
so the budget then books in the process's own limiter, says so once, and asks
the store again after a bounded interval.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Hashable, Sequence

from airflow_provider_codex.api.limits import Booking, Budget, RateLimiter, key_fingerprint, shared_limiter

log = logging.getLogger(__name__)

#: Seconds any one call to a store may take (connecting included): a budget that is slow to
#: answer is one that cannot be reached.
DEFAULT_TIMEOUT = 0.5
#: Seconds between attempts to reach a store that did not answer.
DEFAULT_RECHECK = 30.0
#: Prefix of every window's name in a store.
KEY_PREFIX = "codex:budget:"
#: The HMAC key of the windows' names (a domain string, not a secret; see :func:`budget_name`).
_DOMAIN = b"airflow-provider-codex/rate-budget/v1"

#: ``(wait µs, slot µs)``, as a store books a slot.
Reply = Sequence[int]


def budget_name(base_url: str, key: str, route: str, period: float) -> str:
    """The name of one route's window for one API key: the same in every process, never the key.

    HMAC-SHA256 under a fixed domain string, unsalted: API keys are long random strings, so a
    digest of one cannot be reversed or guessed, and a per-process salt would keep processes
    from finding each other's budget.
    """
    return KEY_PREFIX + _scope(base_url, key, period).hexdigest_for(route)


class _Scope:
    """The HMAC state of ``(service, key, period)``: routes are added to a copy (the key is not kept)."""

    __slots__ = ("_mac",)

    def __init__(self, mac: hmac.HMAC) -> None:
        self._mac = mac

    def hexdigest_for(self, route: str) -> str:
        mac = self._mac.copy()
        mac.update(route.encode())
        return mac.hexdigest()


def _scope(base_url: str, key: str, period: float) -> _Scope:
    fields = (base_url.rstrip("/"), key, f"{float(period)!r}", "")
    return _Scope(hmac.new(_DOMAIN, "\0".join(fields).encode(), hashlib.sha256))


class SharedStore(abc.ABC):
    """Where every process books its budgets, and whether it answers (a ``BudgetSource``).

    A subclass books and settles a slot (``_reserve``, ``_settle``: atomic, in the
    store's one clock, bounded by ``timeout``) and says which errors mean "cannot be
    reached" (``unreachable``). The async calls run the sync ones in a thread
    unless a subclass has a native async client.

    :param name: how the warning names the store (no password in it).
    :param recheck: seconds to pace locally before asking a store that did not answer again.
    """

    #: What "the store cannot be reached" looks like (timeouts included: ``TimeoutError`` is an ``OSError``).
    unreachable: tuple[type[BaseException], ...] = (OSError,)

    def __init__(
        self,
        *,
        name: str,
        timeout: float = DEFAULT_TIMEOUT,
        recheck: float = DEFAULT_RECHECK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.recheck = recheck
        self._clock = clock
        self._budgets: dict[Hashable, SharedBudget] = {}
        self._unreachable_async: tuple[type[BaseException], ...] = (*self.unreachable, TimeoutError)
        self._lock = threading.Lock()
        self._down = False
        self._next_try = float("-inf")

    @abc.abstractmethod
    def _reserve(self, name: str, limit: int, period_us: int, token: str) -> Reply:
        """Book the next free slot of window ``name``: at least ``period_us`` after the ``limit``-th last."""

    @abc.abstractmethod
    def _settle(self, name: str, period_us: int, token: str) -> None:
        """Slot ``token`` was answered: it counts from now (never earlier than booked)."""

    async def _areserve(self, name: str, limit: int, period_us: int, token: str) -> Reply:
        return await asyncio.to_thread(self._reserve, name, limit, period_us, token)

    async def _asettle(self, name: str, period_us: int, token: str) -> None:
        await asyncio.to_thread(self._settle, name, period_us, token)

    # the BudgetSource protocol

    def budget_for(self, base_url: str, key: str, limit: int, period: float) -> Budget:
        """The one budget of this process for ``(service, key, limit, period)`` in this store."""
        scope = (base_url.rstrip("/"), key_fingerprint(key), limit, float(period))
        with self._lock:
            budget = self._budgets.get(scope)
            if budget is None:
                budget = self._budgets[scope] = SharedBudget(self, base_url, key, limit, period)
            return budget

    # calls, bounded, and what their failure means

    def reserve(self, name: str, limit: int, period_us: int, token: str) -> Reply | None:
        """``(wait µs, slot µs)`` booked in the store, or None when it cannot be reached."""
        if not self._due():
            return None
        try:
            reply = self._reserve(name, limit, period_us, token)
        except self.unreachable as failed:
            self._failed(failed)
            return None
        self._answered()
        return reply

    def settle(self, name: str, period_us: int, token: str) -> None:
        if not self._due():
            return
        try:
            self._settle(name, period_us, token)
        except self.unreachable as failed:
            self._failed(failed)
        else:
            self._answered()

    async def areserve(self, name: str, limit: int, period_us: int, token: str) -> Reply | None:
        if not self._due():
            return None
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self._areserve(name, limit, period_us, token)
        except self._unreachable_async as failed:
            self._failed(failed)
            return None
        self._answered()
        return reply

    async def asettle(self, name: str, period_us: int, token: str) -> None:
        if not self._due():
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self._asettle(name, period_us, token)
        except self._unreachable_async as failed:
            self._failed(failed)
        else:
            self._answered()

    def _due(self) -> bool:
        """Whether to ask the store: it answered last time, or the re-check interval has passed."""
        with self._lock:
            return self._clock() >= self._next_try

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            first = not self._down
            self._down = True
            self._next_try = self._clock() + self.recheck
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if first:
            log.warning(
                "The rate budget in %s cannot be reached (%s): this process paces its own requests "
                "(the limit then holds per process only) and tries the store again every %gs",
                self.name,
                reason,
                self.recheck,
            )
        else:
            log.debug("The rate budget in %s still cannot be reached (%s)", self.name, reason)

    def _answered(self) -> None:
        with self._lock:
            was_down, self._down = self._down, False
        if was_down:
            log.warning("The rate budget in %s answers again: requests are paced by it again", self.name)


class SharedBudget:
    """The budget of one API key on one service in a :class:`SharedStore` (a :class:`.Budget`).

    Slots the store cannot book are booked in the process's limiter for the same
    service, key and limit, so threads of one process still pace together meanwhile.
    """

    def __init__(self, store: SharedStore, base_url: str, key: str, limit: int, period: float) -> None:
        if limit < 1:
            raise ValueError("requests per minute must be at least 1")
        if period <= 0:
            raise ValueError("the limiter's period must be positive")
        self.store = store
        self.limit = limit
        self.period = period
        self._period_us = max(1, round(period * 1_000_000))
        self._scope = _scope(base_url, key, period)
        self._names: dict[str, str] = {}
        self.fallback: RateLimiter = shared_limiter(base_url, key, limit, period)

    def name(self, route: str) -> str:
        """The store's name of ``route``'s window (see :func:`budget_name`)."""
        name = self._names.get(route)
        if name is None:
            name = self._names[route] = KEY_PREFIX + self._scope.hexdigest_for(route)
        return name

    def book(self, route: str) -> Booking:
        token = secrets.token_hex(8)
        reply = self.store.reserve(self.name(route), self.limit, self._period_us, token)
        return self.fallback.book(route) if reply is None else _booked(route, reply, token)

    def settle(self, booking: Booking) -> None:
        if booking.token is None:
            self.fallback.settle(booking)
        else:
            self.store.settle(self.name(booking.route), self._period_us, booking.token)

    async def abook(self, route: str) -> Booking:
        token = secrets.token_hex(8)
        reply = await self.store.areserve(self.name(route), self.limit, self._period_us, token)
        return self.fallback.book(route) if reply is None else _booked(route, reply, token)

    async def asettle(self, booking: Booking) -> None:
        if booking.token is None:
            self.fallback.settle(booking)
        else:
            await self.store.asettle(self.name(booking.route), self._period_us, booking.token)


def _booked(route: str, reply: Reply, token: str) -> Booking:
    wait_us, at_us = (int(v) for v in reply)
    return Booking(route, max(0.0, wait_us / 1_000_000), at_us / 1_000_000, token)
