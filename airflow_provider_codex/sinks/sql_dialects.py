"""What differs between databases, in one place: types, quoting, metadata, locks, bulk writes.

=================  ===========================================================
dialect            choices
=================  ===========================================================
SQLite             types TEXT/INTEGER/REAL/BOOLEAN/DATE/TIMESTAMP (dates and
                   times stored as ISO 8601 text, so they sort and compare);
                   lock: ``BEGIN IMMEDIATE`` takes the database's write lock at
                   the start of the replace (concurrent writers wait up to the
                   lock timeout via ``busy_timeout``); bulk: ``executemany``.
PostgreSQL         types TEXT/BIGINT/DOUBLE PRECISION/BOOLEAN/DATE/TIMESTAMPTZ/
                   JSONB; lock: a transaction advisory lock per table and
                   day replaced (loads of other days go on; readers keep
                   seeing the old rows until commit), with ``SET LOCAL
                   lock_timeout``; bulk: ``COPY … FROM STDIN`` through psycopg 3
                   ``cursor.copy`` or psycopg2 ``copy_expert``, whichever driver
                   the hook's connection is; *streams*: rows are copied while
                   the API is still paged, since the server parses and stores
                   them in its own process (DDL is transactional, so a column
                   that shows up mid-load is added in the same transaction).
MySQL / MariaDB    types LONGTEXT (VARCHAR(191) in keys, to fit InnoDB's key
                   size in utf8mb4)/BIGINT/DOUBLE/BOOLEAN/DATE/DATETIME(6) (UTC)/
                   JSON; tables ``utf8mb4`` with a binary collation without pad
                   space (ids compare exactly, trailing spaces included); lock:
                   a named lock ``GET_LOCK`` per table (``LOCK TABLES`` would
                   commit the transaction), released after commit
                   or rollback; bulk: ``executemany``, which MySQL drivers send
                   as multi-row ``INSERT … VALUES (…), (…)``.
generic (ANSI)     types TEXT/BIGINT/DOUBLE PRECISION/BOOLEAN/DATE/TIMESTAMP
                   (naive UTC)/TEXT, VARCHAR(255) in keys, overridable per sink;
                   no lock: the primary key makes a concurrent overlapping load
                   fail (and Airflow retry) instead of duplicating rows; bulk:
                   ``executemany``.
=================  ===========================================================

Identifiers are validated (:func:`validate_identifier`) and then quoted.

Column types drift: a field the API adds gets an extra column typed from its
values, and a later load may bring a wider value (``0.5`` or text where
integers were). So a dialect reads its tables' column types back
(:meth:`Dialect.column_types`: ``information_schema`` or ``PRAGMA
table_info``), maps each to a :class:`ColumnType` through the reverse of its
own ``types`` table (plus ``catalog_aliases``, the spellings its catalog uses
instead), and widens an extra column along :func:`merge_types`
(:meth:`Dialect.widen_column`): integer, float, text. PostgreSQL and MariaDB
alter the column's type; SQLite, which cannot, moves the values into a new
column of the wider type (its affinity converts them, so a reader sees what
the other databases show). The generic dialect cannot read types back
portably: it declares every extra column TEXT and writes their values as
JSON text, so nothing drifts.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from types import MappingProxyType
from typing import Any

from airflow_provider_codex.sinks._pgcopy import CopyText
from airflow_provider_codex.tables.schema import ColumnType, merge_types, validate_identifier

log = logging.getLogger(__name__)

Adapter = Callable[[Any], Any]
_T = ColumnType


#: A JSON ``\u0000`` escape that is not itself escaped (an even run of backslashes before it).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _pg_text(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


def _pg_json(value: Any) -> Any:
    if not isinstance(value, str) or "\\u0000" not in value:
        return value
    return _JSON_NUL.sub(r"\1\\ufffd", value.replace("\x00", "\ufffd"))


def _iso(value: Any) -> Any:
    """Dates and datetimes as ISO 8601 text (with the offset when aware); anything else as it is."""
    return value.isoformat() if isinstance(value, date) else value


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def adapt_rows(batch: Sequence[Sequence[Any]], adapters: Sequence[tuple[int, Adapter]]) -> list[list[Any]]:
    """The rows of ``batch`` with the non-null values of column ``i`` passed through its adapter.

    The reference, value by value; bulk writes run :func:`airflow_provider_codex._fast.adapters.adapt_rows`,
    which calls an adapter once per run of the very same object.
    """
    out = [list(row) for row in batch]
    for row in out:
        for i, adapt in adapters:
            if row[i] is not None:
                row[i] = adapt(row[i])
    return out


def type_name(sql_type: str) -> str:
    """A SQL type as catalogs compare: lower case, parameters dropped (``DATETIME(6)`` -> ``datetime``)."""
    return " ".join(re.sub(r"\(.*?\)", " ", sql_type).lower().split())


def index_name(table: str, suffix: str = "by_day") -> str:
    """A valid index name derived from the table's, shortened with a hash when too long."""
    name = f"{table}_{suffix}"
    if len(name) > 63:
        digest = hashlib.sha1(table.encode(), usedforsecurity=False).hexdigest()[:8]
        name = f"{table[: 63 - len(suffix) - 10]}_{digest}_{suffix}"
    return validate_identifier(name, "index name")


