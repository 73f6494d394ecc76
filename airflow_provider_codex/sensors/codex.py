"""Sensors that hold a DAG until a Codex day is ready to load.

Analytics days lag (the dashboard up to 12 hours) and compliance files land in
batches, so a daily DAG waits for its window before loading it. Both sensors
resolve the window exactly as the load operators do (templated ``start`` and
``end``, else the run's data interval, else the day ending at the logical
date; see :mod:`airflow_provider_codex.windows`) and ask the readiness rules
of :mod:`airflow_provider_codex.readiness`, the same ones their
triggers run.

Three ways to wait, as every Airflow sensor: ``mode="poke"`` (a worker slot
sleeps between checks), ``mode="reschedule"`` (the slot is freed between
checks) and ``deferrable=True`` (the wait moves to the triggerer; default from
``[operators] default_deferrable``). A deferrable sensor checks once in the
worker first, so a day that is already ready costs no deferral.

Errors that waiting cannot fix (a rejected key, a missing scope, a wrong
workspace, a 422, a missing connection, a window that is not whole UTC days)
fail the task at once, without retries, instead of poking until the timeout.
A 429 or 5xx that outlasts the client's own retries only means "not ready
yet": it is logged and the sensor checks again at the next poke.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue, timezone
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES
from airflow_provider_codex.api.paging import iso_utc
from airflow_provider_codex.datasets import Source, get_dataset
from airflow_provider_codex.failures import is_permanent, is_transient
from airflow_provider_codex.hooks.codex import CodexHook
from airflow_provider_codex.readiness import (
    CHECK_RETRY,
    DEFAULT_SETTLE_TIME,
    AnalyticsDayCheck,
    CheckResult,
    FreshnessCheck,
    event_types_tuple,
)
from airflow_provider_codex.triggers.codex import (
    SUCCESS,
    TIMEOUT,
    CodexAnalyticsDayTrigger,
    CodexComplianceFreshnessTrigger,
    CodexReadinessTrigger,
)
from airflow_provider_codex.windows import DEFAULT_GRACE, Window, window_from_context

#: How long after the trigger's own deadline ``defer(timeout=...)`` ends the wait anyway
#: (only if the triggerer never delivered the trigger's timeout event).
DEFER_TIMEOUT_MARGIN = timedelta(seconds=60)


CheckT = TypeVar("CheckT", FreshnessCheck, AnalyticsDayCheck)


class CodexReadinessSensor(BaseSensorOperator, Generic[CheckT], abc.ABC):
    """Base of the Codex sensors: window → check → poke, reschedule or defer.

    :param codex_conn_id: the ``codex`` connection.
    :param start: first day of the window (templated; ``YYYY-MM-DD`` or a UTC
        midnight). With ``end``, overrides the run's data interval.
    :param end: day after the window's last day (exclusive, templated).
    :param deferrable: wait in the triggerer instead of a worker (default:
        ``[operators] default_deferrable``). Takes precedence over ``mode``.

    Also every :class:`~airflow.sdk.BaseSensorOperator` argument:
    ``poke_interval``, ``timeout``, ``mode``, ``soft_fail``, ``exponential_backoff``...
    """

    template_fields: Sequence[str] = ("codex_conn_id", "start", "end")
    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        codex_conn_id: str = CodexHook.default_conn_name,
        start: str | datetime | date | None = None,
        end: str | datetime | date | None = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.codex_conn_id = codex_conn_id
        self.start = start
        self.end = end
        self.deferrable = (
            deferrable if deferrable is not None else conf.getboolean("operators", "default_deferrable", fallback=False)
        )

    # what subclasses provide

    @abc.abstractmethod
    def make_check(self, window: Window) -> CheckT:
        """The readiness check of ``window``."""

    @abc.abstractmethod
    def make_trigger(self, check: CheckT, timeout_at: str) -> CodexReadinessTrigger:
        """A trigger that repeats ``check`` until ``timeout_at``."""

    # the poke path (modes "poke" and "reschedule")

    def poke(self, context: Any) -> PokeReturnValue:
        """One check; when ready, the check's details become the task's XCom (as when deferred)."""
        result = self._check_once(self._window_check(context))
        return PokeReturnValue(result is not None and result.ready, result.details if result else None)

    def _check_once(self, check: CheckT) -> CheckResult | None:
        """Run the check once: its result, ``None`` after a transient error; permanent errors fail the task."""
        hook = CodexHook(self.codex_conn_id, retry=CHECK_RETRY)
        try:
            result = check.run(hook.client)
        except Exception as failed:
            if is_permanent(failed):
                raise AirflowFailException(f"{type(failed).__name__}: {failed}") from failed
            if not is_transient(failed):
                raise
            self.log.warning("Not ready: %s (will check again)", failed)
            return None
        finally:
            hook.close()
        self.log.info("%s: %s", "Ready" if result.ready else "Not ready", result.message)
        return result

    def _window_check(self, context: Any) -> CheckT:
        try:
            window = window_from_context(context, start=self.start, end=self.end)
        except ValueError as bad:  # WindowError, and a check refusing its arguments
            raise AirflowFailException(f"{type(bad).__name__}: {bad}") from bad
        return self.make_check(window)

    # the deferrable path

    def execute(self, context: Any) -> Any:
        """Poke (or reschedule) as any sensor; deferrable: check once here, then defer the rest."""
        if not self.deferrable:
            return super().execute(context)
        started = timezone.utcnow()
        check = self._window_check(context)
        result = self._check_once(check)
        if result is not None and result.ready:
            return result.details
        deadline = started + timedelta(seconds=self.timeout)
        self.log.info("Deferring: checking every %ss until %s", self.poke_interval, iso_utc(deadline))
        self.defer(
            trigger=self.make_trigger(check, deadline.isoformat()),
            method_name="execute_complete",
            timeout=deadline - timezone.utcnow() + DEFER_TIMEOUT_MARGIN,
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Back from the triggerer: success returns the check's details (XCom); the rest fail."""
        if not event:
            raise AirflowFailException("the trigger ended without an event")
        status, message = event.get("status"), str(event.get("message", ""))
        if status == SUCCESS:
            self.log.info("Ready: %s", message)
            return event.get("details")
        if status == TIMEOUT:
            raise AirflowSensorTimeout(f"Sensor has timed out: {message}")
        raise AirflowFailException(message or f"the trigger failed: {event!r}")


