"""The rate budget of a whole deployment, in Redis (the Celery broker's, in most of them).

Each route's window is one sorted set of booked slots, scored in the Redis
server's clock (one clock for every host); a Lua script books a slot
atomically, another moves it to the moment of the answer. Redis-py is the only
dependency, no Airflow: the hooks resolve the Airflow connection and hand the
settings in (:meth:`RedisStore.connect`), or a caller hands its own clients.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.backoff
import redis.retry

from airflow_provider_codex.api.budget import DEFAULT_RECHECK, DEFAULT_TIMEOUT, Reply, SharedStore

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


class _AsyncSide:
    """One event loop's client and scripts (an asyncio client belongs to the loop it runs in)."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.reserve = client.register_script(RESERVE_SCRIPT)
        self.settle = client.register_script(SETTLE_SCRIPT)


class RedisStore(SharedStore):
    """The budgets of every process and host that reach one Redis.

    :param client: the sync client; its calls must be bounded (:meth:`connect` makes one so).
    :param async_client: makes an asyncio client; called once per event loop.
    """

    unreachable = (redis.RedisError, OSError)

    def __init__(
        self,
        client: redis.Redis,
        async_client: Callable[[], redis.asyncio.Redis],
        *,
        name: str = "Redis",
        timeout: float = DEFAULT_TIMEOUT,
        recheck: float = DEFAULT_RECHECK,
    ) -> None:
        super().__init__(name=name, timeout=timeout, recheck=recheck)
        self.client = client
        self._make_async = async_client
        self._reserve_script = client.register_script(RESERVE_SCRIPT)
        self._settle_script = client.register_script(SETTLE_SCRIPT)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AsyncSide] = weakref.WeakKeyDictionary()

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

    def _reserve(self, name: str, limit: int, period_us: int, token: str) -> Reply:
        reply: Reply = self._reserve_script(keys=[name], args=[limit, period_us, token])
        return reply

    def _settle(self, name: str, period_us: int, token: str) -> None:
        self._settle_script(keys=[name], args=[period_us, token])

    async def _areserve(self, name: str, limit: int, period_us: int, token: str) -> Reply:
        reply: Reply = await self._async_side().reserve(keys=[name], args=[limit, period_us, token])
        return reply

    async def _asettle(self, name: str, period_us: int, token: str) -> None:
        await self._async_side().settle(keys=[name], args=[period_us, token])

    def _async_side(self) -> _AsyncSide:
        loop = asyncio.get_running_loop()
        side = self._async.get(loop)
        if side is None:
            side = self._async[loop] = _AsyncSide(self._make_async())
        return side
