"""The load ledger: which days of which table a load replaced, written in the replace's own transaction.

A quiet day has no rows, so the tables alone cannot tell "loaded, and empty"
from "never loaded". Every replace of the SQL sink therefore also writes, in
the same transaction as its ``DELETE`` and inserts, one ledger row per table
and day: the rows it left there and when it committed. Readers see the day's
data and its ledger row together, or neither; coverage (:mod:`..coverage`)
reads both. A stage table (a part of a load in parts) is not recorded: only
the swap that makes the days live is.

The ledger row is an upsert (not a delete and an insert): parallel loads of
other tables of the same days must not take InnoDB gap locks on each other's
keys, which deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_codex.tables.schema import Column, ColumnType, TableSpec

if TYPE_CHECKING:
    from airflow_provider_codex.sinks.sql import SqlSink

LEDGER = TableSpec(
    name="codex_load_ledger",
    columns=(
        Column("workspace_id", ColumnType.TEXT, "the Codex workspace"),
        Column("day", ColumnType.DATE, "a UTC day a load replaced"),
        Column("table_name", ColumnType.TEXT, "the table (its registry name, without the sink's prefix)"),
        Column("row_count", ColumnType.INTEGER, "the rows the load left for the day (0: a quiet day)"),
        Column("loaded_at", ColumnType.TIMESTAMP, "when the replace committed (UTC)"),
    ),
    key=("workspace_id", "day", "table_name"),
    doc="One row per workspace, day and table a load replaced, written with the data: a quiet day is a zero.",
)
LEDGER_COLUMNS = [(c.name, c.type) for c in LEDGER.columns]
_KEY = LEDGER.key
_VALUES = ("row_count", "loaded_at")


def upsert_sql(sink: SqlSink) -> str:
    """The statement writing one ledger row, replacing the row of the same key (parameters in column order)."""
    dialect, placeholder = sink.dialect, sink.placeholder
    cols = ", ".join(dialect.quote(c) for c, _ in LEDGER_COLUMNS)
    marks = ", ".join([placeholder] * len(LEDGER_COLUMNS))
    insert = f"INSERT INTO {sink.qualified_name(LEDGER)} ({cols}) VALUES ({marks})"  # noqa: S608
    if dialect.name == "mysql":
        return (
            insert
            + " ON DUPLICATE KEY UPDATE "
            + ", ".join(f"{dialect.quote(c)} = VALUES({dialect.quote(c)})" for c in _VALUES)
        )
    conflict = ", ".join(dialect.quote(c) for c in _KEY)
    updates = ", ".join(f"{dialect.quote(c)} = excluded.{dialect.quote(c)}" for c in _VALUES)
    return f"{insert} ON CONFLICT ({conflict}) DO UPDATE SET {updates}"


def record(
    sink: SqlSink,
    cur: Any,
    workspace_id: str,
    days: tuple[date, ...],
    rows: Mapping[TableSpec, Mapping[date, int] | None],
) -> None:
    """In the replace's open transaction: a ledger row per table of ``rows`` and day of ``days``.

    ``rows`` gives each table's rows per day as the load counted them, or
    ``None`` to count them here (a swapped-in stage holds rows this part did
    not count).
    """
    adapt = sink.dialect.adapters
    as_day = adapt.get(ColumnType.DATE, lambda d: d)
    as_time = adapt.get(ColumnType.TIMESTAMP, lambda t: t)
    now = as_time(datetime.now(UTC))
    params: list[tuple[Any, ...]] = []
    for spec, counted in rows.items():
        per_day = counted if counted is not None else _count(sink, cur, spec, workspace_id, days)
        params.extend((workspace_id, as_day(day), spec.name, int(per_day.get(day, 0)), now) for day in days)
    if params and sink.dialect.name in ("mysql", "postgresql", "sqlite"):
        cur.executemany(upsert_sql(sink), params)
    elif params:  # a generic database: no portable upsert; the key's rows are replaced under the table locks
        q, p = sink.dialect.quote, sink.placeholder
        where = " AND ".join(f"{q(c)} = {p}" for c in _KEY)
        cur.executemany(f"DELETE FROM {sink.qualified_name(LEDGER)} WHERE {where}", [r[:3] for r in params])  # noqa: S608
        cols = ", ".join(q(c) for c, _ in LEDGER_COLUMNS)
        marks = ", ".join([p] * len(LEDGER_COLUMNS))
        cur.executemany(f"INSERT INTO {sink.qualified_name(LEDGER)} ({cols}) VALUES ({marks})", params)  # noqa: S608


#: What the ledger holds for one table and day: the rows the load left, when it committed.
Entry = tuple[int, datetime | None]


def read_ledger(
    sink: SqlSink, workspace_id: str, first: date, last: date, tables: Collection[str] | None = None
) -> dict[tuple[str, date], Entry]:
    """The ledger's rows of ``[first, last]``: ``(table, day) -> (rows, loaded_at)`` (nothing: no ledger yet).

    ``tables``: registry names to keep (default all). Read-only.
    """
    if not sink.has_table(LEDGER):
        return {}
    q, p = sink.dialect.quote, sink.placeholder
    sql = (
        f"SELECT {q('table_name')}, {q('day')}, {q('row_count')}, {q('loaded_at')} "  # noqa: S608
        f"FROM {sink.qualified_name(LEDGER)} "
        f"WHERE {q('workspace_id')} = {p} AND {q('day')} >= {p} AND {q('day')} <= {p}"
    )
    rows = sink.query(sql, [workspace_id, sink.sql_day(first), sink.sql_day(last)])
    return {
        (str(table), as_date(day)): (int(count), as_utc(at))
        for table, day, count, at in rows
        if tables is None or str(table) in tables
    }


def as_date(value: Any) -> date:
    """A DATE as a driver gives it (SQLite: ISO text) -> ``date``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if isinstance(value, date):
        return value
    raise TypeError(f"not a date: {type(value).__name__}")


def as_utc(value: Any) -> datetime | None:
    """A TIMESTAMP as a driver gives it (naive means UTC: MySQL, SQLite text) -> aware UTC ``datetime``."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def on_success(write: Callable[[], None]) -> Callable[..., bool]:
    """An ``ExitStack.push`` callback running ``write`` when its block ends without an error (never suppressing one)."""

    def exit_callback(exc_type: type[BaseException] | None, *_: object) -> bool:
        if exc_type is None:
            write()
        return False

    return exit_callback


def _count(sink: SqlSink, cur: Any, spec: TableSpec, workspace_id: str, days: tuple[date, ...]) -> dict[date, int]:
    q, p = sink.dialect.quote, sink.placeholder
    workspace, day = spec.partition
    sql = (
        f"SELECT {q(day)}, COUNT(*) FROM {sink.qualified_name(spec)} "  # noqa: S608
        f"WHERE {q(workspace)} = {p} AND {q(day)} >= {p} AND {q(day)} <= {p} GROUP BY {q(day)}"
    )
    cur.execute(sql, (workspace_id, sink.sql_day(min(days)), sink.sql_day(max(days))))
    return {as_date(d): int(n) for d, n in cur.fetchall()}
