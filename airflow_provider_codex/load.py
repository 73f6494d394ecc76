"""Extract and load one dataset for one window: api → tables → sink.

This is the whole data path, written once and free of Airflow: the operators
only resolve connections and windows and call :func:`load_dataset`; a
TaskFlow task or a script can call it the same way.

A multi-day window is fetched with as few requests as the API allows (one
cursor walk over the whole window at the largest page size) and streamed
into the sink, which replaces the window's days of every table of the
dataset at once. Nothing is held in memory beyond a page (analytics) or one
log file (compliance).

A deferrable analytics load into SQL comes in parts, one per wait: the parts
gather in a stage outside the live tables and the last one swaps them in
(:class:`~.sinks.Stage`), so a reader never sees a part of the window.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from airflow_provider_codex import _gc, _json
from airflow_provider_codex.api.client import CodexClient
from airflow_provider_codex.api.core import ClientStats
from airflow_provider_codex.api.downloads import LogFile
from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES
from airflow_provider_codex.api.errors import CodexContractError, CodexRateLimitError, redacting
from airflow_provider_codex.api.paging import window_params
from airflow_provider_codex.datasets import Dataset, Source
from airflow_provider_codex.sinks import LOG_FILES_FOLDER, ArchiveFile, ReplaceResult, Stage, StorageSink
from airflow_provider_codex.tables import ContentPolicy, FlattenContext, TableSpec, Tagged
from airflow_provider_codex.windows import DEFAULT_GRACE, ONE_DAY, Window, check_retention, unfinished_days

log = logging.getLogger(__name__)


class Sink(Protocol):
    """What :func:`load_dataset` needs of a destination (``SqlSink``, ``StorageSink``)."""

    def replace_tables(
        self, specs: Sequence[TableSpec], workspace_id: str, days: Iterable[date], tagged: Iterable[Tagged]
    ) -> dict[str, ReplaceResult]: ...


@runtime_checkable
class StagingSink(Sink, Protocol):
    """A sink that keeps the earlier parts of a load out of sight until its last part (``SqlSink``).

    What resuming needs: see :meth:`.sinks.SqlSink.load_part`.
    """

    def load_part(
        self,
        staging: Stage,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: Iterable[date],
        tagged: Iterable[Tagged],
        *,
        last: Callable[[], bool],
    ) -> dict[str, ReplaceResult]: ...

    def drop_stage(self, staging: Stage, specs: Sequence[TableSpec]) -> None: ...


@dataclass
class Checkpoint:
    """Where a paused load resumes: JSON-able, so it can travel in a trigger's kwargs.

    ``cursor`` is the page to fetch next (``None``: the first page);
    ``stage`` is the :class:`~.sinks.Stage` (as JSON) holding the pages of
    the parts before, which the last part swaps in.
    """

    retry_after: float
    cursor: str | None = None
    stage: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Checkpoint | None:
        """The checkpoint, or ``None`` for one of another version (it cannot resume: the load starts over)."""
        known = {f.name for f in fields(cls)}
        if not set(value) <= known or "retry_after" not in value:
            return None
        return cls(**value)


@dataclass
class LoadSummary:
    """What one load did: small enough for XCom, never the data itself.

    A load paused on a long rate limit (:func:`load_dataset` with
    ``pause_on_rate_limit``) carries its :class:`Checkpoint` in ``paused``;
    ``to_state``/``from_state`` carry the counts so far across the pause.
    """

    dataset: str
    window: Window
    rows: dict[str, dict[date, int]] = field(default_factory=dict)
    pages: int = 0
    files: int = 0
    duplicates_skipped: int = 0
    client: dict[str, Any] = field(default_factory=dict)
    pauses: int = 0
    paused: Checkpoint | None = None
    #: Rows the API sent for days outside the window, per day: dropped, and said so.
    outside_window: dict[date, int] = field(default_factory=dict)
    #: The window's days that had not ended when the load ran: their rows are incomplete.
    unfinished_days: list[date] = field(default_factory=list)

    def add(self, results: dict[str, ReplaceResult]) -> None:
        for table, result in results.items():
            per_day = self.rows.setdefault(table, {})
            for day, count in result.inserted.items():
                per_day[day] = per_day.get(day, 0) + count
            self.duplicates_skipped += result.duplicates_skipped

    def add_client_stats(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Add what a client did between two snapshots of its stats to the load's counters."""
        for key, value in after.items():
            if isinstance(value, dict):
                merged = self.client.setdefault(key, {})
                for k, v in value.items():
                    merged[k] = merged.get(k, 0) + v - before.get(key, {}).get(k, 0)
            else:
                self.client[key] = self.client.get(key, 0) + value - before.get(key, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "start": self.window.start.date().isoformat(),
            "end": self.window.end.date().isoformat(),
            "days": self.window.day_count,
            "rows": {t: {d.isoformat(): n for d, n in sorted(days.items())} for t, days in self.rows.items()},
            "total_rows": sum(n for days in self.rows.values() for n in days.values()),
            "pages": self.pages,
            "files": self.files,
            "duplicates_skipped": self.duplicates_skipped,
            "pauses": self.pauses,
            "rows_outside_window": {d.isoformat(): n for d, n in sorted(self.outside_window.items())},
            "unfinished_days": [d.isoformat() for d in self.unfinished_days],
            **self.client,
        }

    def to_state(self) -> dict[str, Any]:
        """The JSON-able state of a paused load (its summary so far and its checkpoint)."""
        return {**self.as_dict(), "checkpoint": asdict(self.paused) if self.paused else None}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> tuple[LoadSummary, Checkpoint | None]:
        """The summary so far and the checkpoint; a fresh summary when the checkpoint cannot resume."""
        window = Window.of_days(date.fromisoformat(state["start"]), date.fromisoformat(state["end"]) - ONE_DAY)
        summary = cls(state["dataset"], window)
        checkpoint = state.get("checkpoint")
        resume = Checkpoint.from_json(checkpoint) if checkpoint else None
        if checkpoint and resume is None:
            log.warning(
                "%s: the paused load's checkpoint is of another version: the window starts over", summary.dataset
            )
            return summary, None
        summary.rows = {t: {date.fromisoformat(d): n for d, n in days.items()} for t, days in state["rows"].items()}
        summary.pages, summary.files = state["pages"], state["files"]
        summary.duplicates_skipped, summary.pauses = state["duplicates_skipped"], state["pauses"]
        summary.outside_window = {date.fromisoformat(d): n for d, n in state.get("rows_outside_window", {}).items()}
        summary.unfinished_days = [date.fromisoformat(d) for d in state.get("unfinished_days", [])]
        summary.client = {k: state[k] for k in ClientStats().as_dict() if k in state}
        return summary, resume


