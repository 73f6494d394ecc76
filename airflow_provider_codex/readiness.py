"""When is a Codex day ready to load? The rules, written once.

A sensor's poke (sync, in a worker) and its trigger (async, in the triggerer)
must never disagree about readiness, so both run the same *check* object from
this module: each check has one pure ``evaluate`` that holds the rule, and a
sync ``run`` and an async ``arun`` that only fetch what ``evaluate`` needs (the
two clients share one core, so the request is the same on both faces).

The rules:

- **Compliance freshness** (:func:`freshness_ready`): every requested event
  type's ``max_event_time`` is at or past the window's end plus a grace
  period. The contract says freshness "does not guarantee that all earlier
  events have arrived", hence the grace; a null time (no event yet) is not
  ready.
- **Analytics day** (:func:`analytics_day_ready`): the endpoint serves rows
  for the window's last day, once that day has ended. A workspace can truly
  have a quiet day with no rows at all, so a day older than ``settle_time``
  counts as ready (and empty) rather than making the sensor wait forever.

Which errors end the wait is :func:`.failures.is_permanent`, the same rule
the load operators follow.

It does no Airflow work, so the triggerer imports it cheaply, outside any DAG folder.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.endpoints import Api, Endpoint, WindowStyle
from airflow_provider_codex.api.paging import QueryParams, iso_utc, window_params
from airflow_provider_codex.api.retry import RetryPolicy

#: How long after an analytics day ends an empty answer means "quiet day", not "not there yet".
#: The dashboard lags up to 12 hours [official]; twice that leaves room for a slow day.
DEFAULT_SETTLE_TIME = timedelta(days=1)

#: Retries inside one check. A check is repeated every poke anyway, so it retries little,
#: and a long ``Retry-After`` is raised (transient: "not ready, ask later"), never slept.
CHECK_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.5, backoff_max=5.0, max_sleep=30.0)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- the pure rules -------------------------------------------------------------------


def freshness_ready(max_times: Mapping[str, datetime | None], target: datetime) -> bool:
    """Every event type has events at or past ``target`` (a null time is not ready)."""
    return bool(max_times) and all(moment is not None and moment >= target for moment in max_times.values())


class DayState(enum.StrEnum):
    """Where an analytics day stands."""

    #: The day has not ended yet: its rows would be partial.
    NOT_ENDED = "not_ended"
    #: No rows yet, and the day is younger than the settle time.
    WAITING = "waiting"
    #: The endpoint serves rows for the day.
    ROWS = "rows"
    #: Still no rows, but the day is older than the settle time: a quiet day.
    SETTLED_EMPTY = "settled_empty"

    @property
    def ready(self) -> bool:
        return self in (DayState.ROWS, DayState.SETTLED_EMPTY)


def analytics_day_ready(rows_found: bool, day_end: datetime, settle_time: timedelta, now: datetime) -> DayState:
    """The state of a day whose last moment is ``day_end`` (exclusive), seen at ``now``."""
    if now < day_end:
        return DayState.NOT_ENDED
    if rows_found:
        return DayState.ROWS
    if now >= day_end + settle_time:
        return DayState.SETTLED_EMPTY
    return DayState.WAITING


# --- the checks: rule + the one request it needs ----------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: ``message`` is for the task log, ``details`` (JSON-able) for XCom."""

    ready: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


class ReadinessCheck(Protocol):
    """What sensors and triggers run: the same request and rule on either client face."""

    def run(self, client: CodexClient) -> CheckResult: ...

    async def arun(self, client: AsyncCodexClient) -> CheckResult: ...


@dataclass(frozen=True)
class FreshnessCheck:
    """Compliance: is every event type's ``max_event_time`` at or past ``target``?"""

    event_types: tuple[str, ...]
    #: The window's end plus the grace period.
    target: datetime

    def __post_init__(self) -> None:
        if not self.event_types:
            raise ValueError("at least one event type is required")
        if self.target.tzinfo is None:
            raise ValueError("the freshness target must be timezone-aware")

    def evaluate(self, max_times: Mapping[str, datetime | None]) -> CheckResult:
        ready = freshness_ready(max_times, self.target)
        shown = {t: None if m is None else iso_utc(m) for t, m in max_times.items()}
        details: dict[str, Any] = {"target": iso_utc(self.target), "max_event_time": shown}
        if ready:
            return CheckResult(True, f"compliance events have landed up to {details['target']}: {shown}", details)
        behind = sorted(t for t, m in max_times.items() if m is None or m < self.target)
        return CheckResult(
            False,
            f"compliance events not yet landed up to {details['target']} for {', '.join(behind)}: {shown}",
            details,
        )

    def run(self, client: CodexClient) -> CheckResult:
        return self.evaluate(client.max_event_time(self.event_types))

    async def arun(self, client: AsyncCodexClient) -> CheckResult:
        return self.evaluate(await client.max_event_time(self.event_types))


@dataclass(frozen=True)
class AnalyticsDayCheck:
    """Analytics: does ``endpoint`` serve rows for ``day`` (one request, ``limit=1``)?"""

    endpoint: Endpoint
    day: date
    settle_time: timedelta
    clock: Callable[[], datetime] = utcnow

    def __post_init__(self) -> None:
        if self.endpoint.api is not Api.ANALYTICS or self.endpoint.window is WindowStyle.NONE:
            raise ValueError(f"{self.endpoint.name!r} is not an analytics endpoint with a time window")

    @property
    def day_start(self) -> datetime:
        return datetime.combine(self.day, time(0), tzinfo=UTC)

    @property
    def day_end(self) -> datetime:
        return self.day_start + timedelta(days=1)

    def params(self) -> QueryParams:
        """The window of the one request: just ``day``."""
        return window_params(self.endpoint, self.day_start, self.day_end)

    def evaluate(self, rows_found: bool, now: datetime) -> CheckResult:
        state = analytics_day_ready(rows_found, self.day_end, self.settle_time, now)
        details: dict[str, Any] = {"endpoint": self.endpoint.name, "day": self.day.isoformat(), "state": state.value}
        where = f"{self.endpoint.name} for {self.day}"
        messages = {
            DayState.NOT_ENDED: f"{where}: the day has not ended yet (now {iso_utc(now)})",
            DayState.WAITING: f"{where}: no rows yet; the day counts as quiet from "
            f"{iso_utc(self.day_end + self.settle_time)} (settle time {self.settle_time})",
            DayState.ROWS: f"{where}: rows are served",
            DayState.SETTLED_EMPTY: f"{where}: still no rows {self.settle_time} after the day ended; "
            "treating it as a quiet day with no activity",
        }
        return CheckResult(state.ready, messages[state], details)

    def _due(self) -> tuple[datetime, bool]:
        """``now``, and whether a request is worth sending (a day that has not ended is never ready)."""
        now = self.clock()
        return now, now >= self.day_end

    def run(self, client: CodexClient) -> CheckResult:
        now, due = self._due()
        rows_found = due and bool(next(iter(client.iter_pages(self.endpoint, self.params(), limit=1))).rows)
        return self.evaluate(rows_found, now)

    async def arun(self, client: AsyncCodexClient) -> CheckResult:
        now, due = self._due()
        rows_found = False
        if due:
            async for page in client.iter_pages(self.endpoint, self.params(), limit=1):
                rows_found = bool(page.rows)
                break
        return self.evaluate(rows_found, now)


def event_types_tuple(event_types: Sequence[str] | str) -> tuple[str, ...]:
    """Event types as a tuple (a lone string is one type, not its characters)."""
    return (event_types,) if isinstance(event_types, str) else tuple(event_types)
