"""What every sink offers: replace a workspace's days of several tables at once.

A sink implements :meth:`TableSink.replace_tables`; the one-table form
:meth:`TableSink.replace` is written here, once, for all of them. A load that
comes in parts (a deferred task) keeps its earlier parts in a :class:`Stage`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from airflow_provider_codex.sinks._staging import ReplaceResult
from airflow_provider_codex.tables.schema import ColumnType, Record, TableSpec, Tagged

_STAGE_ID = re.compile(r"[0-9a-z]{1,16}")


@dataclass
class Stage:
    """Where a load that comes in parts keeps the rows of its earlier parts, outside the live tables.

    Readers of the live tables must see the previous complete window or the
    new one, never a part of it, while the load waits between parts or after
    it failed; so the parts gather in the stage and the last one swaps them in.

    ``id`` names the stage (a short digest of the task instance: overlapping
    loads never share one, a rerun of the same load finds and drops its own).
    ``columns``: per table, the extra columns the stage holds and their types;
    ``None`` while nothing is staged. JSON-able through :meth:`to_json`, so it
    travels in a trigger's kwargs.
    """

    id: str
    columns: dict[str, dict[str, ColumnType]] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or _STAGE_ID.fullmatch(self.id) is None:
            raise ValueError(f"invalid stage id {self.id!r}: use 1 to 16 lower-case letters and digits")

    def to_json(self) -> dict[str, Any]:
        columns = self.columns
        return {
            "id": self.id,
            "columns": None
            if columns is None
            else {t: {c: k.value for c, k in cs.items()} for t, cs in columns.items()},
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Stage:
        columns = value.get("columns")
        return cls(
            value["id"],
            None if columns is None else {t: {c: ColumnType(k) for c, k in cs.items()} for t, cs in columns.items()},
        )


class TableSink(ABC):
    """A destination whose loads replace whole workspace-days, so retries and reruns leave one copy."""

    @abstractmethod
    def replace_tables(
        self,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: Iterable[date],
        tagged: Iterable[Tagged],
    ) -> dict[str, ReplaceResult]:
        """Replace ``days`` of ``workspace_id`` in several tables with ``(table name, record)`` pairs."""

    def replace(
        self, spec: TableSpec, workspace_id: str, days: Iterable[date], records: Iterable[Record]
    ) -> ReplaceResult:
        """Replace ``days`` of ``workspace_id`` in ``spec``'s table with ``records``."""
        name = spec.name
        return self.replace_tables([spec], workspace_id, days, ((name, r) for r in records))[name]
