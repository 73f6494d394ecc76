"""The retention guard: fail loudly while a missing compliance day can still be backfilled, before it is lost.

All the reading is :func:`~airflow_provider_codex.coverage.read_coverage`;
this operator picks the days to check, decides, and writes the message: the
days, what each has left, and the ``airflow backfill create`` command that
loads them. It never calls the API (the ``codex`` connection is read for its
workspace only). A retry cannot load a missing day, so it fails without one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_codex.coverage import (
    DEFAULT_MARGIN,
    Coverage,
    DayCoverage,
    DayStatus,
    day_runs,
    first_loaded_day,
    format_days,
    read_coverage,
)
from airflow_provider_codex.datasets import Source, get_dataset
from airflow_provider_codex.hooks.codex import CodexHook
from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.windows import ONE_DAY, WindowError, earliest_held_day, window_from_context

#: A day that turned LOST this long ago or less fails the guard (once, for a daily DAG); older ones are logged.
LOST_ALERT = timedelta(days=1)


class RetentionGuardError(AirflowFailException):
    """Missing compliance days close to (or past) the API's retention: a retry cannot load them."""


def duration_from(value: object, what: str) -> timedelta:
    """A templated duration: a ``timedelta``, whole days (``7``, ``"7"``) or ISO 8601 (``"P7D"``, ``"PT36H"``)."""
    if isinstance(value, timedelta):
        found: timedelta | None = value
    elif isinstance(value, int) and not isinstance(value, bool):
        found = timedelta(days=value)
    elif isinstance(value, str) and value.strip().isdigit():
        found = timedelta(days=int(value.strip()))
    elif isinstance(value, str):
        try:
            parsed = pendulum.parse(value.strip())
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            parsed = None
        found = parsed.as_timedelta() if isinstance(parsed, pendulum.Duration) else None
    else:
        found = None
    if found is None or found < timedelta(0):
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:40]}…"
        raise AirflowFailException(
            f"{what} must be a duration (whole days like 7, or ISO 8601 like 'P7D' or 'PT36H'), got {shown}"
        )
    return found


def backfill_command(dag_id: str, first: date, last: date) -> str:
    """The backfill loading ``first``..``last`` with a daily DAG whose run loads the day before its logical date.

    ``--reprocess-behavior completed``: a day whose run succeeded before its rows
    were removed is run again too (the default reruns nothing that exists).
    """
    return (
        f"airflow backfill create --dag-id {dag_id} --from-date {(first + ONE_DAY).isoformat()} "
        f"--to-date {(last + ONE_DAY).isoformat()} --reprocess-behavior completed"
    )


