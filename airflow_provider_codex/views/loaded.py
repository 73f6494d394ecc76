"""Which days of a dataset were loaded: what makes a day without rows a zero rather than a gap.

A load that finds nothing for a day writes nothing (a quiet day has no
``/usage`` rows, no code review row), so the source tables alone cannot tell
"loaded, and empty" from "never loaded". Three pieces of evidence are truthful,
and all are recorded in ``codex_loaded_days`` (one row per workspace, day and
dataset), which only grows:

* ``rows``: the dataset's tables hold rows for the day (a load wrote them);
* ``ledger``: the load ledger (:mod:`..sinks.ledger`, written with the data)
  says a load left the day with no rows: a quiet day;
* ``load``: a load's Asset event says it replaced the day (its extra lists
  every day of its window in ``rows_per_day``, zeros included). The views
  operator reads the events that triggered its run, and the latest events of
  one table per dataset (:data:`EVIDENCE_TABLES`, its inlets), so a rebuild by
  hand knows the quiet days the loads covered too.

A day with neither is a gap: its figures are ``NULL`` in every view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from airflow_provider_codex.datasets import get_dataset
from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.sinks.ledger import read_ledger
from airflow_provider_codex.tables import Column, ColumnType, Record, TableSpec
from airflow_provider_codex.views.facts import as_day
from airflow_provider_codex.windows import Window

#: The datasets the views read, each of whose days is loaded or not.
VIEW_DATASETS = ("usage", "code_reviews", "code_review_responses")
ROWS, LEDGER, LOAD = "rows", "ledger", "load"
#: Per dataset, a table every load of it writes (its first, in the registry): its Asset events and its
#: ledger entries say which days a load covered.
EVIDENCE_TABLES = {name: get_dataset(name).tables[0].name for name in VIEW_DATASETS}

LOADED_DAYS = TableSpec(
    name="codex_loaded_days",
    columns=(
        Column("workspace_id", ColumnType.TEXT, "the Codex workspace"),
        Column("day", ColumnType.DATE, "a UTC day the dataset was loaded for"),
        Column("dataset", ColumnType.TEXT, "usage, code_reviews, code_review_responses"),
        Column(
            "evidence",
            ColumnType.TEXT,
            "'rows' (its tables hold rows for the day), 'ledger' (a quiet day, per the ledger), 'load' (Asset event)",
        ),
        Column("recorded_at", ColumnType.TIMESTAMP, "when the views builder recorded it (UTC)"),
    ),
    key=("workspace_id", "day", "dataset"),
    doc="The days each dataset was loaded for: a day without rows is a zero there, a gap elsewhere.",
)

LoadedDays = dict[str, set[date]]


def days_from_asset_events(extras: Iterable[Mapping[str, Any]]) -> LoadedDays:
    """Per dataset, the days the loads' Asset events (their ``extra``) say were replaced.

    ``rows_per_day`` lists every day of the load's window; without it,
    ``[start, end)``. Events of other datasets, or without a dataset, are ignored.
    """
    out: LoadedDays = {}
    for extra in extras:
        dataset = extra.get("dataset")
        if dataset not in VIEW_DATASETS:
            continue
        days: set[date] = set()
        per_day = extra.get("rows_per_day")
        if isinstance(per_day, Mapping) and per_day:
            days = {date.fromisoformat(str(d)) for d in per_day}
        elif extra.get("start") and extra.get("end"):
            first, end = date.fromisoformat(str(extra["start"])), date.fromisoformat(str(extra["end"]))
            days = {first + timedelta(days=i) for i in range((end - first).days)}
        out.setdefault(str(dataset), set()).update(days)
    return out


def days_from_ledger(sink: SqlSink, workspace_id: str, window: Window) -> LoadedDays:
    """Per dataset, the window's days the load ledger says a load left empty (a day with rows shows by its rows).

    A ledger row counting rows that are no longer there is no evidence: that day's rows were removed.
    """
    first_tables = {table: name for name, table in EVIDENCE_TABLES.items()}
    entries = read_ledger(sink, workspace_id, window.days[0], window.days[-1], first_tables)
    out: LoadedDays = {}
    for (table, day), (count, _) in entries.items():
        if count == 0:
            out.setdefault(first_tables[table], set()).add(day)
    return out


def recorded_days(sink: SqlSink, workspace_id: str, window: Window) -> dict[tuple[date, str], str]:
    """What ``codex_loaded_days`` holds for the window: ``(day, dataset) -> evidence``."""
    if not sink.has_table(LOADED_DAYS):
        return {}
    q, p = sink.dialect.quote, sink.placeholder
    end = window.days[-1] + timedelta(days=1)
    sql = (
        f"SELECT {q('day')}, {q('dataset')}, {q('evidence')} FROM {sink.qualified_name(LOADED_DAYS)} "  # noqa: S608
        f"WHERE {q('workspace_id')} = {p} AND {q('day')} >= {p} AND {q('day')} < {p}"
    )
    rows = sink.query(sql, [workspace_id, sink.sql_day(window.days[0]), sink.sql_day(end)])
    return {(as_day(d), str(dataset)): str(evidence) for d, dataset, evidence in rows}


def loaded_records(
    workspace_id: str,
    window: Window,
    recorded: Mapping[tuple[date, str], str],
    with_rows: Mapping[str, set[date]],
    from_loads: Mapping[str, set[date]],
    now: datetime,
    from_ledger: Mapping[str, set[date]] | None = None,
) -> list[Record]:
    """The window's rows of ``codex_loaded_days``: what was recorded, plus what this run knows (never less)."""
    in_window = set(window.days)
    evidence = dict(recorded)
    for dataset, days in from_loads.items():
        for day in days & in_window:
            evidence.setdefault((day, dataset), LOAD)
    for dataset, days in (from_ledger or {}).items():
        for day in days & in_window:
            evidence[(day, dataset)] = LEDGER
    for dataset, days in with_rows.items():
        for day in days & in_window:
            evidence[(day, dataset)] = ROWS
    return [
        {"workspace_id": workspace_id, "day": day, "dataset": dataset, "evidence": how, "recorded_at": now}
        for (day, dataset), how in sorted(evidence.items())
    ]


def loaded_by_dataset(records: Iterable[Record]) -> LoadedDays:
    out: LoadedDays = {d: set() for d in VIEW_DATASETS}
    for record in records:
        out.setdefault(record["dataset"], set()).add(record["day"])
    return out
