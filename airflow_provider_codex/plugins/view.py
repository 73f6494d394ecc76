"""What the Codex page holds for one user: their Codex DAGs, each destination's coverage calendar, the latest loads.

The sources come from Airflow's REST API as the user (:mod:`.sources`); the
coverage is read from each destination through the connection its loads
used (:func:`~airflow_provider_codex.coverage.read_coverage`), in a worker
thread, bounded by :data:`READ_TIMEOUT`, over at most :data:`MAX_DAYS` days.
A destination that cannot be read says so by the error's type only: an
error's text can carry a connection URI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from airflow_provider_codex.coverage import Coverage, read_coverage, read_storage_coverage
from airflow_provider_codex.plugins.calendar import CalendarRow, calendar
from airflow_provider_codex.plugins.sources import (
    ApiGet,
    ApiRefused,
    Destination,
    LoadEvent,
    Sources,
    latest_per_task,
    read_sources,
    rendered_codex_conn_id,
    task_instance_path,
)

log = logging.getLogger(__name__)

#: Days the calendar shows by default, and at most (every destination read is bounded by it).
DEFAULT_DAYS, MAX_DAYS = 35, 90
#: Seconds one destination's coverage read may take before the page gives up on it.
READ_TIMEOUT = 30.0
#: Loads listed under "Latest loads".
LATEST_LOADS = 20

#: ``conn_id -> workspace id`` (``None``: unknown), the codex connection's ``workspace_id`` (sync: runs in a thread).
WorkspaceOf = Callable[[str], str | None]
#: ``(destination, datasets, first, last, now) -> Coverage`` (sync: runs in a thread).
CoverageReader = Callable[[Destination, list[str], date, date, datetime], Coverage]


@dataclass
class DestinationCoverage:
    destination: Destination
    dag_ids: list[str]
    rows: list[CalendarRow] = field(default_factory=list)
    days: list[date] = field(default_factory=list)
    error: str | None = None


@dataclass
class Report:
    """The latest governance report of a DAG's views task (the views operator's XCom ``report``)."""

    dag_id: str
    run_id: str
    built_at: datetime


@dataclass
class Page:
    sources: Sources
    first: date
    last: date
    now: datetime
    destinations: list[DestinationCoverage] = field(default_factory=list)
    loads: list[LoadEvent] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)


def workspace_of_connection(conn_id: str) -> str | None:
    """The ``workspace_id`` (else ``organization_id``) of codex connection ``conn_id``; no key is read out."""
    from airflow_provider_codex.hooks.codex import CodexHook

    try:
        config = CodexHook(conn_id).config
    except Exception:  # a connection the view cannot read is just a workspace it cannot show
        log.warning("Codex view: connection %r has no readable workspace", conn_id, exc_info=True)
        return None
    return config.workspace_id or config.organization_id


def read_destination(destination: Destination, datasets: list[str], first: date, last: date, now: datetime) -> Coverage:
    """The coverage of ``datasets`` in ``destination``, through the connection (or path) its loads used."""
    from airflow_provider_codex.sinks import SqlSink, StorageSink

    assert destination.workspace_id is not None
    chosen = sorted(datasets)
    if destination.path is not None:
        file_format: Literal["jsonl", "parquet"] = "parquet" if destination.file_format == "parquet" else "jsonl"
        storage = StorageSink(destination.path, file_format=file_format)
        return read_storage_coverage(storage, destination.workspace_id, first, last, now=now, datasets=chosen)
    assert destination.sql_conn_id is not None
    sink = SqlSink.from_conn_id(
        destination.sql_conn_id, schema=destination.schema, table_prefix=destination.table_prefix
    )
    return read_coverage(sink, destination.workspace_id, first, last, now=now, datasets=chosen)


async def _in_thread(call: Callable[..., Any], *args: Any, timeout: float = READ_TIMEOUT) -> Any:
    """``call(*args)`` in a worker thread, given up on after ``timeout`` s (the event loop serves the others)."""
    return await asyncio.wait_for(asyncio.to_thread(call, *args), timeout)


async def destinations_of(
    get: ApiGet, events: list[LoadEvent], workspace_of: WorkspaceOf
) -> dict[Destination, tuple[set[str], set[str]]]:
    """Each SQL destination the latest loads wrote to: ``{destination: (datasets, dag_ids)}``."""
    workspaces: dict[str, str | None] = {}
    conn_ids: dict[str, str | None] = {}  # per task instance: its tables' events share it
    found: dict[Destination, tuple[set[str], set[str]]] = {}
    for event in latest_per_task(events):
        prefix = event.table_prefix
        if event.dataset is None or (event.sql_conn_id is None and event.path is None) or prefix is None:
            continue  # a view build (its tables are not a dataset's), or an event that names no destination
        workspace = event.workspace_id
        if workspace is None:
            instance = task_instance_path(event)
            if instance not in conn_ids:
                conn_ids[instance] = await rendered_codex_conn_id(get, event)
            conn_id = conn_ids[instance]
            if conn_id is not None and conn_id not in workspaces:
                workspaces[conn_id] = await _in_thread(workspace_of, conn_id)
            workspace = workspaces.get(conn_id) if conn_id is not None else None
        destination = Destination(
            event.sql_conn_id if event.path is None else None,
            event.schema if event.path is None else None,
            prefix,
            workspace,
            path=event.path,
            file_format=event.file_format,
        )
        datasets, dag_ids = found.setdefault(destination, (set(), set()))
        datasets.add(event.dataset)
        dag_ids.add(event.dag_id)
    return found


async def coverage_of(
    destination: Destination, datasets: set[str], dag_ids: set[str], page: Page, reader: CoverageReader
) -> DestinationCoverage:
    shown = DestinationCoverage(destination, sorted(dag_ids))
    if destination.workspace_id is None:
        shown.error = "its workspace is unknown (the loads' codex connection has no readable workspace_id)"
        return shown
    try:
        coverage = await _in_thread(reader, destination, sorted(datasets), page.first, page.last, page.now)
    except TimeoutError:
        shown.error = f"reading it took longer than {READ_TIMEOUT:.0f} s"
        return shown
    except Exception as failed:  # shown by type only: the text can carry a URI
        log.warning("Codex view: reading %s failed", destination, exc_info=True)
        shown.error = f"reading it failed ({type(failed).__name__}; see the api-server log)"
        return shown
    shown.rows = calendar(coverage, page.now)
    shown.days = [d.day for d in coverage.datasets[0].days] if coverage.datasets else []
    return shown


async def latest_reports(get: ApiGet, events: list[LoadEvent]) -> dict[str, tuple[Report, str]]:
    """Per DAG, its newest views task run whose XCom names a governance report: ``{dag_id: (report, path)}``.

    The page lists these and ``/report/<dag_id>`` serves the same path, so a listed link never 404s
    because a newer views task of the DAG (one without ``report_path``) hides it.
    """
    reports: dict[str, tuple[Report, str]] = {}
    for event in latest_per_task(e for e in events if e.view is not None):
        if event.dag_id in reports:
            continue
        path = await report_path(get, event)
        if path is not None:
            reports[event.dag_id] = (Report(event.dag_id, event.run_id, event.timestamp), path)
    return reports


async def report_path(get: ApiGet, event: LoadEvent) -> str | None:
    """The ``report`` path in the views task's return value, if there is one (a string ending ``.html``)."""
    path = f"{task_instance_path(event, map_index=False)}/xcomEntries/return_value"
    try:
        entry = await get(path, {"map_index": event.map_index, "deserialize": "true"})
    except ApiRefused:
        return None
    value = entry.get("value") if isinstance(entry, dict) else None
    report = value.get("report") if isinstance(value, dict) else None
    return report if isinstance(report, str) and report.endswith(".html") and len(report) < 2000 else None


