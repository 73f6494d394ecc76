"""Load table records into any SQL database Airflow has a ``DbApiHook`` for.

The unit of work is a *replace*: for one workspace and a set of UTC days,
delete what the tables hold for those days and insert the new records, in one
transaction. The source revises recent days (late usage, late compliance
files), so a reload must replace, and a retry, a rerun or two overlapping
windows must leave exactly one copy of each row: the delete and the insert
commit together or not at all, and replaces of one table are serialized (see
:mod:`.sql_dialects` for the lock each database gets).

Sequence of a replace:

1. stage the records on local disk (:mod:`._staging`): validates them, learns
   new columns, drops duplicates of deduplicated tables. The record iterator
   is consumed here, before the database is touched;
2. create missing tables (primary key on the spec's key) and add missing
   columns, each in its own short transaction (MySQL commits DDL anyway);
3. one transaction: lock, per day ``DELETE``, then every day's rows in one
   bulk insert (PostgreSQL: one ``COPY`` per table), commit; on any error
   roll back, and the previous rows stay.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing, suppress
from dataclasses import replace as dc_replace
from datetime import date
from typing import Any

from airflow.providers.common.sql.hooks.sql import DbApiHook

from airflow_provider_codex.sinks._staging import (
    DEFAULT_BUFFER_ROWS,
    ReplaceResult,
    Row,
    StagedTable,
    check_days,
    rebatch,
    stage,
)
from airflow_provider_codex.sinks.base import TableSink
from airflow_provider_codex.sinks.sql_dialects import Adapter, Dialect, dialect_named
from airflow_provider_codex.tables.schema import ColumnType, TableSpec, Tagged, validate_identifier

log = logging.getLogger(__name__)


def hook_from_conn_id(conn_id: str) -> DbApiHook:
    """The SQL hook of an Airflow connection, as ``GenericTransfer`` finds it."""
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(conn_id).get_hook()  # type: ignore[no-untyped-call]
    if not isinstance(hook, DbApiHook):
        raise TypeError(f"connection {conn_id!r} gives a {type(hook).__name__}, not a SQL (DbApiHook) hook")
    return hook


def _hook_dialect_name(hook: DbApiHook) -> str:
    for get in (lambda: hook.dialect_name, lambda: hook.conn_type, lambda: hook.connection.conn_type):
        with suppress(Exception):
            name = get()
            if isinstance(name, str) and name and name != "default":
                return name
    return "generic"


class SqlSink(TableSink):
    """Replace a workspace's days of tables in a SQL database, atomically.

    :param hook: any ``DbApiHook`` (``SqliteHook``, ``PostgresHook``, ``MySqlHook``, ...).
    :param schema: schema (PostgreSQL), database (MySQL) or attached database
        (SQLite) of the tables; the connection's default when ``None``.
    :param table_prefix: prepended to every table name (``raw_`` -> ``raw_codex_…``).
    :param dialect: force a dialect (``sqlite``, ``postgresql``, ``mysql``,
        ``generic``); detected from the hook when ``None``.
    :param column_types: override the SQL type of a column type, e.g.
        ``{ColumnType.TEXT: "NVARCHAR(MAX)"}`` for a database the generic
        dialect does not fit.
    :param batch_size: rows per insert batch (``executemany`` / ``COPY`` call).
    :param lock_timeout: seconds to wait for a concurrent replace of the same table.
    :param buffer_rows: records held in memory while staging.
    """

    def __init__(
        self,
        hook: DbApiHook,
        *,
        schema: str | None = None,
        table_prefix: str = "",
        dialect: str | None = None,
        column_types: Mapping[ColumnType, str] | None = None,
        batch_size: int = 5_000,
        lock_timeout: float = 600.0,
        buffer_rows: int = DEFAULT_BUFFER_ROWS,
    ) -> None:
        if schema is not None:
            validate_identifier(schema, "schema name")
        if table_prefix:
            validate_identifier(table_prefix, "table prefix")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.hook = hook
        self.schema = schema
        self.table_prefix = table_prefix
        base = dialect_named(dialect or _hook_dialect_name(hook))
        self.dialect: Dialect = dc_replace(base, types={**base.types, **column_types}) if column_types else base
        self.batch_size = batch_size
        self.lock_timeout = lock_timeout
        self.buffer_rows = buffer_rows

    @classmethod
    def from_conn_id(cls, conn_id: str, **kwargs: Any) -> SqlSink:
        """A sink over the hook of Airflow connection ``conn_id``."""
        return cls(hook_from_conn_id(conn_id), **kwargs)

    def table_name(self, spec: TableSpec) -> str:
        """The physical table name of ``spec`` (prefix included), validated."""
        return validate_identifier(f"{self.table_prefix}{spec.name}", "table name")

    # -- public operations -----------------------------------------------------------

    def ensure_table(self, spec: TableSpec) -> None:
        """Create ``spec``'s table if missing, add its missing columns. Idempotent."""
        with closing(self.hook.get_conn()) as conn, closing(conn.cursor()) as cur:
            self._prepare(conn, cur)
            self._ensure(conn, cur, spec, [(c.name, c.type) for c in spec.columns])

    def replace_tables(
        self,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: Iterable[date],
        tagged: Iterable[Tagged],
    ) -> dict[str, ReplaceResult]:
        """Replace ``days`` of ``workspace_id`` in several tables, in one transaction.

        ``tagged`` yields ``(table name, record)``, as the flatteners do; every
        record must belong to one of ``specs``, to ``workspace_id`` and to one
        of ``days`` (else ``ValueError`` before anything is written). A day
        without records ends up empty: that is what the source said.
        Returns per table the rows deleted and inserted per day.
        """
        return self._load(specs, workspace_id, days, tagged, clear=True)

    def append_tables(
        self,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: Iterable[date],
        tagged: Iterable[Tagged],
    ) -> dict[str, ReplaceResult]:
        """Add records to ``days`` without clearing them first, in one transaction.

        For a load that resumes after a pause (a deferred task): its first
        part replaced the days, the later parts append the rest of the same
        cursor walk. A rerun from scratch replaces again, so it stays idempotent.
        """
        return self._load(specs, workspace_id, days, tagged, clear=False)

    def _load(
        self,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: Iterable[date],
        tagged: Iterable[Tagged],
        *,
        clear: bool,
    ) -> dict[str, ReplaceResult]:
        if not isinstance(workspace_id, str) or not workspace_id:
            raise ValueError("workspace_id must be a non-empty string")
        for spec in specs:
            self.table_name(spec)  # refuse a bad name before anything runs
        day_list = check_days(days)
        with stage(specs, workspace_id, day_list, tagged, buffer_rows=self.buffer_rows) as staged:
            return self._write(staged, workspace_id, clear)

    # -- internals -------------------------------------------------------------------

    def _prepare(self, conn: Any, cur: Any) -> None:
        if getattr(self.hook, "supports_autocommit", False):
            self.hook.set_autocommit(conn, False)
        self.dialect.prepare(cur, self.lock_timeout)

    def _write(self, staged: list[StagedTable], workspace_id: str, clear: bool) -> dict[str, ReplaceResult]:
        dialect, schema = self.dialect, self.schema
        with closing(self.hook.get_conn()) as conn, closing(conn.cursor()) as cur:
            self._prepare(conn, cur)
            for table in staged:
                self._ensure(conn, cur, table.spec, table.columns)
            ordered = sorted(staged, key=lambda t: self.table_name(t.spec))  # one lock order: no deadlock
            locked: list[str] = []
            try:
                dialect.begin(cur)
                for table in ordered:
                    dialect.lock(cur, schema, self.table_name(table.spec), self.lock_timeout)
                    locked.append(self.table_name(table.spec))
                results = {t.name: self._replace_days(cur, t, workspace_id, clear) for t in ordered}
                conn.commit()
            except BaseException:
                with suppress(Exception):
                    conn.rollback()
                raise
            finally:
                for name in locked:
                    with suppress(Exception):
                        dialect.unlock(cur, schema, name)
        return results

    def _replace_days(self, cur: Any, table: StagedTable, workspace_id: str, clear: bool) -> ReplaceResult:
        dialect, spec, placeholder = self.dialect, table.spec, self.hook.placeholder
        name = self.table_name(spec)
        columns = [c for c, _ in table.columns]
        adapters: list[tuple[int, Adapter]] = [
            (i, fn) for i, (_, kind) in enumerate(table.columns) if (fn := dialect.adapters.get(kind)) is not None
        ]
        adapt_day = dialect.adapters.get(ColumnType.DATE, lambda d: d)
        delete = dialect.delete_partition(self.schema, name, spec.partition, placeholder)
        deleted: dict[date, int] = {}
        for day in table.days:
            if clear:
                cur.execute(delete, (workspace_id, adapt_day(day)))
                deleted[day] = max(cur.rowcount, 0)
            else:
                deleted[day] = 0
        # Every day's rows in one bulk write: one COPY per table, not one per day, each of
        # which would end waiting for the server to catch up.
        rows = self._rows((batch for day in table.days for batch in table.rows(day)), adapters, name)
        written = dialect.write_batches(cur, self.schema, name, columns, rows, placeholder)
        for day in table.days:
            log.info("%s %s: deleted %d rows, inserted %d", name, day, deleted[day], table.inserted[day])
        log.info("%s: %d rows written", name, written)
        return table.result(deleted)

    def _rows(
        self,
        rows: Iterable[list[Row]],
        adapters: Sequence[tuple[int, Adapter]],
        name: str,
    ) -> Iterator[Sequence[Sequence[Any]]]:
        """The staged rows, adapted, in batches of ``batch_size``.

        Column by column, and a value that is the very object the previous row
        had (the load's ``workspace_id``, ``day`` and ``loaded_at`` on every
        row) reuses its adapted value: adapters are pure, and most rows would
        otherwise pay for formatting the same timestamp again.
        """
        for batch in rebatch(rows, self.batch_size):
            if not adapters:
                log.debug("%s: a batch of %d rows", name, len(batch))
                yield batch
                continue
            out = [list(row) for row in batch]
            for i, adapt in adapters:
                last: Any = None
                last_adapted: Any = None
                for row in out:
                    value = row[i]
                    if value is None:
                        continue
                    if value is not last:
                        last, last_adapted = value, adapt(value)
                    row[i] = last_adapted
            log.debug("%s: a batch of %d rows", name, len(out))
            yield out

    def _ensure(self, conn: Any, cur: Any, spec: TableSpec, columns: Sequence[tuple[str, ColumnType]]) -> None:
        """Create the table or add missing columns; tolerate a concurrent load doing the same."""
        dialect, schema, placeholder = self.dialect, self.schema, self.hook.placeholder
        name = self.table_name(spec)
        existing = dialect.existing_columns(conn, cur, schema, name, placeholder)
        if existing is None:
            index = spec.partition if tuple(spec.key[:2]) != spec.partition else None
            try:
                for statement in dialect.create_table(schema, name, columns, spec.key, index):
                    cur.execute(statement)
                conn.commit()
                log.info("created table %s (%d columns)", name, len(columns))
                return
            except Exception:
                conn.rollback()
                existing = dialect.existing_columns(conn, cur, schema, name, placeholder)
                if existing is None:
                    raise
        present = set(existing)
        for column, kind in columns:
            if column in present:
                continue
            try:
                cur.execute(dialect.add_column(schema, name, column, kind))
                conn.commit()
                log.info("%s: added column %s (%s)", name, column, kind.value)
            except Exception:
                conn.rollback()
                if column not in (dialect.existing_columns(conn, cur, schema, name, placeholder) or ()):
                    raise
        conn.commit()
