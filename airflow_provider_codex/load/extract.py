"""One extractor per source: how a dataset's API rows are read for a window.

:data:`EXTRACTORS` maps each :class:`~.datasets.Source` to its
:class:`Extractor`; :func:`~.load.load_dataset` picks one and knows nothing
else of where rows come from. Extractors only read: they page, download and
count into the load's summary; flattening and writing are the tables' and the
sinks'.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any

from airflow_provider_codex import _json
from airflow_provider_codex.api.client import CodexClient
from airflow_provider_codex.api.downloads import LogFile
from airflow_provider_codex.api.errors import CodexContractError, CodexRateLimitError
from airflow_provider_codex.api.paging import window_params
from airflow_provider_codex.datasets import Dataset, Source
from airflow_provider_codex.load.summary import Checkpoint, LoadSummary
from airflow_provider_codex.windows import Window, check_retention

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractOptions:
    """What a load asks of its extractor.

    ``cursor``: the page a paused analytics walk resumes at; ``resumable``: a
    long rate limit ends the walk (``summary.paused`` says where) instead of raising.
    """

    now: datetime
    event_types: Sequence[str]
    grace: timedelta
    page_size: int | None = None
    cursor: str | None = None
    resumable: bool = False


#: ``rows(client, dataset, window, summary, options)``: the API rows, counted into ``summary`` as read.
ReadRows = Callable[[CodexClient, Dataset, Window, LoadSummary, ExtractOptions], Iterator[Any]]


@dataclass(frozen=True)
class Extractor:
    """How one source is read, and what a load should know of it.

    :param rows: reads the rows (eager checks first, then a lazy iterator).
    :param windowed: rows are of the window's days; otherwise a snapshot of now,
        dated the window's last day.
    :param can_pause: a long rate limit can end the read part-way (see ``ExtractOptions.resumable``).
    :param strays_expected: rows of days outside the window come by design (a
        log file spans midnight), so dropping them is news, not a broken contract.
    """

    rows: ReadRows
    windowed: bool = True
    can_pause: bool = False
    strays_expected: bool = False

    def days(self, window: Window) -> list[date]:
        """The days a load of ``window`` replaces."""
        return window.days if self.windowed else [window.days[-1]]


def owner_id(client: CodexClient) -> str:
    """The id stored in every table's ``workspace_id`` column."""
    owner = client.config.workspace_id or client.config.organization_id
    if not owner:
        raise ValueError(f"{client.config.source} has neither 'workspace_id' nor 'organization_id'")
    return owner


def analytics_rows(
    client: CodexClient, dataset: Dataset, window: Window, summary: LoadSummary, options: ExtractOptions
) -> Iterator[Any]:
    """The window's rows in one cursor walk; with ``resumable``, a long rate limit ends the walk.

    Ending (rather than raising) lets the sink stage the pages read so far;
    ``summary.paused`` then says which page comes next.
    """
    endpoint, cursor = dataset.endpoint, options.cursor
    try:
        params = window_params(endpoint, window.start, window.end)
        for page in client.iter_pages(endpoint, params, cursor=cursor, limit=options.page_size):
            summary.pages += 1
            log.info("%s: page %d, %d rows", dataset.name, summary.pages, len(page.rows))
            cursor = page.next_cursor
            yield from page.rows
            del page  # let the page go before the next one is fetched: one page in memory, not two
    except CodexRateLimitError as limited:
        if not options.resumable or limited.retry_after is None:
            raise
        # Whatever this part read goes to the sink's stage: the next part adds to it.
        summary.paused = Checkpoint(limited.retry_after, cursor)


def compliance_rows(
    client: CodexClient, dataset: Dataset, window: Window, summary: LoadSummary, options: ExtractOptions
) -> Iterator[Any]:
    """Every record of the files that may hold the window's events; a window past retention fails at once.

    A file can hold events of two days and late events land in later files,
    so the listing runs from the window's start to its end plus ``grace``;
    the flattener keeps only the window's days and the sink drops the
    duplicates that at-least-once delivery brings.
    """
    check_retention(window, options.now)
    return _log_records(client, window, options.event_types, options.grace, summary)


def _log_records(
    client: CodexClient, window: Window, event_types: Sequence[str], grace: timedelta, summary: LoadSummary
) -> Iterator[Any]:
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


def list_rows(
    client: CodexClient, dataset: Dataset, window: Window, summary: LoadSummary, options: ExtractOptions
) -> Iterator[Any]:
    """Every record of the list as it is now (the load dates it the window's last day)."""
    for page in client.iter_pages(dataset.endpoint, limit=options.page_size):
        summary.pages += 1
        log.info("%s: page %d, %d records", dataset.name, page.number, len(page.rows))
        yield from page.rows
        del page  # one page in memory at a time


EXTRACTORS: Mapping[Source, Extractor] = MappingProxyType(
    {
        Source.ANALYTICS_WINDOW: Extractor(analytics_rows, can_pause=True),
        Source.COMPLIANCE_LOGS: Extractor(compliance_rows, strays_expected=True),
        Source.SNAPSHOT: Extractor(list_rows, windowed=False),
    }
)
