"""Archive a window's compliance log files verbatim: api → the log-file archive, one day at a time."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from airflow_provider_codex.api.client import CodexClient
from airflow_provider_codex.api.downloads import LogFile
from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES
from airflow_provider_codex.load.extract import owner_id
from airflow_provider_codex.load.summary import LoadSummary
from airflow_provider_codex.sinks import LOG_FILES_FOLDER, ArchiveFile, LogFileArchive
from airflow_provider_codex.windows import DEFAULT_GRACE, Window, check_retention

log = logging.getLogger(__name__)


def archive_log_files(
    client: CodexClient,
    window: Window,
    archive: LogFileArchive,
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
    owner = owner_id(client)
    for day_window in window.chunks(1):
        day = day_window.days[0]
        files = list(client.iter_log_files(event_types, day_window.start, day_window.end + grace))
        log.info("archive: %d log files for %s", len(files), day)
        result = archive.archive_files(owner, day, _verified_files(client, files, summary))
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