def _sql_types(text: str, integer: str, real: str, timestamp: str, json: str) -> Mapping[ColumnType, str]:
    """A dialect's SQL type for each column type (every dialect has BOOLEAN and DATE), as a field default."""
    names = {
        _T.TEXT: text,
        _T.INTEGER: integer,
        _T.FLOAT: real,
        _T.BOOLEAN: "BOOLEAN",
        _T.DATE: "DATE",
        _T.TIMESTAMP: timestamp,
        _T.JSON: json,
    }
    return field(default_factory=lambda: dict(names))


@dataclass(frozen=True)
class Dialect:
    """The generic (ANSI) dialect; subclasses change what their database does differently."""

    name: str = "generic"
    types: Mapping[ColumnType, str] = _sql_types("TEXT", "BIGINT", "DOUBLE PRECISION", "TIMESTAMP", "TEXT")
    key_text_type: str = "VARCHAR(255)"
    adapters: Mapping[ColumnType, Adapter] = field(default_factory=lambda: MappingProxyType({_T.TIMESTAMP: _naive_utc}))
    if_not_exists: bool = False
    table_options: str = ""
    #: Added to ``table_options`` for a table whose key leads with its partition (no extra index).
    partition_keyed_options: str = ""
    quote_char: str = '"'
    #: SQL for the connection's current schema; set: the catalog is read from information_schema.
    current_schema_sql: str | None = None
    #: Type names the catalog reports (see :func:`type_name`) -> the name in ``types`` they stand for.
    catalog_aliases: Mapping[str, str] = field(default_factory=dict)
    #: Whether :meth:`column_types` reads types back; when not (generic: only names are probed),
    #: every extra column is TEXT.
    reads_types: bool = False
    #: Write rows as they are staged, in the replace's transaction, rather than after the stream
    #: ends (see ``SqlSink``): for a database that stores rows in its own process, with
    #: transactional DDL and a :meth:`lock` that holds only the days replaced.
    streams: bool = False

    # -- names and DDL ---------------------------------------------------------------

    def quote(self, name: str) -> str:
        validate_identifier(name)
        return f"{self.quote_char}{name}{self.quote_char}"

    def qualify(self, schema: str | None, table: str) -> str:
        return f"{self.quote(schema)}.{self.quote(table)}" if schema else self.quote(table)

    def column_type(self, kind: ColumnType, in_key: bool) -> str:
        if in_key and kind is ColumnType.TEXT:
            return self.key_text_type
        return self.types[kind]

    @cached_property
    def kinds(self) -> Mapping[str, ColumnType]:
        """The reverse of ``types`` (and the key text type), by :func:`type_name`, with ``catalog_aliases``.

        Two column types written alike (TEXT and JSON in SQLite) read back as the wider one.
        """
        named = [(self.key_text_type, ColumnType.TEXT), *((sql, kind) for kind, sql in self.types.items())]
        out: dict[str, ColumnType] = {}
        for sql, kind in named:
            name = type_name(sql)
            out[name] = merge_types(out[name], kind) if name in out else kind
        for alias, sql in self.catalog_aliases.items():
            if type_name(sql) in out:
                out[alias] = out[type_name(sql)]
        return MappingProxyType(out)

    def kind_of(self, reported: Any) -> ColumnType | None:
        """The column type a type name from the catalog stands for; ``None``: not one this dialect writes."""
        return self.kinds.get(type_name(_text(reported)))

    def table_collation(self, cur: Any) -> str | None:
        """The collation new tables get, when the dialect picks one per server."""
        return None

    def create_table(
        self,
        schema: str | None,
        table: str,
        columns: Sequence[tuple[str, ColumnType]],
        key: Sequence[str],
        index: Sequence[str] | None,
        collation: str | None = None,
    ) -> list[str]:
        """The statements creating ``table``; ``index``: extra index columns, if any."""
        lines = [
            f"{self.quote(n)} {self.column_type(t, n in key)}{' NOT NULL' if n in key else ''}" for n, t in columns
        ]
        lines.append(f"PRIMARY KEY ({', '.join(map(self.quote, key))})")
        inline, separate = self.index_sql(schema, table, index) if index else (None, None)
        if inline:
            lines.append(inline)
        exists = "IF NOT EXISTS " if self.if_not_exists else ""
        body = ",\n  ".join(lines)
        options = self.table_options + (f" COLLATE={validate_identifier(collation, 'collation')}" if collation else "")
        options += self.partition_keyed_options if index is None else ""
        statements = [f"CREATE TABLE {exists}{self.qualify(schema, table)} (\n  {body}\n){options}"]
        if separate:
            statements.append(separate)
        return statements

    def index_sql(self, schema: str | None, table: str, columns: Sequence[str]) -> tuple[str | None, str | None]:
        """``(inline clause, separate statement)``; one of them is ``None``."""
        exists = "IF NOT EXISTS " if self.if_not_exists else ""
        cols = ", ".join(map(self.quote, columns))
        return None, (f"CREATE INDEX {exists}{self.quote(index_name(table))} ON {self.qualify(schema, table)} ({cols})")

    def add_column(self, schema: str | None, table: str, column: str, kind: ColumnType) -> str:
        return (
            f"ALTER TABLE {self.qualify(schema, table)} ADD COLUMN {self.quote(column)} {self.column_type(kind, False)}"
        )

    def widen_column(self, schema: str | None, table: str, column: str, old: ColumnType, new: ColumnType) -> list[str]:
        """The statements changing ``column`` from type ``old`` to the wider ``new``, its values converted."""
        raise NotImplementedError(f"the {self.name} dialect makes extra columns TEXT: it never widens one")

    def upgrade_table(self, cur: Any, schema: str | None, table: str, collation: str | None) -> list[str]:
        """Statements bringing a table an earlier version created up to what :meth:`create_table` makes now."""
        return []

    def delete_partition(self, schema: str | None, table: str, partition: tuple[str, str], placeholder: str) -> str:
        """``DELETE`` of one workspace's day; parameters: (workspace id, day)."""
        workspace, day = map(self.quote, partition)
        where = f"{workspace} = {placeholder} AND {day} = {placeholder}"
        return f"DELETE FROM {self.qualify(schema, table)} WHERE {where}"  # noqa: S608

    def copy_rows(self, schema: str | None, source: str, target: str, columns: Sequence[str]) -> str:
        """``INSERT … SELECT`` of every row of ``source`` into ``target`` (a stage swapped in), server-side."""
        cols = ", ".join(map(self.quote, columns))
        into, source_table = self.qualify(schema, target), self.qualify(schema, source)
        return f"INSERT INTO {into} ({cols}) SELECT {cols} FROM {source_table}"  # noqa: S608

    def drop_table(self, schema: str | None, table: str) -> str:
        return f"DROP TABLE IF EXISTS {self.qualify(schema, table)}"

    # -- metadata --------------------------------------------------------------------

    def column_types(
        self, conn: Any, cur: Any, schema: str | None, table: str, placeholder: str
    ) -> dict[str, ColumnType | None] | None:
        """The table's columns and their types (:meth:`kind_of`), ``None`` when it does not exist.

        From ``information_schema.columns`` where the dialect knows its current
        schema; else (generic) a probe that returns no row, a failure meaning
        no table, and no type known.
        """
        if self.current_schema_sql is not None:
            where_schema = placeholder if schema else self.current_schema_sql
            cur.execute(
                "SELECT column_name, data_type FROM information_schema.columns "  # noqa: S608 - no identifiers
                f"WHERE table_schema = {where_schema} AND table_name = {placeholder} "
                "ORDER BY ordinal_position",
                (schema, table) if schema else (table,),
            )
            return {r[0]: self.kind_of(r[1]) for r in cur.fetchall()} or None
        try:
            # Identifiers in SQL text are validated and quoted (quote()); values are parameters.
            cur.execute(f"SELECT * FROM {self.qualify(schema, table)} WHERE 1 = 0")  # noqa: S608
            names = [d[0] for d in cur.description]
            cur.fetchall()
        except Exception:
            conn.rollback()
            return None
        return dict.fromkeys(names)

    # -- transaction, lock, bulk write -----------------------------------------------

    def prepare(self, cur: Any, timeout: float) -> None:
        """Session settings right after connecting."""

    def begin(self, cur: Any) -> None:
        """Start the replace transaction (most drivers start one implicitly)."""

    def lock(
        self, cur: Any, schema: str | None, table: str, workspace_id: str, days: Sequence[date], timeout: float
    ) -> None:
        """Serialize replaces of ``days`` of ``table`` (or of the whole table) until the transaction ends."""

    def unlock(self, cur: Any, schema: str | None, table: str) -> None:
        """Release what :meth:`lock` took when the transaction end does not."""

    def write_rows(
        self,
        cur: Any,
        schema: str | None,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        placeholder: str,
    ) -> None:
        cols = ", ".join(map(self.quote, columns))
        marks = ", ".join([placeholder] * len(columns))
        sql = f"INSERT INTO {self.qualify(schema, table)} ({cols}) VALUES ({marks})"  # noqa: S608
        cur.executemany(sql, rows)

    #: The adapters of :meth:`write_binary` (only what the binary format does not take as it is).
    binary_adapters: Mapping[ColumnType, Adapter] = field(default_factory=lambda: MappingProxyType({}))

    def copies_binary(
        self, cur: Any, schema: str | None, table: str, columns: Sequence[tuple[str, ColumnType]]
    ) -> bool:
        """Whether :meth:`write_binary` can write these columns of ``table`` through ``cur``."""
        return False

    def write_binary(
        self,
        cur: Any,
        schema: str | None,
        table: str,
        columns: Sequence[tuple[str, ColumnType]],
        batches: Iterable[Sequence[Sequence[Any]]],
    ) -> int:
        """Write every batch in the database's binary bulk format (only where :meth:`copies_binary`)."""
        raise NotImplementedError(f"the {self.name} dialect has no binary bulk write")

    def write_batches(
        self,
        cur: Any,
        schema: str | None,
        table: str,
        columns: Sequence[str],
        batches: Iterable[Sequence[Sequence[Any]]],
        placeholder: str,
    ) -> int:
        """Write every batch of rows (one bulk call each); return the number of rows written."""
        written = 0
        for rows in batches:
            self.write_rows(cur, schema, table, columns, rows, placeholder)
            written += len(rows)
        return written


