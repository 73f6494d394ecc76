"""A rate budget every process and host shares: the sliding window of :mod:`.limits`, kept in Redis.

Airflow runs each task instance in a process of its own, on any host, so a
per-process limiter lets N tasks send N times a key's limit. Here a route's
window is one Redis sorted set of booked slots, scored in the Redis server's
clock (one clock for every host), and a Lua script books a slot atomically:
two processes can never take the same one. A store that does not answer
(down, refused, slow: every call is bounded by a short timeout) must not fail
a task, so the budget then books in the process's own limiter, says so once,
and tries the store again after a bounded interval.

Redis-py is the only dependency, no Airflow: the hooks resolve the Airflow
connection and hand the clients in (:meth:`RedisStore.connect`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.backoff
import redis.retry

from airflow_provider_codex.api.limits import Booking, Budget, RateLimiter, key_fingerprint, shared_limiter

log = logging.getLogger(__name__)

#: Seconds any one call to the store may take (connecting included): a budget that is slow to
#: answer is one that cannot be reached.
DEFAULT_TIMEOUT = 0.5
#: Seconds between attempts to reach a store that did not answer.
DEFAULT_RECHECK = 30.0
#: Prefix of every key the budget writes in Redis.
KEY_PREFIX = "codex:budget:"
#: The HMAC key of the budgets' names (a domain string, not a secret; see :func:`budget_name`).
_DOMAIN = b"airflow-provider-codex/rate-budget/v1"

#: Book the next free slot. KEYS[1]: the route's window; ARGV: limit, period (µs), the slot's id.
#: Returns {wait µs, slot µs} in the server's clock. The rule is RateLimiter.reserve's: the slot
#: is at least one period after the limit-th most recent one. Marks a period old no longer count.
RESERVE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - period))
local at = now
if redis.call('ZCARD', KEYS[1]) >= limit then
  local nth = redis.call('ZREVRANGE', KEYS[1], limit - 1, limit - 1, 'WITHSCORES')
  at = math.max(now, tonumber(nth[2]) + period)
end
redis.call('ZADD', KEYS[1], string.format('%.0f', at), ARGV[3])
local last = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(last[2]) - now + period) / 1000) + 1000)
return {at - now, at}
"""

#: The request of slot ARGV[2] was answered: count it from now (never earlier than booked), as
#: RateLimiter.answered does. ARGV[1]: the period (µs). A slot already trimmed is counted again.
SETTLE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local booked = redis.call('ZSCORE', KEYS[1], ARGV[2])
if booked and tonumber(booked) >= now then return 0 end
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[2])
local last = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(last[2]) - now + period) / 1000) + 1000)
return 1
"""

#: What "the store cannot be reached" looks like (timeouts included: ``TimeoutError`` is an ``OSError``).
UNREACHABLE = (redis.RedisError, OSError)


def budget_name(base_url: str, key: str, route: str, period: float) -> str:
    """The Redis key of one route's window for one API key: the same in every process, never the key.

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


