"""The pieces every flattener shares: the load context, days, keys, shapes, unknown fields.

A :class:`Shape` declares where a table's columns sit in an API object (top
level or one nested object down). One piece of code then fills a record from
any shape, and routes the fields the shape does not know:

- an unknown *scalar* becomes an extra column named after the field
  (``snake_case``, prefixed by the nested object's name: ``totals.fooBar`` ->
  ``totals_foo_bar``), so a sink can add a column for it;
- anything else (objects, lists, names that are not valid identifiers or clash
  with a known column) goes into the ``extra_json`` column as
  ``{"path.to.field": value}``.

Nothing here validates a row field by field: rows come by the hundred thousand.
For the same reason ``Shape.fill`` runs the plain :meth:`Shape.fill_reference`'s
steps compiled per shape (:mod:`airflow_provider_codex._fast.fill`), unless the
one switch (``CODEX_FAST_PATHS=0``) says otherwise.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from airflow_provider_codex import _fast, _json
from airflow_provider_codex._fast.fill import Fill, FillHelpers, compile_fill
from airflow_provider_codex.tables.content import ContentPolicy
from airflow_provider_codex.tables.schema import (
    CONTRACT_HINT,
    Column,
    ColumnType,
    ColumnValueError,
    Record,
    TableSpec,
    describe,
    snake_case,
    validate_identifier,
)

EXTRA_JSON = "extra_json"

WORKSPACE_ID = Column("workspace_id", ColumnType.TEXT, "the Codex workspace (or organization) id")
DAY = Column("day", ColumnType.DATE, "the UTC day the row belongs to")
LOADED_AT = Column("loaded_at", ColumnType.TIMESTAMP, "when this load ran (UTC)")
EXTRA_JSON_COLUMN = Column(EXTRA_JSON, ColumnType.JSON, "unknown non-scalar fields, {path: value}")


@dataclass(frozen=True)
class FlattenContext:
    """What a flattener needs besides the rows; the same for every row of a load.

    ``loaded_at`` must be timezone-aware and is stored in UTC. ``days``, when
    given, keeps only the rows of those UTC days (a compliance log file holds
    events of neighbouring days). ``snapshot_day`` dates snapshot tables
    (tasks, environments); it defaults to ``loaded_at``'s UTC day.
    ``content_policy`` is required by the compliance flattener only.
    ``outside`` counts, per day, the rows dropped for lying outside ``days``, so
    the load can say so instead of dropping them without a word.
    """

    workspace_id: str
    loaded_at: datetime
    days: Collection[date] | None = None
    snapshot_day: date | None = None
    content_policy: ContentPolicy | None = field(default=None, repr=False)
    outside: Counter[date] = field(default_factory=Counter, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.workspace_id, str) or not self.workspace_id:
            raise ValueError("workspace_id must be a non-empty string")
        if self.loaded_at.tzinfo is None:
            raise ValueError("loaded_at must be timezone-aware (UTC)")
        object.__setattr__(self, "loaded_at", self.loaded_at.astimezone(UTC))
        if self.days is not None:
            object.__setattr__(self, "days", frozenset(self.days))
        if self.snapshot_day is None:
            object.__setattr__(self, "snapshot_day", self.loaded_at.date())

    def base(self, day: date) -> Record:
        """The columns every record starts with."""
        return {"workspace_id": self.workspace_id, "day": day, "loaded_at": self.loaded_at}

    def wants(self, day: date) -> bool:
        """Whether a row of ``day`` is loaded; a row that is not is counted in ``outside``."""
        if self.days is None or day in self.days:
            return True
        self.outside[day] += 1
        return False


#: The instants a record may hold: what every destination stores (MariaDB's DATETIME starts
#: at year 1000, Python's datetime ends with year 9999).
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
#: In Unix seconds, up to the last whole second: a float just below the end rounds up to year 10000.
_EARLIEST_UNIX, _LATEST_UNIX = int(EARLIEST.timestamp()), int(LATEST.replace(microsecond=0).timestamp())
_START_TIME = "an analytics row's start_time"


def timestamp_error(what: str, value: Any, expected: str = "a timestamp") -> ColumnValueError:
    """The contract error of a time field the API sent that no destination could store."""
    shown = "missing" if value is None else describe(value)
    return ColumnValueError(
        f"{what}: {shown}, expected {expected} between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC). {CONTRACT_HINT}"
    )


def utc_from_unix(seconds: Any, what: str) -> datetime:
    """A Unix time (seconds) as an aware UTC datetime; anything else, or out of range: :class:`ColumnValueError`."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not _EARLIEST_UNIX <= seconds <= _LATEST_UNIX
    ):
        raise timestamp_error(what, seconds, "a Unix time")  # NaN fails the range comparison too
    return datetime.fromtimestamp(seconds, UTC)