@dataclass(frozen=True)
class SqliteDialect(Dialect):
    name: str = "sqlite"
    types: Mapping[ColumnType, str] = _sql_types("TEXT", "INTEGER", "REAL", "TIMESTAMP", "TEXT")
    key_text_type: str = "TEXT"
    adapters: Mapping[ColumnType, Adapter] = field(
        default_factory=lambda: MappingProxyType({_T.DATE: _iso, _T.TIMESTAMP: _iso})
    )
    if_not_exists: bool = True
    # WITHOUT ROWID keeps one B-tree instead of a table and a key index, and a day's rows side by
    # side, so a replace deletes and inserts one range (bench/RESULTS.md, change 11).
    # The other tables (compliance events, keyed by event id, with rows of kilobytes, which SQLite
    # advises against clustering) keep their rowid.
    partition_keyed_options: str = " WITHOUT ROWID"

    def index_sql(self, schema: str | None, table: str, columns: Sequence[str]) -> tuple[str | None, str | None]:
        # SQLite puts the schema on the index name, and the table name stays bare.
        cols = ", ".join(map(self.quote, columns))
        return None, (
            f"CREATE INDEX IF NOT EXISTS {self.qualify(schema, index_name(table))} ON {self.quote(table)} ({cols})"
        )

    reads_types: bool = True

    def column_types(
        self, conn: Any, cur: Any, schema: str | None, table: str, placeholder: str
    ) -> dict[str, ColumnType | None] | None:
        cur.execute(
            f"SELECT name, type FROM pragma_table_info({placeholder}, {placeholder})",  # noqa: S608
            (table, schema or "main"),
        )
        return {r[0]: self.kind_of(r[1]) for r in cur.fetchall()} or None

    def widen_column(self, schema: str | None, table: str, column: str, old: ColumnType, new: ColumnType) -> list[str]:
        """SQLite cannot change a column's type: the values move to a new column of the wider type.

        Its affinity converts them as the other databases' casts do (``1`` to
        ``1.0``, a number to its text); a float whose 15-digit text would not
        read back as the same float is written with 17 digits, and a boolean
        as ``true``/``false``. In a savepoint: all of it or nothing. The column
        moves to the end of the table.
        """
        name, temporary, qualified = self.quote(column), self.quote(_WIDENING), self.qualify(schema, table)
        value = name
        if new is ColumnType.TEXT and old is ColumnType.FLOAT:
            value = (
                f"CASE WHEN typeof({name}) = 'real' AND CAST(CAST({name} AS TEXT) AS REAL) <> {name} "
                f"THEN printf('%!.17g', {name}) ELSE {name} END"
            )
        elif new is ColumnType.TEXT and old is ColumnType.BOOLEAN:
            value = f"CASE {name} WHEN 1 THEN 'true' WHEN 0 THEN 'false' ELSE {name} END"
        return [
            f"SAVEPOINT {_WIDENING}",
            f"ALTER TABLE {qualified} ADD COLUMN {temporary} {self.column_type(new, False)}",
            f"UPDATE {qualified} SET {temporary} = {value}",  # noqa: S608 - validated, quoted identifiers
            f"ALTER TABLE {qualified} DROP COLUMN {name}",
            f"ALTER TABLE {qualified} RENAME COLUMN {temporary} TO {name}",
            f"RELEASE {_WIDENING}",
        ]

    def prepare(self, cur: Any, timeout: float) -> None:
        cur.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")

    def begin(self, cur: Any) -> None:
        cur.execute("BEGIN IMMEDIATE")


