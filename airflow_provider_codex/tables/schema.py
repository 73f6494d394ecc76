"""Typed table specs: the shape every sink writes, whatever the storage.

A :class:`TableSpec` names a table, its columns (from a small closed set of
types every sink can map), its key (one row per key value) and its partition
(``workspace_id`` + a UTC day column): the unit a sink replaces atomically.

Records are plain ``dict``s keyed by column name, never objects validated per
row: flatteners sit on a hot path. A record may carry keys that are not in the
spec (fields a newer API version brings); sinks add columns for them, with the
type inferred from the values (:func:`infer_type`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any, TypeAlias

#: One flat row of a table: column name -> value (``None`` = unavailable).
Record: TypeAlias = dict[str, Any]
#: A record tagged with the name of the table it belongs to.
Tagged: TypeAlias = tuple[str, Record]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class ColumnType(enum.StrEnum):
    """The closed set of column types; each sink maps them to its own."""

    TEXT = "text"
    INTEGER = "integer"  # 64-bit
    FLOAT = "float"  # double precision
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"  # UTC, timezone-aware datetime in records
    JSON = "json"  # JSON text (already serialized) in records


def validate_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe SQL identifier, else raise ``ValueError``.

    Safe means letters, digits and underscores, not starting with a digit, at
    most 63 characters (PostgreSQL's limit, below MySQL's 64). Sinks quote
    identifiers as well; this check is what makes quoting trivially safe.
    """
    if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
        raise ValueError(
            f"invalid {what} {name!r}: use letters, digits and underscores, "
            "not starting with a digit, at most 63 characters"
        )
    return name


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def snake_case(name: str) -> str:
    """``"fooBar-baz"`` -> ``"foo_bar_baz"``: how unknown API fields become column names."""
    return _NON_WORD.sub("_", _CAMEL.sub("_", name).lower()).strip("_")


def infer_type(value: Any) -> ColumnType | None:
    """The column type a Python value calls for; ``None`` for ``None``.

    ``bool`` is tested before ``int`` and ``datetime`` before ``date`` (each is
    a subclass of the other); containers are JSON.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return ColumnType.BOOLEAN
    if isinstance(value, int):
        return ColumnType.INTEGER
    if isinstance(value, float):
        return ColumnType.FLOAT
    if isinstance(value, datetime):
        return ColumnType.TIMESTAMP
    if isinstance(value, date):
        return ColumnType.DATE
    if isinstance(value, dict | list | tuple):
        return ColumnType.JSON
    return ColumnType.TEXT


def merge_types(first: ColumnType, second: ColumnType) -> ColumnType:
    """One type for a column that saw both: numbers widen to FLOAT, anything else to TEXT."""
    if first is second:
        return first
    if {first, second} == {ColumnType.INTEGER, ColumnType.FLOAT}:
        return ColumnType.FLOAT
    return ColumnType.TEXT


@dataclass(frozen=True, slots=True)
class Column:
    """One column: a validated name, a type, a line of documentation."""

    name: str
    type: ColumnType
    doc: str = ""

    def __post_init__(self) -> None:
        validate_identifier(self.name, "column name")


@dataclass(frozen=True)
class TableSpec:
    """A table: its columns, its key and the partition a load replaces.

    ``partition`` is ``(workspace column, day column)``; the day column holds a
    ``datetime.date``. ``deduplicate`` says that the same key may be offered
    twice in one load (at-least-once delivery) and the sink keeps the first;
    for other tables a repeated key is an error, as it means the source
    changed in a way nobody planned for.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partition: tuple[str, str] = ("workspace_id", "day")
    deduplicate: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        validate_identifier(self.name, "table name")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: duplicate column names")
        missing = [n for n in (*self.key, *self.partition) if n not in names]
        if missing:
            raise ValueError(f"table {self.name}: key/partition columns {missing} are not columns")
        if not self.key:
            raise ValueError(f"table {self.name}: empty key")
        if self.types[self.partition[1]] is not ColumnType.DATE:
            raise ValueError(f"table {self.name}: partition day column must be a DATE")

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def types(self) -> Mapping[str, ColumnType]:
        return {c.name: c.type for c in self.columns}

    @property
    def workspace_column(self) -> str:
        return self.partition[0]

    @property
    def day_column(self) -> str:
        return self.partition[1]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}")
