"""The sandbox's clock: what "now" is decides which data exists.

Analytics rows exist for days that have begun (the current day's rows are
partial: only users whose first activity is before "now"), log files exist once
their ``end_time`` has passed, and ``max_event_time`` follows. Moving the clock
(``POST /_sandbox/clock``) therefore simulates data arriving while a sensor waits.

Default "now":

* ``config.now`` when given;
* else, when ``config.today`` is the real UTC date, the real wall clock (a live
  sandbox, as the CLI runs by default);
* else the end of ``config.today`` (``today + 1 day, 00:00:00Z``), frozen: every
  event of ``today`` has landed, nothing after it exists. Tests use this, so
  their data does not depend on when they run.

Signed URL expiry always uses real time: it protects real requests.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta


def day_start(day: date) -> datetime:
    """``day`` at 00:00 UTC."""
    return datetime.combine(day, time.min, tzinfo=UTC)


class SandboxClock:
    """A settable, thread-safe clock."""

    def __init__(self, today: date, now: datetime | None = None) -> None:
        self._today = today
        self._initial = now
        self._override: datetime | None = None
        self._lock = threading.Lock()

    @property
    def live(self) -> bool:
        """Whether "now" follows the real wall clock."""
        with self._lock:
            return self._override is None and self._initial is None and self._today == datetime.now(UTC).date()

    def now(self) -> datetime:
        with self._lock:
            if self._override is not None:
                return self._override
            if self._initial is not None:
                return self._initial.astimezone(UTC)
        real = datetime.now(UTC)
        if real.date() == self._today:
            return real
        return day_start(self._today + timedelta(days=1))

    def set(self, now: datetime | None) -> None:
        """Freeze "now" at ``now`` (tz-aware); ``None`` returns to the default."""
        if now is not None and now.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware datetime")
        with self._lock:
            self._override = None if now is None else now.astimezone(UTC)

    def advance(self, seconds: float) -> datetime:
        """Freeze "now" at the current "now" plus ``seconds``; return it."""
        new = self.now() + timedelta(seconds=seconds)
        self.set(new)
        return new

    def current_day(self) -> date:
        """The UTC day "now" is in; at exactly midnight, the day that just ended."""
        return (self.now() - timedelta(microseconds=1)).date()