@dataclass(frozen=True)
class PostgresDialect(Dialect):
    name: str = "postgresql"
    types: Mapping[ColumnType, str] = _sql_types("TEXT", "BIGINT", "DOUBLE PRECISION", "TIMESTAMPTZ", "JSONB")
    key_text_type: str = "TEXT"
    # PostgreSQL text and JSONB refuse NUL characters: one in a task title or a tool input would
    # fail the whole day's load, on every retry. They become U+FFFD, the replacement character.
    # Dates and timestamps go as ISO text, which the server parses as it would psycopg's own
    # rendering, for less than psycopg's dumper costs (bench/RESULTS.md, change 9), and the load's
    # ``day`` and ``loaded_at`` are formatted once a run of rows (airflow_provider_codex._fast.adapters).
    adapters: Mapping[ColumnType, Adapter] = field(
        default_factory=lambda: MappingProxyType(
            {_T.TEXT: _pg_text, _T.JSON: _pg_json, _T.DATE: _iso, _T.TIMESTAMP: _iso}
        )
    )
    if_not_exists: bool = True
    current_schema_sql: str | None = "current_schema()"
    catalog_aliases: Mapping[str, str] = field(default_factory=lambda: {"timestamp with time zone": "TIMESTAMPTZ"})
    reads_types: bool = True

    streams: bool = True

    def widen_column(self, schema: str | None, table: str, column: str, old: ColumnType, new: ColumnType) -> list[str]:
        target = self.column_type(new, False)
        return [
            f"ALTER TABLE {self.qualify(schema, table)} ALTER COLUMN {self.quote(column)} TYPE {target}"
            f" USING {self.quote(column)}::{target}"
        ]

    def lock(
        self, cur: Any, schema: str | None, table: str, workspace_id: str, days: Sequence[date], timeout: float
    ) -> None:
        # A streaming replace holds its locks while the API is paged: one per (table, workspace,
        # day), so a backfill's parallel runs of other days do not wait. The table is named by its
        # OID (however the schema was spelled), the partition by a hash; a hash collision only
        # makes two loads wait for each other. Taken in one sorted order: no deadlock.
        cur.execute(f"SET LOCAL lock_timeout = {int(timeout * 1000)}")
        cur.execute(
            "SELECT count(pg_advisory_xact_lock(hashtext(%s::regclass::oid::text), hashtext(p))) "
            "FROM (SELECT p FROM unnest(%s::text[]) AS p ORDER BY p) AS partitions",
            (self.qualify(schema, table), sorted(f"{workspace_id}/{day.isoformat()}" for day in days)),
        )
        cur.fetchall()

    # Binary COPY (psycopg 3, the fast paths on): values go as the server stores them, so the server
    # parses no text and this process formats none (bench/RESULTS.md, issue 18). Text and JSON still
    # lose their NULs; dates and timestamps need nothing.
    binary_adapters: Mapping[ColumnType, Adapter] = field(
        default_factory=lambda: MappingProxyType({_T.TEXT: _pg_text, _T.JSON: _pg_json})
    )

    def copies_binary(
        self, cur: Any, schema: str | None, table: str, columns: Sequence[tuple[str, ColumnType]]
    ) -> bool:
        """Through psycopg 3, into columns whose types are exactly the ones this dialect creates.

        Binary values are not converted by the server as text is: a column an
        earlier version, or a person, typed otherwise (``json``, ``numeric``)
        makes the write a text ``COPY``.
        """
        if copy_driver(cur) != "psycopg":
            return False
        found = self.column_types(cur.connection, cur, schema, table, "%s") or {}
        return all(found.get(name) is kind for name, kind in columns)

    def write_binary(
        self,
        cur: Any,
        schema: str | None,
        table: str,
        columns: Sequence[tuple[str, ColumnType]],
        batches: Iterable[Sequence[Sequence[Any]]],
    ) -> int:
        """All batches through one binary ``COPY``, from a cursor of the same transaction."""
        from psycopg.types.json import set_json_dumps

        names = ", ".join(self.quote(name) for name, _ in columns)
        sql = f"COPY {self.qualify(schema, table)} ({names}) FROM STDIN (FORMAT BINARY)"
        with cur.connection.cursor() as copy_cursor:
            set_json_dumps(_as_is, context=copy_cursor)  # JSON columns hold JSON text already
            with copy_cursor.copy(sql) as copy:
                copy.set_types([_BINARY_TYPES[kind] for _, kind in columns])
                written = _copy_rows(copy, batches)
        return written

    def write_batches(
        self,
        cur: Any,
        schema: str | None,
        table: str,
        columns: Sequence[str],
        batches: Iterable[Sequence[Sequence[Any]]],
        placeholder: str,
    ) -> int:
        """All batches through one ``COPY`` (one round trip, not one per batch)."""
        driver = copy_driver(cur)
        if driver is None:  # another driver: plain inserts
            return super().write_batches(cur, schema, table, columns, batches, placeholder)
        sql = f"COPY {self.qualify(schema, table)} ({', '.join(map(self.quote, columns))}) FROM STDIN"
        if driver == "psycopg":
            with cur.copy(sql) as copy:
                return _copy_rows(copy, batches)
        text = CopyText(row for rows in batches for row in rows)
        cur.copy_expert(sql, text)
        return text.rows_read


