"""What every Codex transfer shares: a run's window of one dataset → a destination.

Each transfer (:mod:`.codex_to_sql`, :mod:`.codex_to_storage`,
:mod:`.codex_log_files_to_storage`) takes a dataset *name* from
:mod:`airflow_provider_codex.datasets` and makes its destination; the rest is
:class:`CodexLoadOperator`. They hold no HTTP or SQL logic: a run
resolves its window (:mod:`.windows`), its connections (:class:`CodexHook`,
a ``DbApiHook`` or an ``ObjectStoragePath``), calls :func:`.load.load_dataset`
and reports what it wrote: a small summary as XCom and one Asset event per
table, with the row counts in the event's extra.

Errors that a retry cannot fix (a rejected key, a missing scope, a window
the API no longer holds, a window that is not whole UTC days, a value the
API's contract does not allow) fail the task at once instead of burning its
retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, NoReturn

from airflow.sdk import Asset, BaseOperator, Context
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES
from airflow_provider_codex.api.errors import (
    CodexConfigError,
    CodexRateLimitError,
)
from airflow_provider_codex.api.retry import RetryPolicy
from airflow_provider_codex.datasets import Dataset, Source, get_dataset
from airflow_provider_codex.failures import is_permanent
from airflow_provider_codex.hooks.codex import CodexHook
from airflow_provider_codex.load import (
    Checkpoint,
    LoadSummary,
    drop_stage,
    load_dataset,
    may_stage,
    stage_id_for,
)
from airflow_provider_codex.sinks import TableSink
from airflow_provider_codex.tables import CONTENT_FIELDS, ContentPolicy
from airflow_provider_codex.transfers.lineage import LineageMixin, Place, Written, endpoint_place
from airflow_provider_codex.triggers.resume import CodexResumeTrigger
from airflow_provider_codex.windows import DEFAULT_GRACE, Window, WindowError, lookback_days_from, window_from_context

ContentPolicyArg = str | Mapping[str, str]

#: How long a deferral may take to come back after its wait (a busy or restarting triggerer)
#: before the task fails instead of staying deferred: its next try starts the window over.
DEFER_GRACE = timedelta(minutes=15)


def table_asset(table: str) -> Asset:
    """The Asset a load of ``table`` updates, whatever the destination.

    Downstream DAGs schedule on it (``schedule=[table_asset("codex_usage_user_daily")]``);
    each event's extra says where the rows went and how many per day.
    """
    return Asset(name=f"codex.{table}", uri=f"codex://tables/{table}", group="codex")


def declared_outlets(arguments: Mapping[str, Any], assets: Iterable[Asset]) -> list[Any]:
    """``arguments["outlets"]`` (the user's), then each of ``assets`` not already among them."""
    outlets = list(arguments.get("outlets") or [])
    return outlets + [asset for asset in assets if asset not in outlets]


class CodexLoadOperator(LineageMixin, BaseOperator):
    """Base of the load operators: window → api → tables → a sink the subclass makes.

    With Airflow's OpenLineage provider installed, each run reports the Codex
    route it read and the tables (or folders) it wrote (:mod:`.lineage`).

    :param dataset: what to load: ``usage``, ``usage_workspace``, ``code_reviews``,
        ``code_review_responses``, ``compliance_events``, ``codex_tasks``,
        ``codex_environments``.
    :param codex_conn_id: the ``codex`` connection.
    :param start: first day to load (templated; ``YYYY-MM-DD`` or a UTC midnight).
        With ``end``, overrides the run's data interval.
    :param end: day after the last day to load (exclusive, templated).
    :param lookback_days: also reload this many days before the window, since
        analytics days can be revised after their first load.
    :param event_types: compliance log types (``compliance_events`` only).
    :param grace: how long after a day ends its late compliance events may
        still land in files; the listing reaches that far past the window.
    :param content_policy: ``"hash"``, ``"keep"`` or ``"drop"`` for every
        compliance content field (``prompt_text``, ``response_text``,
        ``tool_input``), or a mapping per field. Hashing is salted with the
        connection's ``content_hash_secret``.
    :param page_size: rows (or records) per request; default the largest the route
        allows, so a window costs the fewest requests.
    :param deferrable: when the API asks to wait longer than ``defer_after``
        (a ``Retry-After`` on 429), give the worker slot back: the task defers
        on a timer and resumes where it stopped. An analytics load into SQL
        stages the pages it has in stage tables beside the live ones and
        resumes at the next page (no page is fetched twice; the cursor, the
        stage and the counts so far travel in the trigger kwargs); its last
        part swaps the window in at once, so readers see the previous window
        or the new one, never a part; a part that fails drops the stage.
        Other loads start over after the wait. A deferral that has not come
        back ``DEFER_GRACE`` after its wait fails the task (its retry starts
        over). Default: Airflow's ``[operators] default_deferrable``.
    :param defer_after: the longest wait worth sleeping in a worker (seconds or timedelta).
    """

    template_fields: Sequence[str] = ("codex_conn_id", "start", "end", "lookback_days")
    ui_color = "#e8f4ea"
    default_content_policy: ClassVar[ContentPolicyArg] = "hash"

    def __init__(
        self,
        *,
        dataset: str,
        codex_conn_id: str = CodexHook.default_conn_name,
        start: str | datetime | date | None = None,
        end: str | datetime | date | None = None,
        lookback_days: int | str = 0,
        event_types: Sequence[str] = CODEX_EVENT_TYPES,
        grace: timedelta = DEFAULT_GRACE,
        content_policy: ContentPolicyArg | None = None,
        page_size: int | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        defer_after: timedelta | float = timedelta(minutes=1),
        **kwargs: Any,
    ) -> None:
        self.dataset = get_dataset(dataset).name
        super().__init__(**kwargs)
        self.page_size = page_size
        self.deferrable = deferrable
        self.defer_after = defer_after.total_seconds() if isinstance(defer_after, timedelta) else float(defer_after)
        self.codex_conn_id = codex_conn_id
        self.start = start
        self.end = end
        self.lookback_days = lookback_days
        self.event_types = tuple(event_types)
        self.grace = grace
        self.content_policy = content_policy if content_policy is not None else self.default_content_policy
        self._policy_actions(self.content_policy)  # refuse a bad policy when the DAG is parsed

    # what subclasses provide

    def make_sink(self) -> TableSink:
        raise NotImplementedError

    def destination(self) -> dict[str, Any]:
        """Where the data went, for the Asset events' extra."""
        raise NotImplementedError

    @classmethod
    def tables_written(cls, dataset: Dataset, arguments: Mapping[str, Any]) -> list[str]:
        """The tables (or archive folder) a load of ``dataset`` writes, given the operator's arguments."""
        return [spec.name for spec in dataset.tables]

    def counted_as(self, table: str) -> str:
        """The name the load summary counts the rows of a written ``table`` under (the registry's)."""
        return table

    # the tables' Assets, declared as outlets, mapped or not

    @classmethod
    def outlets_for(cls, dataset: str, arguments: Mapping[str, Any]) -> list[Any]:
        """``arguments["outlets"]`` and the Asset of every table a load of ``dataset`` writes, each once."""
        tables = cls.tables_written(get_dataset(dataset), arguments)
        return declared_outlets(arguments, (table_asset(name) for name in tables))

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``BaseOperator.partial``, with the tables' Assets as outlets, so a mapped load declares them too.

        (Airflow builds a mapped task's outlets from these arguments, never from ``__init__``.)
        """
        if isinstance(kwargs.get("dataset"), str):
            kwargs["outlets"] = cls.outlets_for(kwargs["dataset"], kwargs)
        return super().partial(**kwargs)

    def table_names(self, dataset: Dataset) -> list[str]:
        """The tables (or archive folder) this operator writes."""
        return self.tables_written(dataset, vars(self))

    def lineage_outputs(self, dataset: Dataset, result: Mapping[str, Any] | None) -> list[Written]:
        """The outputs of a load of ``dataset`` for OpenLineage; ``result``: the run's summary, once it ran."""
        raise NotImplementedError

    def lineage(self, result: Mapping[str, Any] | None) -> tuple[list[Place], list[Written]]:
        dataset = get_dataset(self.dataset)
        return [endpoint_place(self.codex_conn_id, dataset)], self.lineage_outputs(dataset, result)

    # the run

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            lookback_days = lookback_days_from(self.lookback_days)
            window = window_from_context(context, start=self.start, end=self.end, lookback_days=lookback_days)
        except WindowError as bad:
            raise AirflowFailException(f"WindowError: {bad}") from bad
        return self._run(context, LoadSummary(self.dataset, window), resume=None)

    def execute_resume(self, context: Any, event: Any = None, state: dict[str, Any] | None = None) -> dict[str, Any]:
        """Go on after a deferral: the state says which window, what is done and where to resume."""
        if state is None and isinstance(event, dict):
            state = event.get("state")
        if state is None:
            raise AirflowFailException("resumed without a state; clear the task to start the window over")
        previous, checkpoint = LoadSummary.from_state(state)
        self.log.info(
            "Resuming %s for %s after a rate-limit pause (%d pages so far)",
            previous.dataset,
            previous.window,
            previous.pages,
        )
        return self._run(context, previous, resume=checkpoint)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after a deferral; one whose trigger failed or timed out drops the load's stage first.

        The task then fails (Airflow raises for it), and its next try starts
        the window over: what the earlier parts staged is of no use.
        """
        stage_id = self._stage_id(context)
        dataset = get_dataset(self.dataset)
        if next_method == TRIGGER_FAIL_REPR and self.deferrable and stage_id is not None and may_stage(dataset):
            try:
                drop_stage(self.make_sink(), dataset, stage_id)
            except Exception as failed:  # the deferral's failure is the error to report; a rerun drops it too
                self.log.warning("Could not drop the stage of the failed deferral: %s", failed)
        return super().resume_execution(next_method, next_kwargs, context)

    @staticmethod
    def _stage_id(context: Any) -> str | None:
        """The stage id of this task instance: a rerun or retry of it finds its own stale stage."""
        ti = context.get("ti") if isinstance(context, Mapping) else None
        if ti is None:
            return None
        return stage_id_for(ti.dag_id, ti.task_id, ti.run_id, str(getattr(ti, "map_index", -1)))

    def _run(self, context: Any, previous: LoadSummary, resume: Checkpoint | None) -> dict[str, Any]:
        dataset = get_dataset(self.dataset)
        window = previous.window
        retry = RetryPolicy(max_sleep=self.defer_after) if self.deferrable else None
        hook = CodexHook(self.codex_conn_id, retry=retry)
        try:
            self.log.info("Loading %s for %s", dataset.name, window)
            summary = self.load(
                hook, dataset, window, previous=previous, resume=resume, stage_id=self._stage_id(context)
            )
        except CodexRateLimitError as limited:
            if not self.deferrable or limited.retry_after is None:
                raise
            # A load that cannot resume mid-way starts the window over after the wait.
            self._defer_for(limited.retry_after, LoadSummary(dataset.name, window))
        except Exception as failed:
            if is_permanent(failed):
                raise AirflowFailException(f"{type(failed).__name__}: {failed}") from failed
            raise
        finally:
            hook.close()
        if summary.paused is not None:
            self._defer_for(summary.paused.retry_after, summary)
        self.emit_asset_events(context, dataset, summary)
        result = summary.as_dict()
        self.lineage_result = result
        self.log.info(
            "Loaded %d rows of %s over %d days with %d requests (%d retries, %d pauses)",
            result["total_rows"],
            dataset.name,
            result["days"],
            result.get("requests", 0),
            result.get("retries", 0),
            result["pauses"],
        )
        return result

    def _defer_for(self, seconds: float, summary: LoadSummary) -> NoReturn:
        """Defer for ``seconds`` (the client caps them at its ``max_retry_after``), at most ``DEFER_GRACE`` more."""
        self.log.info("Rate limited for %.0fs: deferring instead of holding a worker slot", seconds)
        state = summary.to_state()
        wait = timedelta(seconds=seconds)
        moment = datetime.now(UTC) + wait
        self.defer(
            trigger=CodexResumeTrigger(moment.isoformat(), state),
            method_name="execute_resume",
            kwargs={"state": state},
            timeout=wait + DEFER_GRACE,
        )
        raise AssertionError("defer() returns only by raising")  # pragma: no cover

    def load(
        self,
        hook: CodexHook,
        dataset: Dataset,
        window: Window,
        *,
        previous: LoadSummary | None = None,
        resume: Checkpoint | None = None,
        stage_id: str | None = None,
    ) -> LoadSummary:
        return load_dataset(
            hook.client,
            dataset,
            window,
            self.make_sink(),
            content_policy=self.make_content_policy(hook, dataset),
            event_types=self.event_types,
            grace=self.grace,
            page_size=self.page_size,
            pause_on_rate_limit=self.deferrable,
            resume=resume,
            previous=previous,
            stage_id=stage_id,
        )

    def make_content_policy(self, hook: CodexHook, dataset: Dataset) -> ContentPolicy | None:
        if dataset.source is not Source.COMPLIANCE_LOGS:
            return None
        actions = self._policy_actions(self.content_policy)
        salt = hook.content_hash_secret
        if "hash" in actions.values() and salt is None:
            raise CodexConfigError(
                f"content policy 'hash' needs a salt: fill the 'content_hash_secret' field of connection "
                f"'{self.codex_conn_id}', or pass content_policy='drop' or 'keep'"
            )
        return ContentPolicy.from_mapping(actions, salt=salt.reveal() if salt else None)

    @staticmethod
    def _policy_actions(policy: ContentPolicyArg) -> dict[str, str]:
        actions = {name: policy for name in CONTENT_FIELDS} if isinstance(policy, str) else dict(policy)
        ContentPolicy.from_mapping(actions, salt="validation-only")  # raises on unknown fields or actions
        return actions

    def emit_asset_events(self, context: Any, dataset: Dataset, summary: LoadSummary) -> None:
        events = context.get("outlet_events")
        if events is None:
            return
        for table in self.table_names(dataset):
            per_day = summary.rows.get(self.counted_as(table), {})
            events[table_asset(table)].extra = {
                "dataset": dataset.name,
                "table": table,
                "destination": self.destination(),
                "start": summary.window.start.date().isoformat(),
                "end": summary.window.end.date().isoformat(),
                "rows": sum(per_day.values()),
                "rows_per_day": {d.isoformat(): n for d, n in sorted(per_day.items())},
            }
