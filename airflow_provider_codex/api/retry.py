"""When to retry a failed request, and how long to wait before it.

Pure decisions, no I/O: the exchange (:mod:`.core`) asks :class:`RetryPolicy`
what to do after an answer, so one rule serves the sync and the async face;
sleeping is the face's business. The limiter that keeps requests under the
service's rate limit in the first place is :mod:`.limits`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

#: Statuses that mean "try again later" [reference: 429; assumed: 5xx].
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


#: The longest wait a ``Retry-After`` can express here: anything longer (``inf``, ``1e999``,
#: a date centuries ahead) reads as this. It lies far beyond any cap, and keeps the
#: arithmetic (``time.sleep``, ``timedelta``) finite.
RETRY_AFTER_CEILING = 366 * 86400.0


@dataclass(frozen=True)
class ServerWait:
    """What to do about one retryable answer: sleep ``seconds`` here, or not (``refused`` says why).

    ``seconds`` is never more than the policy's ``max_retry_after``: a refused
    wait is raised carrying it, and a deferrable task defers for that long.
    """

    seconds: float
    #: The server's own ``Retry-After`` (None: it gave none, ``seconds`` is the backoff).
    asked: float | None = None
    refused: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in sleep.

    ``max_retry_after`` caps every wait a server can ask for; ``max_sleep`` is
    lower and optional: a wait longer than it is not slept in the worker but
    raised, so a deferrable operator can give its worker slot back while it
    waits. :meth:`wait` is the one rule for every retryable answer.
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

    def wait(self, attempt: int, retry_after: float | None) -> ServerWait:
        """The wait before retrying after failed attempt ``attempt``: one rule for 429 and 5xx alike.

        ``retry_after`` is what :func:`parse_retry_after` read (None when the
        header was absent or unreadable):

        1. no ``Retry-After``: the policy's own backoff, slept here;
        2. else the server's wait, capped: ``min(retry_after, max_retry_after)``;
        3. a server asking for more than ``max_retry_after`` is refused at once
           (a worker asleep for hours helps nobody): the error carries the cap;
        4. a capped wait longer than ``max_sleep`` (when set) is refused too, so
           a deferrable task defers for it instead of sleeping in the worker;
        5. else the capped wait is slept here.
        """
        if retry_after is None:
            return ServerWait(self.backoff(attempt))
        capped = min(retry_after, self.max_retry_after)
        if retry_after > self.max_retry_after:
            return ServerWait(
                capped,
                retry_after,
                f"more than the {self.max_retry_after:.0f}s this client may wait; retry later or raise max_retry_after",
            )
        if self.max_sleep is not None and capped > self.max_sleep:
            return ServerWait(capped, retry_after, f"longer than the {self.max_sleep:.0f}s worth sleeping in a worker")
        return ServerWait(capped, retry_after)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, in ``[0, RETRY_AFTER_CEILING]``.

    The header is hostile input. Delta-seconds: any decimal number; one past
    the ceiling (``inf`` included) reads as the ceiling; a negative number or
    ``nan`` is unreadable. An HTTP-date: the seconds until it, 0 once past,
    at most the ceiling. Returns None when the header is absent or unreadable
    (the caller then falls back to its own backoff): never raises.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, time.time() if now is None else now)
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, RETRY_AFTER_CEILING)


def _seconds_until(http_date: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
