"""The one sink abstraction: replace a workspace's days of several tables at once.

A sink implements :meth:`TableSink.replace_tables`; the one-table form
:meth:`TableSink.replace` is written here, once, for all of them. A sink that
can take a load in parts (a deferred task) says so with ``stages`` and keeps
the earlier parts in a :class:`Stage`, out of the readers' sight.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from airflow_provider_codex.tables.schema import ColumnType, Record, TableSpec, Tagged

_STAGE_ID = re.compile(r"[0-9a-z]{1,16}")


@dataclass
class ReplaceResult:
    """What a replace did to one table: rows per day, and duplicates dropped.

    ``deleted`` is the number of rows the SQL sink removed per day; the storage
    sink does not read the partitions it replaces and leaves it ``None``.
    """

    table: str
    inserted: dict[date, int]
    deleted: dict[date, int] | None = None
    duplicates_skipped: int = 0

    @property
    def rows_inserted(self) -> int:
        return sum(self.inserted.values())


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

    #: Whether the sink takes a load in parts (:meth:`load_part`, :meth:`drop_stage`).
    stages: ClassVar[bool] = False
    #: Whether ``tagged`` may also hold ``(table name, ColumnBatch)`` pairs (:mod:`..tables.columnar`):
    #: a sink that stages through :mod:`._staging` does. Others get records only.
    takes_columns: ClassVar[bool] = False

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

    def load_part(
        self,
        staging: Stage,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: Iterable[date],
        tagged: Iterable[Tagged],
        *,
        last: Callable[[], bool],
    ) -> dict[str, ReplaceResult]:
        """Load one part of a load in parts: the earlier parts stay in ``staging``, the last swaps all in.

        Only a sink with ``stages`` offers it; see :meth:`.SqlSink.load_part`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not take a load in parts")

    def drop_stage(self, staging: Stage, specs: Sequence[TableSpec]) -> None:
        """Drop what a load in parts staged under ``staging`` (only a sink with ``stages``)."""
        raise NotImplementedError(f"{type(self).__name__} does not take a load in parts")