@lru_cache(maxsize=4096)
def day_of_unix(seconds: int | float) -> date:
    """The UTC day of a Unix time (cached: a window has few distinct starts)."""
    return utc_from_unix(seconds, _START_TIME).date()


def row_day(row: Mapping[str, Any]) -> date:
    """The UTC day of an analytics row, from its ``start_time``."""
    start = row.get("start_time")
    if isinstance(start, bool) or not isinstance(start, int | float):
        raise timestamp_error(_START_TIME, start, "a Unix time")
    return day_of_unix(start)


def key_text(value: Any) -> str:
    """A key column's value: SQL keys cannot be null, so a missing key part is ``""``."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def json_text(value: Any) -> str:
    """Compact JSON text of ``value``, for JSON columns."""
    try:
        return _json.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, which orjson does not write and the standard library does
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def text_or_json(value: Any) -> str | None:
    """A TEXT column's value: strings as they are, anything else as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json_text(value)


@dataclass(frozen=True)
class Field:
    """A column filled from ``path`` (one or two keys deep) of an API object."""

    column: str
    type: ColumnType
    path: tuple[str, ...]
    key: bool = False  # a key part: null becomes ""
    doc: str = ""

    def __post_init__(self) -> None:
        if not 1 <= len(self.path) <= 2:
            raise ValueError(f"field {self.column}: paths are one or two keys deep")

    def as_column(self) -> Column:
        return Column(self.column, self.type, self.doc)