#: The PostgreSQL type each column type is sent as in a binary COPY (what ``PostgresDialect.types`` creates).
_BINARY_TYPES: Mapping[ColumnType, str] = MappingProxyType(
    {
        _T.TEXT: "text",
        _T.INTEGER: "int8",
        _T.FLOAT: "float8",
        _T.BOOLEAN: "bool",
        _T.DATE: "date",
        _T.TIMESTAMP: "timestamptz",
        _T.JSON: "jsonb",
    }
)


def _copy_rows(copy: Any, batches: Iterable[Sequence[Sequence[Any]]]) -> int:
    """Every row of ``batches`` into a psycopg 3 ``Copy``; the number written."""
    written = 0
    write_row = copy.write_row
    for rows in batches:
        for row in rows:
            write_row(row)
        written += len(rows)
    return written


def _as_is(text: str) -> str:
    return text


def copy_driver(cur: Any) -> str | None:
    """Which ``COPY FROM STDIN`` API a cursor offers: ``psycopg`` (3), ``psycopg2``, or none."""
    package = type(cur).__module__.split(".", 1)[0]
    if package == "psycopg" and hasattr(cur, "copy"):
        return "psycopg"
    if package == "psycopg2" and hasattr(cur, "copy_expert"):
        return "psycopg2"
    return None