def load_dataset(
    client: CodexClient,
    dataset: Dataset,
    window: Window,
    sink: Sink,
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
    ``RetryPolicy.max_sleep``), an analytics load into a sink that stages
    (:class:`StagingSink`) stages the pages it has, outside the live tables,
    and returns with ``paused`` set to where the cursor walk stopped;
    ``resume=`` that checkpoint (with ``previous=`` the summary so far) goes on
    from that page, so no page is fetched twice, and the part that ends the
    walk swaps the whole window in at once. ``stage_id`` names the stage
    (:func:`stage_id_for` the task instance; random when ``None``): a first
    part drops a stale stage of that id, and a part that fails drops the
    stage, so a retry starts over. Other loads let the error through: they
    restart from scratch after the wait.
    """
    now = now or datetime.now(UTC)
    summary = previous or LoadSummary(dataset.name, window)
    summary.paused = None
    owner = _owner_id(client)
    days = window.days
    if dataset.source is Source.SNAPSHOT:
        days = [days[-1]]
    ctx = FlattenContext(
        workspace_id=owner,
        loaded_at=now,
        days=days,
        snapshot_day=days[-1],
        content_policy=content_policy,
    )
    write: Callable[..., dict[str, ReplaceResult]] = sink.replace_tables
    staging: Stage | None = None
    if dataset.source is Source.ANALYTICS_WINDOW:
        if pause_on_rate_limit and isinstance(sink, StagingSink):
            staged = resume.stage if resume else None
            staging = Stage.from_json(staged) if staged else Stage(stage_id or uuid.uuid4().hex[:10])
            write = functools.partial(sink.load_part, staging, last=lambda: summary.paused is None)
        rows: Iterator[dict[str, Any]] = _analytics_rows(
            client,
            dataset,
            window,
            summary,
            cursor=resume.cursor if resume else None,
            resumable=staging is not None,
            page_size=page_size,
        )
    elif dataset.source is Source.COMPLIANCE_LOGS:
        check_retention(window, now)
        rows = _compliance_records(client, window, event_types, grace, summary)
    else:
        rows = _list_rows(client, dataset, summary, page_size)
    log.info("%s: loading %s into %s", dataset.name, window, type(sink).__name__)
    if dataset.source is not Source.SNAPSHOT:
        _note_unfinished_days(dataset, window, now, summary)
    before = client.stats.as_dict()
    try:
        # Errors of the tables and sinks quote row values too: they leave redacted, like the API's own.
        with redacting(client.core.secrets), _gc.relaxed():  # relaxed: see _gc.py
            summary.add(write(dataset.tables, owner, days, dataset.family.flatten(rows, ctx)))
    except BaseException:
        if staging is not None:  # the next try starts over: what this load staged is of no use
            _drop_stage_after_failure(sink, dataset, staging)
        raise
    finally:
        summary.add_client_stats(before, client.stats.as_dict())
        _note_outside_window(dataset, window, ctx, summary)
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


def _note_outside_window(dataset: Dataset, window: Window, ctx: FlattenContext, summary: LoadSummary) -> None:
    """Count the rows dropped for lying outside the window; warn where that breaks the contract.

    Analytics endpoints are asked for exactly the window, so a row of another
    day is the API not keeping its contract: a warning. Compliance log files
    hold events of neighbouring days by design (a file spans midnight, the
    listing reaches ``grace`` past the window): those are counted, at info level.
    """
    if not ctx.outside:
        return
    for day, count in ctx.outside.items():
        summary.outside_window[day] = summary.outside_window.get(day, 0) + count
    per_day = {d.isoformat(): n for d, n in sorted(summary.outside_window.items())}
    level = logging.INFO if dataset.source is Source.COMPLIANCE_LOGS else logging.WARNING
    log.log(
        level,
        "%s: %d row(s) the API sent lie outside the window %s and were not loaded, per day: %s",
        dataset.name,
        sum(per_day.values()),
        window,
        per_day,
    )


def stage_id_for(*identity: str) -> str:
    """A short digest of a load's identity (a task instance's dag, task, run and map index): its stage id."""
    return hashlib.sha256("\x1f".join(identity).encode()).hexdigest()[:10]


def drop_stage(sink: Sink, dataset: Dataset, stage_id: str) -> None:
    """Drop what a load of ``dataset`` in parts staged under ``stage_id`` (nothing when the sink does not stage)."""
    if dataset.source is Source.ANALYTICS_WINDOW and isinstance(sink, StagingSink):
        sink.drop_stage(Stage(stage_id), dataset.tables)


def _drop_stage_after_failure(sink: Sink, dataset: Dataset, staging: Stage) -> None:
    try:
        drop_stage(sink, dataset, staging.id)
    except Exception as failed:  # the load's own error matters more; a rerun drops the stage too
        log.warning("%s: could not drop stage %s after the failure: %s", dataset.name, staging.id, failed)


def _owner_id(client: CodexClient) -> str:
    """The id stored in every table's ``workspace_id`` column."""
    owner = client.config.workspace_id or client.config.organization_id
    if not owner:
        raise ValueError(f"{client.config.source} has neither 'workspace_id' nor 'organization_id'")
    return owner


