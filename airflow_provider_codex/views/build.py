"""Rebuild a window's days of every view, in one transaction, as a load replaces its days.

:func:`build_views` reads the window's figures (:mod:`.facts`), records the
loaded days (:mod:`.loaded`), makes every view's rows (:mod:`.catalog`) and
hands them, with the loaded days, to the sink's ``replace_tables``: the days
of every view table are deleted and inserted in one transaction, under the
sink's locks, so a rerun or an overlapping backfill replaces days and never
doubles them, and a reader sees the old views or the new ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from airflow_provider_codex.sinks import ReplaceResult, SqlSink
from airflow_provider_codex.tables import Record, Tagged
from airflow_provider_codex.views.catalog import VIEWS, Context
from airflow_provider_codex.views.facts import read_facts
from airflow_provider_codex.views.loaded import (
    LOADED_DAYS,
    days_from_ledger,
    loaded_by_dataset,
    loaded_records,
    recorded_days,
)
from airflow_provider_codex.views.products import DEFAULT_PRODUCTS, ProductRegistry
from airflow_provider_codex.windows import Window


@dataclass(frozen=True)
class BuiltViews:
    """What one build wrote: every view's rows (for the exports) and the sink's counts per table."""

    workspace_id: str
    window: Window
    rows: Mapping[str, list[Record]]
    loaded: Mapping[str, set[date]]
    results: Mapping[str, ReplaceResult]


def build_views(
    sink: SqlSink,
    workspace_id: str,
    window: Window,
    *,
    registry: ProductRegistry = DEFAULT_PRODUCTS,
    loaded: Mapping[str, Iterable[date]] | None = None,
    now: datetime | None = None,
) -> BuiltViews:
    """Replace ``window``'s days of every view of ``workspace_id`` from the tables ``sink`` wrote.

    ``loaded``: per dataset, days a load says it replaced (its Asset events),
    beyond the days whose rows show it; see :mod:`.loaded`.
    """
    built_at = now or datetime.now(UTC)
    facts = read_facts(sink, workspace_id, window, registry)
    from_loads = {name: set(days) for name, days in (loaded or {}).items()}
    recorded = recorded_days(sink, workspace_id, window)
    ledger = days_from_ledger(sink, workspace_id, window)
    loaded_rows = loaded_records(workspace_id, window, recorded, facts.days_with_rows(), from_loads, built_at, ledger)
    ctx = Context(workspace_id, window.days, facts, loaded_by_dataset(loaded_rows), registry, built_at)
    rows = {view.name: list(view.rows(ctx)) for view in VIEWS}

    def tagged() -> Iterator[Tagged]:
        for name, records in rows.items():
            for record in records:
                yield name, record
        for record in loaded_rows:
            yield LOADED_DAYS.name, record

    specs = [*(view.spec for view in VIEWS), LOADED_DAYS]
    results = sink.replace_tables(specs, workspace_id, window.days, tagged())
    return BuiltViews(workspace_id, window, rows, ctx.loaded, results)
