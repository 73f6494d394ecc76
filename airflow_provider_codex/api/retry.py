"""When to retry, how long to wait, and how not to earn a 429 in the first place.

Pure decisions, no I/O: the client's exchange loop asks :class:`RetryPolicy`
what to do with an outcome and asks :class:`RateLimiter` how long to wait
before sending. Sleeping is the caller's business (``time.sleep`` in the sync
client, ``asyncio.sleep`` in the async one), so the same rules serve both.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from airflow_provider_codex.api.endpoints import DEFAULT_REQUESTS_PER_MINUTE

#: Statuses that mean "try again later" [reference: 429; assumed: 5xx].
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in sleep.

    ``max_retry_after`` caps how long one ``Retry-After`` may make the client
    sleep: a server asking for hours gets a clear error instead of a worker
    asleep for hours. ``max_sleep`` is lower and optional: a wait longer than
    it is not slept but raised as :class:`~.errors.CodexRateLimitError`, so a
    deferrable operator can give its worker slot back while it waits.
    """

    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 900.0
    max_sleep: float | None = None
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("backoff times must not be negative")

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling * rng() if self.jitter else ceiling

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before the next attempt: the server's word when it gave one."""
        if retry_after is not None:
            return max(0.0, retry_after)
        return self.backoff(attempt)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Returns None when the header is absent or unreadable (the caller then
    falls back to its own backoff).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


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


# --- one limiter per process per service, key and limit ---------------------------------

#: Fingerprints are keyed with a per-process random salt: a key cannot be recovered from one.
_FINGERPRINT_SALT = os.urandom(16)
_SHARED: dict[Hashable, RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def key_fingerprint(key: str) -> str:
    """A salted digest standing for an API key in the limiter registry (never the key itself)."""
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
