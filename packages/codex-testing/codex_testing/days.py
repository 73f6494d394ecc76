"""Which days a backfill against the sandbox can load, so that nothing waits and nothing expires.

The daily example DAGs load one UTC day per run, the day before the run's
logical date. Against the sandbox on the real clock two facts bound the range:

- a day's compliance logs are complete ``grace`` after it ends (the freshness
  sensor waits until then), so the last day is the day before yesterday at
  the latest, earlier while the sandbox's latest event is older;
- the Compliance API keeps 30 days, so the compliance days start with the
  oldest day still held when the work ends (``within`` from now).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES, COMPLIANCE_RETENTION_DAYS
from airflow_provider_codex.windows import DEFAULT_GRACE
from codex_testing.sandbox import RunningSandbox


@dataclass(frozen=True)
class BackfillDays:
    """The days loaded, in order, one per backfill run."""

    analytics: tuple[date, ...]
    compliance: tuple[date, ...]


def midnight(day: date) -> datetime:
    """The start of ``day`` in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def day_range(first: date, last: date) -> tuple[date, ...]:
    """Every day from ``first`` to ``last``, both included."""
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))


def logical_dates(days: Sequence[date]) -> tuple[date, date]:
    """``--from-date`` and ``--to-date`` of the ``airflow backfill create`` that loads ``days``."""
    return days[0] + timedelta(days=1), days[-1] + timedelta(days=1)


def complete_days(
    sandbox: RunningSandbox,
    count: int = 30,
    *,
    grace: timedelta = DEFAULT_GRACE,
    within: timedelta = timedelta(minutes=20),
    now: datetime | None = None,
) -> BackfillDays:
    """The last ``count`` days whose logs are complete; of those, the ones compliance still holds.

    ``within``: how long the backfill may take; a day that would expire before then is left out.
    """
    now = now or datetime.now(UTC)
    landed = [sandbox.data.max_event_time(t) for t in CODEX_EVENT_TYPES]
    if not all(landed):
        raise ValueError(f"the sandbox has no events of some type yet: {landed}")
    fresh_until = min(t for t in landed if t is not None)
    last = now.date() - timedelta(days=2)
    while midnight(last + timedelta(days=1)) + grace > fresh_until:
        last -= timedelta(days=1)
    first = last - timedelta(days=count - 1)
    oldest = now + within - timedelta(days=COMPLIANCE_RETENTION_DAYS)
    held = oldest.date() + timedelta(days=0 if oldest == midnight(oldest.date()) else 1)
    return BackfillDays(day_range(first, last), day_range(max(first, held), last))
