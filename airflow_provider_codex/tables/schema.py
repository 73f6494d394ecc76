"""Typed table specs: the shape every sink writes, whatever the storage.

A :class:`TableSpec` names a table, its columns (from a small closed set of
types every sink can map), its key (one row per key value) and its partition
(``workspace_id`` + a UTC day column): the unit a sink replaces atomically.

Records are plain ``dict``s keyed by column name, never objects validated per
row: flatteners sit on a hot path. A record may carry keys that are not in the
spec (fields a newer API version brings); sinks add columns for them, with the
type inferred from the values (:func:`infer_type`).

What a value of each type is (:data:`VALUE_TYPES`, :func:`fits`) is decided
here, once, for every sink: a value that does not fit its column is a
:class:`ColumnValueError` before anything is written, whatever the database
would have done with it (refused it, rounded it, or stored it as it came).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from types import MappingProxyType
from typing import Any, TypeAlias

from airflow_provider_codex.api.errors import CodexContractError

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


#: The range of an INTEGER column (and of an integer in a FLOAT one): signed 64 bits, what every database binds.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: What a record holds in a column of each type (``None`` aside): the Python types a value may
#: be, and the subclasses among them it may not (``bool`` is an ``int``, ``datetime`` a ``date``).
#: JSON columns hold JSON text, serialized by the flattener. :func:`fits` adds the ranges.
VALUE_TYPES: Mapping[ColumnType, tuple[tuple[type, ...], tuple[type, ...]]] = MappingProxyType(
    {
        ColumnType.TEXT: ((str,), ()),
        ColumnType.INTEGER: ((int,), (bool,)),
        ColumnType.FLOAT: ((int, float), (bool,)),
        ColumnType.BOOLEAN: ((bool,), ()),
        ColumnType.DATE: ((date,), (datetime,)),
        ColumnType.TIMESTAMP: ((datetime,), ()),
        ColumnType.JSON: ((str,), ()),
    }
)
_EXPECTED = MappingProxyType(
    {
        ColumnType.TEXT: "a string",
        ColumnType.INTEGER: "an integer of at most 64 bits",
        ColumnType.FLOAT: "a finite number",
        ColumnType.BOOLEAN: "true or false",
        ColumnType.DATE: "a date",
        ColumnType.TIMESTAMP: "a timestamp",
        ColumnType.JSON: "JSON text",
    }
)


class ColumnValueError(CodexContractError, ValueError):
    """A value that does not fit its column's type: the API sent what its contract does not allow.

    Raised before anything of the window is replaced; a retry gets the same
    value again, so it is permanent. The message names the table, the column,
    the row's key and an excerpt of the value (never a whole text).
    """


#: How every :class:`ColumnValueError` ends: what happened to the load, and what to do.
CONTRACT_HINT = (
    "The API sent a value its contract does not allow; nothing of the window was replaced, "
    "and a retry gets the same value: report the field and value"
)


def describe(value: Any) -> str:
    """A short excerpt of a value for an error message: containers only by their size."""
    if isinstance(value, dict):
        return f"a JSON object ({len(value)} keys)"
    if isinstance(value, list | tuple):
        return f"a JSON array ({len(value)} items)"
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:40]!r}… ({len(value)} characters)"
    return repr(value)


def misfit_error(
    table: str, column: str, kind: ColumnType, value: Any, key: Mapping[str, Any] | None = None
) -> ColumnValueError:
    """The error for ``value`` in ``table.column``; ``key``: the row's key columns, when known."""
    where = f" in the row {', '.join(f'{k}={describe(v)}' for k, v in key.items())}" if key else ""
    return ColumnValueError(
        f"{table}.{column}: {describe(value)} does not fit the column's type {kind.value} "
        f"(expected {_EXPECTED[kind]}){where}. {CONTRACT_HINT}"
    )


def fits(kind: ColumnType, value: Any) -> bool:
    """Whether a record may hold ``value`` (not ``None``) in a column of ``kind``: the rule every sink shares.

    Integers are 64-bit in both number types; floats are finite (NaN and the
    infinities are not JSON, and databases disagree on them).
    """
    allowed, excluded = VALUE_TYPES[kind]
    if not isinstance(value, allowed) or isinstance(value, excluded):
        return False
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    return not isinstance(value, float) or math.isfinite(value)


def first_misfit(kind: ColumnType, values: Sequence[Any]) -> int | None:
    """The index of the first value of ``values`` (a column of a batch) that does not :func:`fits`; ``None``: all fit.

    The reference, value by value; staging runs :func:`airflow_provider_codex._fast.checks.first_misfit`,
    the same answer from a few passes over the whole column.
    """
    for index, value in enumerate(values):
        if value is not None and not fits(kind, value):
            return index
    return None


def infer_type(value: Any) -> ColumnType | None:
    """The column type a Python value calls for; ``None`` for ``None``.

    ``bool`` is tested before ``int`` and ``datetime`` before ``date`` (each is
    a subclass of the other); containers are JSON. An integer beyond 64 bits
    calls for TEXT: no number column holds it exactly.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return ColumnType.BOOLEAN
    if isinstance(value, int):
        return ColumnType.INTEGER if INT64_MIN <= value <= INT64_MAX else ColumnType.TEXT
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
