"""A run's context → a window of whole UTC days.

Both Codex APIs think in UTC days, ``[00:00, 24:00)``. A window is a whole
number of them. It comes, in order of precedence, from:

1. explicit ``start``/``end`` (templated operator fields), when given;
2. the run's data interval, when it is not empty;
3. otherwise (Airflow 3's default cron timetable gives an empty interval) the
   UTC day that *ends* at the logical date: a run at 2026-11-25T00:00Z loads
   2026-11-24.

Anything that is not whole UTC days is an error that says how to fix it, never
a silent rounding that would load a partial day or skip one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pendulum

from airflow_provider_codex.api.endpoints import COMPLIANCE_RETENTION_DAYS
from airflow_provider_codex.api.errors import CodexRetentionError

ONE_DAY = timedelta(days=1)

#: How long after a day ends its late compliance events may still land in files.
DEFAULT_GRACE = timedelta(hours=6)

#: The most ``lookback_days`` a run may reach back: ten years, far past any data the API keeps.
MAX_LOOKBACK_DAYS = 3650


class WindowError(ValueError):
    """A window that is not whole UTC days, or is empty."""


@dataclass(frozen=True)
class Window:
    """``[start, end)``, both at 00:00 UTC, ``end`` after ``start``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name, moment in (("start", self.start), ("end", self.end)):
            if moment.tzinfo is None:
                raise WindowError(f"window {name} {moment.isoformat()} has no time zone; give UTC times")
            if not _is_utc_midnight(moment):
                raise WindowError(
                    f"window {name} {moment.astimezone(UTC).isoformat()} is not 00:00 UTC: "
                    "Codex data comes in whole UTC days"
                )
        if self.end <= self.start:
            raise WindowError(f"empty window [{self.start.isoformat()}, {self.end.isoformat()})")

    @classmethod
    def of_days(cls, first: date, last: date) -> Window:
        """The window covering ``first`` to ``last`` inclusive."""
        return cls(_midnight(first), _midnight(last) + ONE_DAY)

    @property
    def days(self) -> list[date]:
        """Each UTC day of the window, in order."""
        first = self.start.astimezone(UTC).date()
        return [first + timedelta(days=i) for i in range(self.day_count)]

    @property
    def day_count(self) -> int:
        return (self.end - self.start) // ONE_DAY

    def widened(self, lookback_days: int) -> Window:
        """The window reaching ``lookback_days`` further back (to reload revised days)."""
        if lookback_days < 0:
            raise WindowError("lookback_days must not be negative")
        return Window(self.start - lookback_days * ONE_DAY, self.end)

    def chunks(self, max_days: int) -> Iterator[Window]:
        """Consecutive sub-windows of at most ``max_days`` days."""
        if max_days < 1:
            raise WindowError("max_days must be at least 1")
        start = self.start
        while start < self.end:
            end = min(self.end, start + max_days * ONE_DAY)
            yield Window(start, end)
            start = end

    def __str__(self) -> str:
        days = self.days
        return f"{days[0]}" if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)} days)"


def window_from_context(
    context: Mapping[str, Any],
    *,
    start: str | datetime | date | None = None,
    end: str | datetime | date | None = None,
    lookback_days: int = 0,
) -> Window:
    """The window a task run should load (see the module docstring for the rules)."""
    if (start is None) != (end is None):
        raise WindowError("give both start and end, or neither")
    if start is not None and end is not None:
        window = Window(_to_utc(start, "start"), _to_utc(end, "end"))
    else:
        window = _from_interval(context)
    return window.widened(lookback_days) if lookback_days else window


