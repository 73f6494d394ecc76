"""Load one dataset for one window: api → tables → sink, written once and free of Airflow.

The operators only resolve connections and windows and call
:func:`load_dataset`; a TaskFlow task or a script can call it the same way.
The dataset's source picks its extractor (:data:`.extract.EXTRACTORS`); its
rows stream through the dataset's flattener into the sink, which replaces the
window's days of every table of the dataset at once. Nothing is held in memory
beyond a page (analytics) or one log file (compliance).

A deferrable analytics load into SQL comes in parts, one per wait: the parts
gather in a stage outside the live tables and the last one swaps them in
(:class:`~.sinks.Stage`), so a reader never sees a part of the window.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_codex import _gc
from airflow_provider_codex.api.client import CodexClient
from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES
from airflow_provider_codex.api.errors import redacting
from airflow_provider_codex.datasets import Dataset
from airflow_provider_codex.load.extract import EXTRACTORS, ExtractOptions, Extractor, owner_id
from airflow_provider_codex.load.summary import Checkpoint, LoadSummary
from airflow_provider_codex.sinks import ReplaceResult, Stage, TableSink
from airflow_provider_codex.tables import ContentPolicy, FlattenContext, columnar
from airflow_provider_codex.windows import DEFAULT_GRACE, Window, unfinished_days

log = logging.getLogger(__name__)


def load_dataset(
    client: CodexClient,
    dataset: Dataset,
    window: Window,
    sink: TableSink,
    *,
    content_policy: ContentPolicy | None = None,
    event_types: Sequence[str] = CODEX_EVENT_TYPES,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
    page_size: int | None = None,
    pause_on_rate_limit: bool = False,
    resume: Checkpoint | None = None,
    previous: LoadSummary | None = None,
    stage_id: str | None = None,
) -> LoadSummary:
    """Load ``window`` of ``dataset`` into ``sink``, replacing those days.

    Compliance windows older than the retention fail at once
    (:class:`~.api.errors.CodexRetentionError`). Snapshots are dated the
    window's last day. ``page_size`` defaults to the largest the route allows.

    ``pause_on_rate_limit``: when the client refuses to sleep through a long
    ``Retry-After`` (:class:`~.api.errors.CodexRateLimitError`, see
    ``RetryPolicy.max_sleep``), a load whose extractor can pause, into a sink
    that ``stages``, stages the pages it has, outside the live tables, and
    returns with ``paused`` set to where the cursor walk stopped; ``resume=``
    that checkpoint (with ``previous=`` the summary so far) goes on from that
    page, so no page is fetched twice, and the part that ends the walk swaps
    the whole window in at once. ``stage_id`` names the stage
    (:func:`stage_id_for` the task instance; random when ``None``): a first
    part drops a stale stage of that id, and a part that fails drops the
    stage, so a retry starts over. Other loads let the error through: they
    restart from scratch after the wait.
    """
    now = now or datetime.now(UTC)
    summary = previous or LoadSummary(dataset.name, window)
    summary.paused = None
    extractor = EXTRACTORS[dataset.source]
    owner = owner_id(client)
    days = extractor.days(window)
    ctx = FlattenContext(
        workspace_id=owner, loaded_at=now, days=days, snapshot_day=days[-1], content_policy=content_policy
    )
    write: Callable[..., dict[str, ReplaceResult]] = sink.replace_tables
    staging: Stage | None = None
    if pause_on_rate_limit and extractor.can_pause and sink.stages:
        staged = resume.stage if resume else None
        staging = Stage.from_json(staged) if staged else Stage(stage_id or uuid.uuid4().hex[:10])
        write = functools.partial(sink.load_part, staging, last=lambda: summary.paused is None)
    options = ExtractOptions(
        now=now,
        event_types=event_types,
        grace=grace,
        page_size=page_size,
        cursor=resume.cursor if resume else None,
        resumable=staging is not None,
    )
    rows = extractor.rows(client, dataset, window, summary, options)
    log.info("%s: loading %s into %s", dataset.name, window, type(sink).__name__)
    if extractor.windowed:
        _note_unfinished_days(dataset, window, now, summary)
    before = client.stats.as_dict()
    try:
        # Errors of the tables and sinks quote row values too: they leave redacted, like the API's own.
        with redacting(client.core.secrets), _gc.relaxed():  # relaxed: see _gc.py
            summary.add(write(dataset.tables, owner, days, flattener(dataset, sink)(rows, ctx)))
    except BaseException:
        if staging is not None:  # the next try starts over: what this load staged is of no use
            _drop_stage_after_failure(sink, dataset, staging)
        raise
    finally:
        summary.add_client_stats(before, client.stats.as_dict())
        _note_outside_window(dataset, extractor, window, ctx, summary)
    if summary.paused is not None:
        summary.paused.stage = staging.to_json() if staging else None
        summary.pauses += 1
        log.info(
            "%s: paused after %d pages for a %.0fs rate limit; the next part resumes at the next page",
            dataset.name,
            summary.pages,
            summary.paused.retry_after,
        )
        return summary
    for table, per_day in summary.rows.items():
        log.info("%s: %s rows per day: %s", dataset.name, table, {d.isoformat(): n for d, n in per_day.items()})
    return summary


def flattener(dataset: Dataset, sink: TableSink) -> Callable[..., Iterator[Any]]:
    """The dataset's columnar flattener for a sink that takes column batches (fast paths on), else its row one."""
    return columnar.pick(dataset.flatten, dataset.flatten_columns if sink.takes_columns else None)