def _analytics_rows(
    client: CodexClient,
    dataset: Dataset,
    window: Window,
    summary: LoadSummary,
    *,
    cursor: str | None,
    resumable: bool,
    page_size: int | None,
) -> Iterator[Any]:
    """The window's rows in one cursor walk; with ``resumable``, a long rate limit ends the walk.

    Ending (rather than raising) lets the sink stage the pages read so far;
    ``summary.paused`` then says which page comes next.
    """
    endpoint = dataset.endpoint
    try:
        params = window_params(endpoint, window.start, window.end)
        for page in client.iter_pages(endpoint, params, cursor=cursor, limit=page_size):
            summary.pages += 1
            log.info("%s: page %d, %d rows", dataset.name, summary.pages, len(page.rows))
            cursor = page.next_cursor
            yield from page.rows
            del page  # let the page go before the next one is fetched: one page in memory, not two
    except CodexRateLimitError as limited:
        if not resumable or limited.retry_after is None:
            raise
        # Whatever this part read goes to the sink's stage: the next part adds to it.
        summary.paused = Checkpoint(limited.retry_after, cursor)


def _list_rows(client: CodexClient, dataset: Dataset, summary: LoadSummary, page_size: int | None) -> Iterator[Any]:
    for page in client.iter_pages(dataset.endpoint, limit=page_size):
        summary.pages += 1
        log.info("%s: page %d, %d records", dataset.name, page.number, len(page.rows))
        yield from page.rows
        del page  # one page in memory at a time