def _from_interval(context: Mapping[str, Any]) -> Window:
    interval_start = context.get("data_interval_start")
    interval_end = context.get("data_interval_end")
    if interval_start is not None and interval_end is not None and interval_end > interval_start:
        try:
            return Window(_to_utc(interval_start, "data interval start"), _to_utc(interval_end, "data interval end"))
        except WindowError as bad:
            raise WindowError(
                f"the run's data interval is not whole UTC days ({bad}); schedule the DAG daily at "
                "00:00 UTC (e.g. '@daily'), or pass start/end explicitly"
            ) from None
    logical = context.get("logical_date") or interval_end
    if logical is None:
        raise WindowError(
            "the run has neither a data interval nor a logical date (a manual run without one?); "
            "pass start/end explicitly"
        )
    end = _to_utc(logical, "logical date")
    if not _is_utc_midnight(end):
        raise WindowError(
            f"the run's data interval is empty and its logical date {end.isoformat()} is not 00:00 UTC, "
            "so it does not end a UTC day; schedule at 00:00 UTC (e.g. '0 0 * * *' in UTC), "
            "or pass start/end explicitly"
        )
    return Window(end - ONE_DAY, end)


def unfinished_days(window: Window, now: datetime | None = None) -> list[date]:
    """The window's days that have not ended at ``now``: today's and future days.

    Such a window still loads (a user may want today's figures so far), but its
    rows are incomplete: the load warns and flags them in its summary.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return [day for day in window.days if _midnight(day) + ONE_DAY > now]


def lookback_days_from(value: object) -> int:
    """``lookback_days`` as a whole number of days in ``0..MAX_LOOKBACK_DAYS`` (templated values are strings)."""
    days: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        days = value
    elif isinstance(value, str) and value.strip().isdigit():
        days = int(value.strip())
    if days is None or not 0 <= days <= MAX_LOOKBACK_DAYS:
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:40]}…"
        raise WindowError(
            f"lookback_days must be a whole number of days from 0 to {MAX_LOOKBACK_DAYS}, got {shown}: "
            "fix the operator's lookback_days argument (or its template)"
        )
    return days


def check_retention(window: Window, now: datetime | None = None, days: int = COMPLIANCE_RETENTION_DAYS) -> None:
    """Fail at once if the compliance API no longer holds the window's first day.

    Records are kept ``days`` days; the earliest *whole* day still held is the
    first midnight at or after ``now - days``.
    """
    earliest = earliest_held_day(now or datetime.now(UTC), days)
    if window.start < earliest:
        raise CodexRetentionError(
            f"compliance data is kept only {days} days: the window starts {window.start.date()}, "
            f"but the earliest day the API still holds is {earliest.date()}. Older history cannot be "
            "backfilled; run the compliance DAG every day from its start date so nothing ages out."
        )


def earliest_held_day(now: datetime, days: int = COMPLIANCE_RETENTION_DAYS) -> datetime:
    """The start of the oldest UTC day the compliance API still holds whole at ``now``.

    Records are kept ``days`` days: that is the first midnight at or after ``now - days``.
    """
    oldest = now.astimezone(UTC) - timedelta(days=days)
    return _midnight(oldest.date()) + (ONE_DAY if not _is_utc_midnight(oldest) else timedelta(0))


def retention_expiry(day: date, days: int = COMPLIANCE_RETENTION_DAYS) -> datetime:
    """The last moment the compliance API still holds ``day`` whole: ``days`` days after its start.

    Past it, the day's first records are gone and a load of the day fails
    (:func:`check_retention`): a day never loaded by then is lost for good.
    """
    return _midnight(day) + timedelta(days=days)


def _to_utc(value: str | datetime | date, what: str) -> datetime:
    if isinstance(value, str):
        try:
            parsed = pendulum.parse(value, tz="UTC")
        except (ValueError, pendulum.parsing.exceptions.ParserError) as bad:
            raise WindowError(f"{what} {value!r} is not a date or timestamp: {bad}") from None
        if not isinstance(parsed, datetime):
            if isinstance(parsed, date):
                return _midnight(parsed)
            raise WindowError(f"{what} {value!r} is not a date or timestamp")
        value = parsed
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise WindowError(f"{what} {value.isoformat()} has no time zone; give UTC times")
        # A plain stdlib datetime: pendulum's arithmetic drops a stdlib tzinfo.
        utc = value.astimezone(UTC)
        return datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=UTC)
    return _midnight(value)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _is_utc_midnight(moment: datetime) -> bool:
    utc = moment.astimezone(UTC)
    return utc.hour == utc.minute == utc.second == utc.microsecond == 0