def _note_unfinished_days(dataset: Dataset, window: Window, now: datetime, summary: LoadSummary) -> None:
    """A window with today's or future days still loads, with a warning and a flag in the summary."""
    summary.unfinished_days = unfinished_days(window, now)
    if summary.unfinished_days:
        log.warning(
            "%s: the window %s includes %d day(s) that have not ended (%s): their rows are incomplete; "
            "a later load of those days replaces them",
            dataset.name,
            window,
            len(summary.unfinished_days),
            ", ".join(d.isoformat() for d in summary.unfinished_days),
        )


def _note_outside_window(
    dataset: Dataset, extractor: Extractor, window: Window, ctx: FlattenContext, summary: LoadSummary
) -> None:
    """Count the rows dropped for lying outside the window; warn where that breaks the contract.

    Analytics endpoints are asked for exactly the window, so a row of another
    day is the API not keeping its contract: a warning. Compliance log files
    hold events of neighbouring days by design (``strays_expected``): those
    are counted, at info level.
    """
    if not ctx.outside:
        return
    for day, count in ctx.outside.items():
        summary.outside_window[day] = summary.outside_window.get(day, 0) + count
    per_day = {d.isoformat(): n for d, n in sorted(summary.outside_window.items())}
    log.log(
        logging.INFO if extractor.strays_expected else logging.WARNING,
        "%s: %d row(s) the API sent lie outside the window %s and were not loaded, per day: %s",
        dataset.name,
        sum(per_day.values()),
        window,
        per_day,
    )


def stage_id_for(*identity: str) -> str:
    """A short digest of a load's identity (a task instance's dag, task, run and map index): its stage id."""
    return hashlib.sha256("\x1f".join(identity).encode()).hexdigest()[:10]


def may_stage(dataset: Dataset) -> bool:
    """Whether a load of ``dataset`` can come in parts (into a sink that ``stages``)."""
    return EXTRACTORS[dataset.source].can_pause


def drop_stage(sink: TableSink, dataset: Dataset, stage_id: str) -> None:
    """Drop what a load of ``dataset`` in parts staged under ``stage_id`` (nothing when it cannot have staged)."""
    if may_stage(dataset) and sink.stages:
        sink.drop_stage(Stage(stage_id), dataset.tables)


def _drop_stage_after_failure(sink: TableSink, dataset: Dataset, staging: Stage) -> None:
    try:
        drop_stage(sink, dataset, staging.id)
    except Exception as failed:  # the load's own error matters more; a rerun drops the stage too
        log.warning("%s: could not drop stage %s after the failure: %s", dataset.name, staging.id, failed)
