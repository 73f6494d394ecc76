"""Triggers that wait, in the triggerer, for a Codex day to be ready.

They run the very checks the sensors' pokes run (:mod:`.readiness`), on the
async client, so a deferred sensor and a poking one always agree. Each one
loops: sleep ``poke_interval`` (the sensor checked just before deferring);
check; if ready, yield ``{"status": "success", ...}``; if the error cannot
fix itself (bad key, missing scope, wrong workspace, 422, missing
connection), yield ``{"status": "error", "message": ...}``; if its deadline
has passed, yield ``{"status": "timeout", ...}``; else go round again.

Sleeping first also keeps a trigger from firing seconds after the deferral,
which Airflow can mistake for a failure of the resumed task (``docs/sensors.md``).

The deadline lives in the trigger (``timeout_at``), not only in
``defer(timeout=...)``, because ``dag.test()`` runs triggers inline and does
not enforce a deferral timeout; the sensor also passes a later ``timeout`` to
``defer`` as a backstop should the triggerer itself get stuck.

Triggers only read (a trigger may run twice, or be moved between triggerers),
and their kwargs are plain JSON: a connection id, ISO strings, floats and a
list of event types. Events carry messages built from the client's errors,
which never contain a key.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_codex.datasets import Source, endpoint_for
from airflow_provider_codex.failures import is_permanent, is_transient
from airflow_provider_codex.hooks.codex import CodexHook
from airflow_provider_codex.readiness import (
    CHECK_RETRY,
    AnalyticsDayCheck,
    FreshnessCheck,
    ReadinessCheck,
    event_types_tuple,
    utcnow,
)

#: The ``status`` values of the events these triggers yield.
SUCCESS, ERROR, TIMEOUT = "success", "error", "timeout"


def parse_utc(value: str, what: str) -> datetime:
    """An ISO timestamp with a zone (as the triggers' kwargs carry them)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no time zone")
    return moment


def event(status: str, message: str, *, details: dict[str, Any] | None = None) -> TriggerEvent:
    """A trigger event: ``{"status", "message"}`` and, on success, the check's ``details``."""
    payload: dict[str, Any] = {"status": status, "message": message}
    if details is not None:
        payload["details"] = details
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


class CodexReadinessTrigger(BaseTrigger, abc.ABC):
    """The loop shared by the Codex triggers; subclasses say what to check.

    :param codex_conn_id: the ``codex`` connection.
    :param poke_interval: seconds between checks.
    :param timeout_at: ISO time after which the trigger gives up with a
        ``timeout`` event (``None``: wait until ready or failed).
    """

    def __init__(self, *, codex_conn_id: str, poke_interval: float, timeout_at: str | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if poke_interval < 0:
            raise ValueError("poke_interval must not be negative")
        self.codex_conn_id = codex_conn_id
        self.poke_interval = float(poke_interval)
        self.timeout_at = timeout_at
        self._deadline = parse_utc(timeout_at, "timeout_at") if timeout_at is not None else None

    @abc.abstractmethod
    def make_check(self) -> ReadinessCheck:
        """The check this trigger repeats."""

    @abc.abstractmethod
    def check_kwargs(self) -> dict[str, Any]:
        """The subclass's own JSON-able constructor arguments."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "codex_conn_id": self.codex_conn_id,
            "poke_interval": self.poke_interval,
            "timeout_at": self.timeout_at,
        }
        kwargs.update(self.check_kwargs())
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        check = self.make_check()
        hook = CodexHook(self.codex_conn_id, retry=CHECK_RETRY)
        try:
            client = await hook.aget_async_client()
        except Exception as failed:
            if not is_permanent(failed):
                raise
            yield self._error(failed)
            return
        async with client:
            while True:
                await asyncio.sleep(self._next_wait())  # first: the sensor has just checked
                try:
                    result = await check.arun(client)
                except Exception as failed:
                    if is_permanent(failed):
                        yield self._error(failed)
                        return
                    if not is_transient(failed):
                        raise
                    last = f"{type(failed).__name__}: {failed}"
                    self.log.warning("Not ready: %s (will check again)", last)
                else:
                    if result.ready:
                        self.log.info("Ready: %s", result.message)
                        yield event(SUCCESS, result.message, details=result.details)
                        return
                    last = result.message
                    self.log.info("Not ready: %s", last)
                if self._deadline is not None and utcnow() >= self._deadline:
                    yield event(TIMEOUT, f"not ready by {self.timeout_at}; last check: {last}")
                    return

    def _next_wait(self) -> float:
        """``poke_interval``, or less when the deadline comes first (then one last check)."""
        if self._deadline is None:
            return self.poke_interval
        return max(0.0, min(self.poke_interval, (self._deadline - utcnow()).total_seconds()))

    def _error(self, failed: BaseException) -> TriggerEvent:
        self.log.error("Giving up: %s: %s", type(failed).__name__, failed)
        return event(ERROR, f"{type(failed).__name__}: {failed}")


class CodexComplianceFreshnessTrigger(CodexReadinessTrigger):
    """Waits until every event type's ``max_event_time`` is at or past ``target``.

    :param target: ISO time: the window's end plus the grace period.
    :param event_types: the compliance event types that must all have landed.
    """

    def __init__(
        self,
        *,
        codex_conn_id: str,
        target: str,
        event_types: Sequence[str],
        poke_interval: float,
        timeout_at: str | None = None,
    ) -> None:
        super().__init__(codex_conn_id=codex_conn_id, poke_interval=poke_interval, timeout_at=timeout_at)
        self.target = target
        self.event_types = list(event_types_tuple(event_types))
        self.make_check()  # refuse bad arguments when the trigger is made, not when it runs

    def make_check(self) -> FreshnessCheck:
        return FreshnessCheck(tuple(self.event_types), parse_utc(self.target, "target"))

    def check_kwargs(self) -> dict[str, Any]:
        return {"target": self.target, "event_types": list(self.event_types)}


class CodexAnalyticsDayTrigger(CodexReadinessTrigger):
    """Waits until an analytics dataset's endpoint serves rows for ``day``, or the day has settled empty.

    :param dataset: an analytics dataset's name (``usage_workspace``...); a trigger
        serialized by an earlier version passes it as ``endpoint`` (the names agree).
    :param day: the UTC day, ``YYYY-MM-DD``.
    :param settle_seconds: how long after the day ends no rows means a quiet day.
    """

    def __init__(
        self,
        *,
        codex_conn_id: str,
        day: str,
        settle_seconds: float,
        poke_interval: float,
        dataset: str | None = None,
        timeout_at: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(codex_conn_id=codex_conn_id, poke_interval=poke_interval, timeout_at=timeout_at)
        named = dataset if dataset is not None else endpoint
        if named is None:
            raise ValueError("CodexAnalyticsDayTrigger needs dataset=")
        self.dataset = named
        self.day = day
        self.settle_seconds = float(settle_seconds)
        self.make_check()

    def make_check(self) -> AnalyticsDayCheck:
        return AnalyticsDayCheck(
            endpoint_for(self.dataset, Source.ANALYTICS_WINDOW),
            date.fromisoformat(self.day),
            timedelta(seconds=self.settle_seconds),
        )

    def check_kwargs(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "day": self.day, "settle_seconds": self.settle_seconds}