class CodexComplianceFreshnessSensor(CodexReadinessSensor[FreshnessCheck]):
    """Wait until the Compliance API's freshness covers the window's end plus ``grace``.

    Ready when ``GET /max_event_time`` reports, for every event type, a time at
    or past ``window.end + grace`` (a null time is not ready). The contract
    warns that freshness alone does not promise every earlier event has
    landed; ``grace`` is the margin, the same one the compliance load uses
    when listing the window's files.

    :param event_types: the event types that must all have landed
        (default: every Codex type, ``CODEX_LOG`` and ``CODEX_SECURITY_LOG``).
    :param grace: how far past the window's end the events must reach (default: the
        compliance load's own grace, so the sensor waits for what the load will list).
    """

    def __init__(
        self,
        *,
        event_types: Sequence[str] = CODEX_EVENT_TYPES,
        grace: timedelta = DEFAULT_GRACE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.event_types = event_types_tuple(event_types)
        if not self.event_types:
            raise ValueError("event_types must name at least one compliance event type")
        if grace < timedelta(0):
            raise ValueError("grace must not be negative")
        self.grace = grace

    def make_check(self, window: Window) -> FreshnessCheck:
        return FreshnessCheck(self.event_types, window.end + self.grace)

    def make_trigger(self, check: FreshnessCheck, timeout_at: str) -> CodexComplianceFreshnessTrigger:
        return CodexComplianceFreshnessTrigger(
            codex_conn_id=self.codex_conn_id,
            target=iso_utc(check.target),
            event_types=list(check.event_types),
            poke_interval=self.poke_interval,
            timeout_at=timeout_at,
        )


class CodexAnalyticsDaySensor(CodexReadinessSensor[AnalyticsDayCheck]):
    """Wait until an analytics endpoint serves rows for the window's last day.

    One cheap request per check (the last day's window, ``limit=1``). A
    workspace can truly have a quiet day without any row, so once the day is
    older than ``settle_time`` (now >= day end + ``settle_time``) the sensor
    succeeds anyway and logs that the day was empty, rather than waiting
    until its timeout.

    :param dataset: an analytics dataset (``usage_workspace``, ``usage``,
        ``code_reviews``, ``code_review_responses``).
    :param settle_time: how long after the day ends no rows means "quiet day".
    """

    def __init__(
        self,
        *,
        dataset: str = "usage_workspace",
        settle_time: timedelta = DEFAULT_SETTLE_TIME,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        found = get_dataset(dataset)
        if found.source is not Source.ANALYTICS_WINDOW:
            raise ValueError(f"dataset {dataset!r} is not an analytics dataset; the analytics day sensor needs one")
        if settle_time < timedelta(0):
            raise ValueError("settle_time must not be negative")
        self.dataset = found.name
        self.settle_time = settle_time

    def make_check(self, window: Window) -> AnalyticsDayCheck:
        return AnalyticsDayCheck(get_dataset(self.dataset).endpoint, window.days[-1], self.settle_time)

    def make_trigger(self, check: AnalyticsDayCheck, timeout_at: str) -> CodexAnalyticsDayTrigger:
        return CodexAnalyticsDayTrigger(
            codex_conn_id=self.codex_conn_id,
            dataset=self.dataset,
            day=check.day.isoformat(),
            settle_seconds=check.settle_time.total_seconds(),
            poke_interval=self.poke_interval,
            timeout_at=timeout_at,
        )