def _left(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h left" if hours >= 0 else "expired"


class CodexRetentionGuardOperator(BaseOperator):
    """Fail when a compliance day the API still holds is missing from the destination and about to expire.

    Checks the days from ``first`` (default: the first day the destination
    holds of the dataset, the day its loads began) to ``last`` (default: the
    day the run loads, the one before its logical date). It fails, without
    retries, listing the days and the backfill command, when

    * a missing day is within ``margin`` of leaving the API's retention
      (``EXPIRING``): backfill it now;
    * a missing day left the retention less than a day ago (``LOST``): it can
      never be loaded; the failure says so once (a daily DAG's next run only
      logs it), so the gap is recorded, and the DAG goes green again.

    Otherwise it logs the coverage summary and returns the coverage report
    (:meth:`~.coverage.Coverage.to_json`) as XCom.

    :param sql_conn_id: the connection the loads wrote to (templated).
    :param schema: the schema (MySQL: database) of the tables, as the loads had it.
    :param table_prefix: the loads' table prefix.
    :param dataset: the dataset to guard; one the API keeps only for its retention
        (``compliance_events``).
    :param margin: how long before expiry a missing day fails the guard (templated;
        days, or ISO 8601 like ``"P7D"``).
    :param first: first day to check (templated, ``YYYY-MM-DD``).
    :param last: last day to check, included (templated).
    :param workspace_id: the workspace; default the ``codex_conn_id`` connection's.
    :param codex_conn_id: the ``codex`` connection the loads used (read for its workspace only).
    :param backfill_dag_id: the DAG the backfill command names (templated); default this task's DAG.
    """

    template_fields: Sequence[str] = (
        "sql_conn_id",
        "schema",
        "margin",
        "first",
        "last",
        "workspace_id",
        "backfill_dag_id",
    )
    ui_color = "#fdecea"

    def __init__(
        self,
        *,
        sql_conn_id: str,
        schema: str | None = None,
        table_prefix: str = "",
        dataset: str = "compliance_events",
        margin: timedelta | int | str = DEFAULT_MARGIN,
        first: str | date | None = None,
        last: str | date | None = None,
        workspace_id: str | None = None,
        codex_conn_id: str = CodexHook.default_conn_name,
        backfill_dag_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 0)  # a retry cannot load a missing day
        super().__init__(**kwargs)
        if get_dataset(dataset).source is not Source.COMPLIANCE_LOGS:
            raise ValueError(f"dataset {dataset!r} is not kept only for the API's retention: guard 'compliance_events'")
        self.sql_conn_id = sql_conn_id
        self.schema = schema
        self.table_prefix = table_prefix
        self.dataset = dataset
        self.margin = margin
        self.first = first
        self.last = last
        self.workspace_id = workspace_id
        self.codex_conn_id = codex_conn_id
        self.backfill_dag_id = backfill_dag_id

    def execute(self, context: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        margin = duration_from(self.margin, "margin")
        workspace_id = self.workspace_id or CodexHook(self.codex_conn_id).config.workspace_id
        if not workspace_id:
            raise AirflowFailException(
                f"connection {self.codex_conn_id!r} has no workspace_id: pass workspace_id to the retention guard"
            )
        sink = SqlSink.from_conn_id(self.sql_conn_id, schema=self.schema, table_prefix=self.table_prefix)
        last = self._day(self.last, "last") or self._run_day(context)
        first = self._day(self.first, "first") or first_loaded_day(sink, workspace_id, self.dataset)
        if first is None:
            raise AirflowFailException(
                f"the destination {self.sql_conn_id!r} holds no day of {self.dataset} for workspace {workspace_id}: "
                "nothing to guard. Run the loads first, or pass first= (the day your loads began)"
            )
        first = min(first, last)
        coverage = read_coverage(sink, workspace_id, first, last, now=now, datasets=[self.dataset], margin=margin)
        self.log.info("%s", coverage.summary())
        dag_id = self.backfill_dag_id or getattr(context.get("dag"), "dag_id", None) or self.dag_id
        message = guard_message(coverage, self.dataset, dag_id, now)
        if message:
            raise RetentionGuardError(message)
        lost = coverage.lost(self.dataset)
        if lost:
            self.log.warning("days lost earlier, which no backfill can load: %s", format_days(lost[self.dataset]))
        return coverage.to_json()

    @staticmethod
    def _day(value: str | date | None, what: str) -> date | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC).date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise AirflowFailException(f"{what} must be a day (YYYY-MM-DD), got {str(value)[:40]!r}") from None

    @staticmethod
    def _run_day(context: Mapping[str, Any]) -> date:
        try:
            return window_from_context(context).days[-1]
        except WindowError as bad:
            raise AirflowFailException(f"WindowError: {bad}; pass last= to the retention guard") from bad


def guard_message(coverage: Coverage, dataset: str, dag_id: str, now: datetime) -> str | None:
    """Why the guard fails (``None``: it passes). Days lost longer than :data:`LOST_ALERT` ago are only noted."""
    days = coverage.dataset(dataset)
    expiring = days.with_status(DayStatus.EXPIRING)
    lost = days.with_status(DayStatus.LOST)
    new_lost = [d for d in lost if d.expires_at is not None and now - d.expires_at <= LOST_ALERT]
    if not expiring and not new_lost:
        return None
    held_from = earliest_held_day(now, coverage.retention_days).date()
    lines = [f"Codex retention guard, workspace {coverage.workspace_id}, {dataset}:"]
    if expiring:
        lines.append(
            f"{len(expiring)} day(s) missing from the destination leave the API's {coverage.retention_days}-day "
            f"retention within {_margin(coverage.margin)}; backfill them now:"
        )
        lines += [_line(d, now) for d in expiring]
        lines.append("Backfill (each run of the DAG loads the day before its logical date):")
        lines += [f"  {backfill_command(dag_id, a, b)}" for a, b in day_runs(d.day for d in expiring)]
    if new_lost:
        lines.append(
            f"{len(new_lost)} day(s) missing from the destination are LOST: the API no longer holds them "
            f"(it holds {held_from} onwards) and no backfill can load them. Record the gap; this is reported once."
        )
        lines += [_line(d, now) for d in new_lost]
    older = len(lost) - len(new_lost)
    if older:
        lines.append(f"({older} older lost day(s) in the range were reported before.)")
    return "\n".join(lines)


def _line(day: DayCoverage, now: datetime) -> str:
    assert day.expires_at is not None  # a compliance day
    return f"  {day.day.isoformat()}  expires {day.expires_at.isoformat()}  ({_left(day.expires_at - now)})"


def _margin(margin: timedelta) -> str:
    hours = int(margin.total_seconds() // 3600)
    return f"{hours // 24} days" if hours % 24 == 0 else f"{hours} hours"