class _AsyncSide:
    """One event loop's client and scripts (an asyncio client belongs to the loop it runs in)."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.reserve = client.register_script(RESERVE_SCRIPT)
        self.settle = client.register_script(SETTLE_SCRIPT)


class RedisStore:
    """One Redis every process books its budgets in, and whether it answers (a ``BudgetSource``).

    :param client: the sync client; its calls must be bounded (:meth:`connect` makes one so).
    :param async_client: makes an asyncio client; called once per event loop.
    :param name: how the warning names the store (no password in it).
    :param timeout: seconds an async call may take in all (the sync client's own timeouts bound it).
    :param recheck: seconds to pace locally before trying a store that did not answer again.
    """

    def __init__(
        self,
        client: redis.Redis,
        async_client: Callable[[], redis.asyncio.Redis],
        *,
        name: str = "Redis",
        timeout: float = DEFAULT_TIMEOUT,
        recheck: float = DEFAULT_RECHECK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.name = name
        self.timeout = timeout
        self.recheck = recheck
        self._make_async = async_client
        self._clock = clock
        self._reserve = client.register_script(RESERVE_SCRIPT)
        self._settle = client.register_script(SETTLE_SCRIPT)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AsyncSide] = weakref.WeakKeyDictionary()
        self._budgets: dict[Hashable, RedisBudget] = {}
        self._lock = threading.Lock()
        self._down = False
        self._next_try = float("-inf")

    @classmethod
    def connect(
        cls,
        *,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        ssl_options: dict[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        recheck: float = DEFAULT_RECHECK,
    ) -> RedisStore:
        """The store at ``host:port``, every call bounded by ``timeout`` and never retried.

        Redis-py retries a failed call three times with up to 10 s of backoff by default: a
        store that is down would hold every request that long. Here it fails at once, and the
        budget paces locally instead.
        """
        options: dict[str, Any] = {
            "host": host,
            "port": port,
            "db": db,
            "username": username,
            "password": password,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            **(ssl_options or {}),
        }
        client = redis.Redis(retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0), **options)

        def async_client() -> redis.asyncio.Redis:
            return redis.asyncio.Redis(retry=redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0), **options)

        return cls(client, async_client, name=f"Redis at {host}:{port}/{db}", timeout=timeout, recheck=recheck)

    # the BudgetSource protocol

    def budget_for(self, base_url: str, key: str, limit: int, period: float) -> Budget:
        """The one budget of this process for ``(service, key, limit, period)`` in this store."""
        scope = (base_url.rstrip("/"), key_fingerprint(key), limit, float(period))
        with self._lock:
            budget = self._budgets.get(scope)
            if budget is None:
                budget = self._budgets[scope] = RedisBudget(self, base_url, key, limit, period)
            return budget

    # calls, bounded, and what their failure means

    def reserve(self, name: str, limit: int, period_us: int, token: str) -> Sequence[int] | None:
        """``(wait µs, slot µs)`` booked in the store, or None when it cannot be reached."""
        reply: Sequence[int] | None = self._call(lambda: self._reserve(keys=[name], args=[limit, period_us, token]))
        return reply

    def settle(self, name: str, period_us: int, token: str) -> None:
        self._call(lambda: self._settle(keys=[name], args=[period_us, token]))

    async def areserve(self, name: str, limit: int, period_us: int, token: str) -> Sequence[int] | None:
        reply: Sequence[int] | None = await self._acall(
            lambda side: side.reserve(keys=[name], args=[limit, period_us, token])
        )
        return reply

    async def asettle(self, name: str, period_us: int, token: str) -> None:
        await self._acall(lambda side: side.settle(keys=[name], args=[period_us, token]))

    def _call(self, call: Callable[[], Any]) -> Any:
        if not self._due():
            return None
        try:
            reply = call()
        except UNREACHABLE as failed:
            self._failed(failed)
            return None
        self._answered()
        return reply

    async def _acall(self, call: Callable[[_AsyncSide], Awaitable[Any]]) -> Any:
        if not self._due():
            return None
        try:
            async with asyncio.timeout(self.timeout):
                reply = await call(self._async_side())
        except UNREACHABLE as failed:
            self._failed(failed)
            return None
        self._answered()
        return reply

    def _async_side(self) -> _AsyncSide:
        loop = asyncio.get_running_loop()
        side = self._async.get(loop)
        if side is None:
            side = self._async[loop] = _AsyncSide(self._make_async())
        return side

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


class RedisBudget:
    """The budget of one API key on one service in a :class:`RedisStore` (a :class:`.Budget`).

    Slots the store cannot book are booked in the process's limiter for the same
    service, key and limit, so threads of one process still pace together meanwhile.
    """

    def __init__(self, store: RedisStore, base_url: str, key: str, limit: int, period: float) -> None:
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
        """The Redis key of ``route``'s window (see :func:`budget_name`)."""
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


def _booked(route: str, reply: Sequence[int], token: str) -> Booking:
    wait_us, at_us = (int(v) for v in reply)
    return Booking(route, max(0.0, wait_us / 1_000_000), at_us / 1_000_000, token)