def _compliance_records(
    client: CodexClient,
    window: Window,
    event_types: Sequence[str],
    grace: timedelta,
    summary: LoadSummary,
) -> Iterator[Any]:
    """Every record of the files that may hold the window's events.

    A file can hold events of two days and late events land in later files,
    so the listing runs from the window's start to its end plus ``grace``;
    the flattener keeps only the window's days and the sink drops the
    duplicates that at-least-once delivery brings.
    """
    files = list(client.iter_log_files(event_types, window.start, window.end + grace))
    log.info("compliance: %d log files for %s (grace %s)", len(files), window, grace)
    for number, file in enumerate(files, 1):
        with client.download_log_file(file) as verified:
            summary.files += 1
            count = 0
            for line_number, line in enumerate(verified.stream, 1):
                if line.strip():
                    count += 1
                    yield _log_record(line, file, line_number)
        log.info("compliance: file %d/%d %s: %d records", number, len(files), file.id, count)


def _log_record(line: bytes | str, file: LogFile, line_number: int) -> dict[str, Any]:
    """One line of a log file as a JSON object; anything else is a contract error naming where it is.

    The file passed its SHA-256 check, so downloading it again brings the same
    bytes: a retry cannot help. The line itself is not quoted (it holds prompt text).
    """
    try:
        record = _json.loads(line)
    except ValueError:
        raise CodexContractError(
            f"compliance log file {file.id!r}, line {line_number}: not valid JSON (truncated?); every line "
            "must be one JSON object. The file matches its listed SHA-256, so the service wrote it so: "
            "report the file id to OpenAI support"
        ) from None
    if not isinstance(record, dict):
        raise CodexContractError(
            f"compliance log file {file.id!r}, line {line_number}: a JSON {type(record).__name__}, not an "
            "object; every line must be one JSON object: report the file id to OpenAI support"
        )
    return record


def archive_log_files(
    client: CodexClient,
    window: Window,
    sink: StorageSink,
    *,
    event_types: Sequence[str] = CODEX_EVENT_TYPES,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
) -> LoadSummary:
    """Store, per day, the log files that may hold that day's events, verbatim.

    Each file is downloaded and checked against its listing's SHA-256 before
    it is kept; each day's folder and manifest are replaced as a whole. A file
    holding events of two days is archived under both.
    """
    check_retention(window, now or datetime.now(UTC))
    summary = LoadSummary("compliance_log_files", window)
    before = client.stats.as_dict()
    owner = _owner_id(client)
    for day_window in window.chunks(1):
        day = day_window.days[0]
        files = list(client.iter_log_files(event_types, day_window.start, day_window.end + grace))
        log.info("archive: %d log files for %s", len(files), day)
        result = sink.archive_files(owner, day, _verified_files(client, files, summary))
        summary.rows.setdefault(LOG_FILES_FOLDER, {})[day] = len(result.files)
    summary.add_client_stats(before, client.stats.as_dict())
    return summary


def _verified_files(client: CodexClient, files: Sequence[LogFile], summary: LoadSummary) -> Iterator[ArchiveFile]:
    """Download one file at a time (the archive holds one in memory at a time)."""
    for number, file in enumerate(files, 1):
        with client.download_log_file(file) as verified:
            summary.files += 1
            log.info("archive: file %d/%d %s (%d bytes)", number, len(files), file.id, verified.size)
            yield ArchiveFile(file.id, verified.read(), file.event_type, file.end_time, verified.sha256)