async def latest_report_path(get: ApiGet, dag_id: str, now: datetime) -> str | None:
    """The path of the latest governance report of ``dag_id``, if there is one; a Codex DAG the user may not
    read is refused (403, as the page is), not reported missing."""
    sources = await read_sources(get, now - timedelta(days=MAX_DAYS))
    if dag_id in sources.codex_dags and dag_id not in sources.readable_dags:
        raise ApiRefused(f"dags/{dag_id}", 403)
    found = await latest_reports(get, [e for e in sources.events if e.dag_id == dag_id])
    return found[dag_id][1] if dag_id in found else None


async def build_page(
    get: ApiGet,
    now: datetime,
    days: int,
    *,
    workspace_of: WorkspaceOf = workspace_of_connection,
    reader: CoverageReader = read_destination,
) -> Page:
    """Everything the page shows for the user behind ``get``, for the ``days`` days up to yesterday."""
    days = max(1, min(days, MAX_DAYS))
    last = (now - timedelta(days=1)).date()
    first = last - timedelta(days=days - 1)
    # Loads are looked for over the longest range whatever is shown: a destination loaded once
    # a while ago still shows its gaps since.
    page = Page(await read_sources(get, now - timedelta(days=MAX_DAYS)), first, last, now)
    if page.sources.refused:
        return page
    events = page.sources.events
    page.loads = [e for e in events if e.dataset is not None][:LATEST_LOADS]
    for destination, (datasets, dag_ids) in (await destinations_of(get, events, workspace_of)).items():
        page.destinations.append(await coverage_of(destination, datasets, dag_ids, page, reader))
    reports = await latest_reports(get, events)
    page.reports = [reports[dag_id][0] for dag_id in sorted(reports)]
    return page
