"""Compliance list endpoints (Codex tasks, environments) -> daily snapshot tables.

Their fields are not public, so each record is kept whole as JSON, keyed by
its ``id`` and dated by the day the snapshot was taken: a table of
``(workspace_id, snapshot_day, id)`` answers both "what existed on day D" and
"how did this task change". Reloading a day replaces that day's snapshot.
Records are not promoted to columns: nothing says which fields are stable or
which hold user content.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airflow_provider_codex.tables._rows import LOADED_AT, WORKSPACE_ID, FlattenContext, json_text, key_text
from airflow_provider_codex.tables.schema import Column, ColumnType, TableSpec, Tagged


def _snapshot_spec(name: str, what: str) -> TableSpec:
    return TableSpec(
        name=name,
        columns=(
            WORKSPACE_ID,
            Column("snapshot_day", ColumnType.DATE, "the UTC day the snapshot was taken"),
            Column("id", ColumnType.TEXT, f"the {what} id"),
            Column("record_json", ColumnType.JSON, f"the whole {what} record"),
            LOADED_AT,
        ),
        key=("workspace_id", "snapshot_day", "id"),
        partition=("workspace_id", "snapshot_day"),
        deduplicate=True,  # list pages can shift while items are added: keep the first copy
        doc=f"Daily snapshots of Codex {what}s (compliance API), one row per {what} and day.",
    )


CODEX_TASKS = _snapshot_spec("codex_tasks", "task")
CODEX_ENVIRONMENTS = _snapshot_spec("codex_environments", "environment")


def _flatten_snapshot(spec: TableSpec, records: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[Tagged]:
    day = ctx.snapshot_day
    assert day is not None  # FlattenContext fills it in
    if not ctx.wants(day):
        return
    for record in records:
        record_id = record.get("id")
        if record_id is None or record_id == "":
            raise ValueError(f"{spec.name} record without an id")
        yield (
            spec.name,
            {
                "workspace_id": ctx.workspace_id,
                "snapshot_day": day,
                "id": key_text(record_id),
                "record_json": json_text(record),
                "loaded_at": ctx.loaded_at,
            },
        )


def flatten_codex_tasks(records: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[Tagged]:
    """``/codex_tasks`` records -> ``codex_tasks`` (snapshot of ``ctx.snapshot_day``)."""
    return _flatten_snapshot(CODEX_TASKS, records, ctx)


def flatten_codex_environments(records: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[Tagged]:
    """``/codex_environments`` records -> ``codex_environments``."""
    return _flatten_snapshot(CODEX_ENVIRONMENTS, records, ctx)