class Shape:
    """Where a table's columns sit in one API object, and what else the object may hold."""

    def __init__(self, spec: TableSpec, fields: Iterable[Field], ignored: Collection[str] = ()) -> None:
        """``ignored``: fields handled elsewhere, ``"name"`` or ``"container.name"``."""
        self.spec = spec
        self.fields = tuple(fields)
        self.ignored = tuple(ignored)
        self._top = tuple((f.column, f.path[0], f.key) for f in self.fields if len(f.path) == 1)
        nested: dict[str, list[tuple[str, str, bool]]] = {}
        for f in self.fields:
            if len(f.path) == 2:
                nested.setdefault(f.path[0], []).append((f.column, f.path[1], f.key))
        self._nested = tuple((name, tuple(cols)) for name, cols in nested.items())
        ignored_nested = [tuple(i.split(".", 1)) for i in self.ignored if "." in i]
        self._known_top = (
            frozenset(i for i in self.ignored if "." not in i) | {p for _, p, _ in self._top} | set(nested)
        )
        self._known_nested = {
            name: frozenset(p for _, p, _ in cols) | {i[1] for i in ignored_nested if i[0] == name}
            for name, cols in nested.items()
        }
        self.key_columns = tuple(f.column for f in self.fields if f.key)
        self._reserved = frozenset(spec.column_names)
        self._extra_names: dict[tuple[str, str], str | None] = {}
        #: :meth:`fill_reference`, or the same steps compiled for this shape (:mod:`airflow_provider_codex._fast`).
        self.fill: Fill = self.fill_reference
        if _fast.ENABLED:
            helpers = FillHelpers(key_text, json_text, _json_extra, self._extras)
            self.fill = compile_fill(
                spec.name, self._top, self._nested, self._known_top, self._known_nested, helpers, EXTRA_JSON
            )

    def fill_reference(self, record: Record, obj: Mapping[str, Any]) -> Record:
        """Add the columns of ``obj`` (and its unknown fields) to ``record``; return it.

        Every column of the shape is assigned, null when ``obj`` lacks it, and so is
        ``extra_json``: a record that holds each of its table's columns and nothing
        else is staged without a check per field (:mod:`..sinks._staging`).
        """
        for column, name, is_key in self._top:
            value = obj.get(name)
            record[column] = key_text(value) if is_key else value
        for container, cols in self._nested:
            sub = obj.get(container)
            if isinstance(sub, dict):
                for column, name, is_key in cols:
                    value = sub.get(name)
                    record[column] = key_text(value) if is_key else value
                if not self._known_nested[container].issuperset(sub):
                    self._extras(record, sub, self._known_nested[container], container)
            else:
                for column, _, is_key in cols:
                    record[column] = key_text(None) if is_key else None
                if sub is not None:
                    _json_extra(record, container, sub)
        if not self._known_top.issuperset(obj):
            self._extras(record, obj, self._known_top, "")
        extra = record.get(EXTRA_JSON)
        record[EXTRA_JSON] = json_text(extra) if isinstance(extra, dict) else extra
        return record

    def _extras(self, record: Record, obj: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
        for name, value in obj.items():
            if name in known:
                continue
            if isinstance(value, dict | list):
                _json_extra(record, f"{prefix}.{name}" if prefix else name, value)
                continue
            column = self._extra_column(prefix, name)
            if column is None or column in record:
                _json_extra(record, f"{prefix}.{name}" if prefix else name, value)
            else:
                record[column] = value

    def _extra_column(self, prefix: str, name: str) -> str | None:
        cache_key = (prefix, name)
        try:
            return self._extra_names[cache_key]
        except KeyError:
            pass
        column: str | None = snake_case(f"{prefix}_{name}" if prefix else name)
        try:
            validate_identifier(column or "", "column")
        except ValueError:
            column = None
        if column in self._reserved:
            column = None
        self._extra_names[cache_key] = column
        return column


def _json_extra(record: Record, path: str, value: Any) -> None:
    extra = record.get(EXTRA_JSON)
    if not isinstance(extra, dict):
        extra = record[EXTRA_JSON] = {}
    extra[path] = value


def merge_counters(into: Record, other: Record, columns: Iterable[str]) -> None:
    """Add ``other``'s counters to ``into``: null + x = x, null + null = null.

    Only numbers add up: a value that is not one (a string, an object, a bool)
    is kept instead, for staging to refuse with the column's name
    (:func:`~.schema.first_misfit`), not lost in a sum or a ``TypeError``.
    """
    for column in columns:
        b = other.get(column)
        if b is None:
            continue
        a = into.get(column)
        if a is None or type(b) not in _NUMBERS:
            into[column] = b
        elif type(a) in _NUMBERS:
            into[column] = a + b


_NUMBERS = frozenset((int, float))


def daily_spec(name: str, fields: Iterable[Field], doc: str) -> TableSpec:
    """A table of one row per workspace, day and the fields' key parts.

    Columns: ``workspace_id``, ``day``, the fields in order, ``extra_json``,
    ``loaded_at``.
    """
    fields = tuple(fields)
    return TableSpec(
        name=name,
        columns=(WORKSPACE_ID, DAY, *(f.as_column() for f in fields), EXTRA_JSON_COLUMN, LOADED_AT),
        key=("workspace_id", "day", *(f.column for f in fields if f.key)),
        doc=doc,
    )