@dataclass(frozen=True)
class MySqlDialect(Dialect):
    name: str = "mysql"
    types: Mapping[ColumnType, str] = _sql_types("LONGTEXT", "BIGINT", "DOUBLE", "DATETIME(6)", "JSON")
    key_text_type: str = "VARCHAR(191)"
    if_not_exists: bool = True
    table_options: str = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    quote_char: str = "`"
    current_schema_sql: str | None = "DATABASE()"
    # BOOLEAN is TINYINT(1); MariaDB's JSON is LONGTEXT with a check (so it reads back as TEXT).
    catalog_aliases: Mapping[str, str] = field(default_factory=lambda: {"tinyint": "BOOLEAN"})
    reads_types: bool = True

    def table_collation(self, cur: Any) -> str:
        """A binary collation without pad space, so ids compare exactly (``"x"`` and ``"x "`` differ).

        ``utf8mb4_bin`` pads: trailing spaces are ignored, and two such ids
        collide on the primary key. MariaDB has ``utf8mb4_nopad_bin``, MySQL
        8.0.17+ ``utf8mb4_0900_bin``; an older server has neither, and keeps
        ``utf8mb4_bin`` (with a warning).
        """
        cur.execute(
            "SELECT collation_name FROM information_schema.collations WHERE collation_name IN (%s, %s)",
            _NO_PAD_COLLATIONS,
        )
        found = {_text(r[0]) for r in cur.fetchall()}
        for collation in _NO_PAD_COLLATIONS:
            if collation in found:
                return collation
        log.warning("this server has no binary collation without pad space: ids differing by trailing spaces collide")
        return _PAD_COLLATION

    def upgrade_table(self, cur: Any, schema: str | None, table: str, collation: str | None) -> list[str]:
        """A table created with ``utf8mb4_bin`` (before ids compared exactly) converts to ``collation``, once."""
        cur.execute(
            "SELECT table_collation FROM information_schema.tables "
            "WHERE table_schema = COALESCE(%s, DATABASE()) AND table_name = %s",
            (schema, table),
        )
        row = cur.fetchone()
        cur.fetchall()
        if row is None or _text(row[0]) != _PAD_COLLATION or collation in (None, _PAD_COLLATION):
            return []
        validate_identifier(collation, "collation")
        return [f"ALTER TABLE {self.qualify(schema, table)} CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}"]

    def widen_column(self, schema: str | None, table: str, column: str, old: ColumnType, new: ColumnType) -> list[str]:
        qualified, name = self.qualify(schema, table), self.quote(column)
        statements = [f"ALTER TABLE {qualified} MODIFY COLUMN {name} {self.column_type(new, False)}"]
        if new is ColumnType.TEXT and old is ColumnType.BOOLEAN:  # TINYINT(1) becomes '1'/'0': as JSON says it
            statements.append(
                f"UPDATE {qualified} SET {name} = CASE {name} WHEN '1' THEN 'true' WHEN '0' THEN 'false' END"  # noqa: S608
                f" WHERE {name} IS NOT NULL"
            )
        return statements

    def index_sql(self, schema: str | None, table: str, columns: Sequence[str]) -> tuple[str | None, str | None]:
        return f"KEY {self.quote(index_name(table))} ({', '.join(map(self.quote, columns))})", None

    _LOCK_NAME = "CONCAT('codex:', SHA1(CONCAT(COALESCE(%s, DATABASE()), '.', %s)))"

    def lock(
        self, cur: Any, schema: str | None, table: str, workspace_id: str, days: Sequence[date], timeout: float
    ) -> None:
        cur.execute(f"SELECT GET_LOCK({self._LOCK_NAME}, %s)", (schema, table, max(0, int(timeout))))
        (acquired,) = cur.fetchone()
        if acquired != 1:
            raise TimeoutError(f"could not lock {table} within {timeout:.0f}s: another load is replacing it")

    def unlock(self, cur: Any, schema: str | None, table: str) -> None:
        cur.execute(f"SELECT RELEASE_LOCK({self._LOCK_NAME})", (schema, table))
        cur.fetchall()


#: The temporary column of SQLite's widening (inside a savepoint, renamed before it ends).
_WIDENING = "codex_widening"
#: Binary collations without pad space: MariaDB's, then MySQL 8's.
_NO_PAD_COLLATIONS = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin")
#: What MySQL tables were created with before: binary, but trailing spaces ignored.
_PAD_COLLATION = "utf8mb4_bin"


def _text(value: Any) -> str:
    """A catalog value as text (some MySQL drivers return information_schema strings as bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


GENERIC = Dialect()
SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()
MYSQL = MySqlDialect()

_BY_NAME: Mapping[str, Dialect] = MappingProxyType(
    {
        "sqlite": SQLITE,
        "postgresql": POSTGRES,
        "postgres": POSTGRES,
        "mysql": MYSQL,
        "mariadb": MYSQL,
        "generic": GENERIC,
    }
)


def dialect_named(name: str) -> Dialect:
    """The dialect for a SQLAlchemy dialect or connection type name; generic when unknown."""
    return _BY_NAME.get(name.lower().split("+", 1)[0], GENERIC)
