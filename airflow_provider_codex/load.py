"""Extract and load one dataset for one window: api → tables → sink.

This is the whole data path, written once and free of Airflow: the operators
only resolve connections and windows and call :func:`load_dataset`; a
TaskFlow task or a script can call it the same way.

A multi-day window is fetched with as few requests as the API allows (one
cursor walk over the whole window at the largest page size) and streamed
into the sink, which replaces the window's days of every table of the
dataset at once. Nothing is held in memory beyond a page (analytics) or one
log file (compliance).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from airflow_provider_codex.api import jsonio
from airflow_provider_codex.api.client import CodexClient, LogFile
from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES
from airflow_provider_codex.api.paging import window_params
from airflow_provider_codex.datasets import Dataset, Source
from airflow_provider_codex.sinks import LOG_FILES_FOLDER, ArchiveFile, ReplaceResult, StorageSink
from airflow_provider_codex.tables import ContentPolicy, FlattenContext, TableSpec, Tagged
from airflow_provider_codex.windows import Window, check_retention

log = logging.getLogger(__name__)

#: How long after a day ends its late compliance events may still land in files.
DEFAULT_GRACE = timedelta(hours=6)


class Sink(Protocol):
    """What :func:`load_dataset` needs of a destination (``SqlSink``, ``StorageSink``)."""

    def replace_tables(
        self, specs: Sequence[TableSpec], workspace_id: str, days: Iterable[date], tagged: Iterable[Tagged]
    ) -> dict[str, ReplaceResult]: ...


@dataclass
class LoadSummary:
    """What one load did: small enough for XCom, never the data itself."""

    dataset: str
    window: Window
    rows: dict[str, dict[date, int]] = field(default_factory=dict)
    pages: int = 0
    files: int = 0
    duplicates_skipped: int = 0
    client: dict[str, Any] = field(default_factory=dict)

    def add(self, results: dict[str, ReplaceResult]) -> None:
        for table, result in results.items():
            per_day = self.rows.setdefault(table, {})
            for day, count in result.inserted.items():
                per_day[day] = per_day.get(day, 0) + count
            self.duplicates_skipped += result.duplicates_skipped

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
            **self.client,
        }


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
) -> LoadSummary:
    """Load ``window`` of ``dataset`` into ``sink``, replacing those days.

    Compliance windows older than the retention fail at once
    (:class:`~.api.errors.CodexRetentionError`). Snapshots are dated the
    window's last day.
    """
    now = now or datetime.now(UTC)
    summary = LoadSummary(dataset.name, window)
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
    if dataset.source is Source.ANALYTICS_WINDOW:
        rows: Iterator[dict[str, Any]] = _analytics_rows(client, dataset, window, summary)
    elif dataset.source is Source.COMPLIANCE_LOGS:
        check_retention(window, now)
        rows = _compliance_records(client, window, event_types, grace, summary)
    else:
        rows = _list_rows(client, dataset, summary)
    log.info("%s: loading %s into %s", dataset.name, window, type(sink).__name__)
    results = sink.replace_tables(dataset.tables, owner, days, dataset.family.flatten(rows, ctx))
    summary.add(results)
    summary.client = client.stats.as_dict()
    for table, per_day in summary.rows.items():
        log.info("%s: %s rows per day: %s", dataset.name, table, {d.isoformat(): n for d, n in per_day.items()})
    return summary


def _owner_id(client: CodexClient) -> str:
    """The id stored in every table's ``workspace_id`` column."""
    owner = client.config.workspace_id or client.config.organization_id
    if not owner:
        raise ValueError(f"{client.config.source} has neither 'workspace_id' nor 'organization_id'")
    return owner


def _analytics_rows(client: CodexClient, dataset: Dataset, window: Window, summary: LoadSummary) -> Iterator[Any]:
    endpoint = dataset.endpoint
    total = 0
    for page in client.iter_pages(endpoint, window_params(endpoint, window.start, window.end)):
        summary.pages += 1
        total += len(page.rows)
        log.info("%s: page %d, %d rows (%d so far)", dataset.name, page.number, len(page.rows), total)
        yield from page.rows


def _list_rows(client: CodexClient, dataset: Dataset, summary: LoadSummary) -> Iterator[Any]:
    for page in client.iter_pages(dataset.endpoint):
        summary.pages += 1
        log.info("%s: page %d, %d records", dataset.name, page.number, len(page.rows))
        yield from page.rows


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
            for line in verified.stream:
                if line.strip():
                    count += 1
                    yield jsonio.loads(line)
        log.info("compliance: file %d/%d %s: %d records", number, len(files), file.id, count)


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
    owner = _owner_id(client)
    for day_window in window.chunks(1):
        day = day_window.days[0]
        files = list(client.iter_log_files(event_types, day_window.start, day_window.end + grace))
        log.info("archive: %d log files for %s", len(files), day)
        result = sink.archive_files(owner, day, _verified_files(client, files, summary))
        summary.rows.setdefault(LOG_FILES_FOLDER, {})[day] = len(result.files)
    summary.client = client.stats.as_dict()
    return summary


def _verified_files(client: CodexClient, files: Sequence[LogFile], summary: LoadSummary) -> Iterator[ArchiveFile]:
    """Download one file at a time (the archive holds one in memory at a time)."""
    for number, file in enumerate(files, 1):
        with client.download_log_file(file) as verified:
            summary.files += 1
            log.info("archive: file %d/%d %s (%d bytes)", number, len(files), file.id, verified.size)
            yield ArchiveFile(file.id, verified.read(), file.event_type, file.end_time, verified.sha256)
