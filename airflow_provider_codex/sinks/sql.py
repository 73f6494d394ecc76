"""Load table records into any SQL database Airflow has a ``DbApiHook`` for.

The unit of work is a *replace*: for one workspace and a set of UTC days,
delete what the tables hold for those days and insert the new records, in one
transaction. The source revises recent days (late usage, late compliance
files), so a reload must replace, and a retry, a rerun or two overlapping
windows must leave exactly one copy of each row: the delete and the insert
commit together or not at all, and replaces of the same days of a table are
serialized (see :mod:`.sql_dialects` for the lock each database gets).

Sequence of a replace (SQLite, MySQL, generic):

1. stage the records on local disk (:mod:`._staging`): validates them, learns
   new columns, drops duplicates of deduplicated tables. The record iterator
   is consumed here, before the database is touched (lock held only to write;
   the catalog is read once if extra columns show up, for the types they have);
2. create missing tables (primary key on the spec's key), add missing columns
   and widen extra columns a wider value arrived for, each in its own short
   transaction (MySQL commits DDL anyway);
3. one transaction: lock, per day ``DELETE``, then every day's rows in one
   bulk insert, commit; on any error roll back, and the previous rows stay.

PostgreSQL *streams* instead (``Dialect.streams``): the same checks run as the
records come, and once the first batch has passed them the transaction opens
(tables created, days locked and deleted) and a worker thread
(:mod:`._background`) copies every batch as it is flushed, while this
thread goes on with the API's next pages. The server parses and stores rows
on its own core, the days' ``DELETE`` included (figures: ``bench/RESULTS.md``,
changes 12 and 13). An error anywhere rolls the whole transaction back; the
lock covers only the days replaced, so other days of the table load meanwhile.

A load that comes in parts (a deferrable task that waits out a long rate
limit between them, :meth:`SqlSink.load_part`) must not show a reader a part
of its window, neither while it waits nor after it failed. Its parts gather
in *stage tables* (one per live table, named after it and the load's
:class:`~.base.Stage` id), committed part by part; the last part swaps them
in, in one transaction: lock the days, delete them, ``INSERT … SELECT`` the
stage's rows, write its own, commit; then the stage is dropped. A first part
drops a stale stage of the same id (a retry or a rerun starts over).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass, fields
from dataclasses import replace as dc_replace
from datetime import date
from typing import Any

from airflow.providers.common.sql.hooks.sql import DbApiHook

from airflow_provider_codex import _fast
from airflow_provider_codex._fast import adapters as fast_adapters
from airflow_provider_codex.sinks import ledger
from airflow_provider_codex.sinks._background import BackgroundWriter
from airflow_provider_codex.sinks._staging import (
    DEFAULT_BUFFER_ROWS,
    Destination,
    Row,
    StagedTable,
    check_days,
    rebatch,
    stage,
    stream,
)
from airflow_provider_codex.sinks.base import ReplaceResult, Stage, TableSink
from airflow_provider_codex.sinks.sql_dialects import Adapter, Dialect, adapt_rows, dialect_named, index_name
from airflow_provider_codex.tables.schema import ColumnType, TableSpec, Tagged, merge_types, validate_identifier

log = logging.getLogger(__name__)

#: What a streamed batch is written under: its table and columns (a new column starts a new COPY).
_RunKey = tuple[str, tuple[tuple[str, ColumnType], ...]]


def hook_from_conn_id(conn_id: str) -> DbApiHook:
    """The SQL hook of an Airflow connection, as ``GenericTransfer`` finds it."""
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(conn_id).get_hook()  # type: ignore[no-untyped-call]
    if not isinstance(hook, DbApiHook):
        raise TypeError(f"connection {conn_id!r} gives a {type(hook).__name__}, not a SQL (DbApiHook) hook")
    return hook


@dataclass(frozen=True)
class _StageSpec(TableSpec):
    """A live table's stage table: the live spec (whose name keys the staged records) under its own physical name."""

    physical: str = ""


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

    stages = True
    takes_columns = True

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
        if isinstance(spec, _StageSpec):
            return spec.physical
        return validate_identifier(f"{self.table_prefix}{spec.name}", "table name")

    def stage_table_name(self, spec: TableSpec, stage: Stage) -> str:
        """The physical name of ``spec``'s stage table: the live name and the stage id (shortened past 63)."""
        return index_name(self.table_name(spec), f"stage_{stage.id}")

    # -- reading back (for what is built from the loaded tables) ---------------------

    def qualified_name(self, spec: TableSpec) -> str:
        """``spec``'s table as SQL text: prefixed, validated, quoted, in the sink's schema."""
        return self.dialect.qualify(self.schema, self.table_name(spec))

    def sql_day(self, day: date) -> Any:
        """``day`` as a query parameter compares with the dialect's DATE columns (SQLite: ISO text)."""
        return self.dialect.adapters.get(ColumnType.DATE, lambda d: d)(day)

    def has_table(self, spec: TableSpec) -> bool:
        """Whether ``spec``'s table exists (a dataset never loaded has none)."""
        with closing(self.hook.get_conn()) as conn, closing(conn.cursor()) as cur:
            self._prepare(conn, cur)
            found = self.dialect.column_types(conn, cur, self.schema, self.table_name(spec), self.hook.placeholder)
            conn.rollback()
        return found is not None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read-only statement, on a connection prepared as the loads' are, rolled back after.

        ``sql`` uses the hook's placeholder (:attr:`placeholder`) for values.
        """
        with closing(self.hook.get_conn()) as conn, closing(conn.cursor()) as cur:
            self._prepare(conn, cur)
            try:
                cur.execute(sql, tuple(params))
                return [tuple(row) for row in cur.fetchall()]
            finally:
                with suppress(Exception):
                    conn.rollback()

    @property
    def placeholder(self) -> str:
        """The hook's parameter placeholder (``?`` for SQLite, ``%s`` for PostgreSQL and MySQL)."""
        return str(self.hook.placeholder)

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
        return self._load(specs, workspace_id, days, tagged)

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
        """Load one part of a load that comes in parts; the live tables change only with its last part.

        ``last()`` is asked once ``tagged`` is consumed (whether the part ended
        the load or paused it). A last part replaces the days as
        :meth:`replace_tables` does, with the rows of the earlier parts (the
        stage) copied in the same transaction, then drops the stage. Any other
        part appends its rows to the stage and commits, and ``staging.columns``
        says what the stage holds now. A part with ``staging.columns`` ``None``
        (the first, or one after parts that read nothing) drops a stale stage of
        the same id first. Returns this part's counts.

        Every part is spooled on local disk, on PostgreSQL too (which streams a
        plain replace): where the rows go, the stage or the live tables, is
        known only when the part ends, and the spool saves writing them twice.
        """
        return self._load(specs, workspace_id, days, tagged, staging=staging, last=last)

    def drop_stage(self, staging: Stage, specs: Sequence[TableSpec]) -> None:
        """Drop the stage tables of ``staging`` (those that exist); the live tables are untouched."""
        names = [self.stage_table_name(spec, staging) for spec in specs]
        with closing(self.hook.get_conn()) as conn, closing(conn.cursor()) as cur:
            self._prepare(conn, cur)
            for name in names:
                cur.execute(self.dialect.drop_table(self.schema, name))
            conn.commit()
        log.info("dropped the stage tables %s (those that existed)", names)

    def _load(
        self,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: Iterable[date],
        tagged: Iterable[Tagged],
        *,
        staging: Stage | None = None,
        last: Callable[[], bool] = lambda: True,
    ) -> dict[str, ReplaceResult]:
        if not isinstance(workspace_id, str) or not workspace_id:
            raise ValueError("workspace_id must be a non-empty string")
        for spec in specs:
            self.table_name(spec)  # refuse a bad name before anything runs
            if staging is not None:
                self.stage_table_name(spec, staging)
        day_list = check_days(days)
        destination = self._destination(specs)
        if staging is None and self.dialect.streams:
            return self._stream(specs, workspace_id, day_list, tagged, destination)
        if staging is not None and staging.columns is None:
            self.drop_stage(staging, specs)  # a retry or rerun starts over
        with stage(
            specs, workspace_id, day_list, tagged, buffer_rows=self.buffer_rows, destination=destination
        ) as staged:
            if staging is None:
                return self._write(staged, workspace_id, day_list)
            return self._write_part(staging, staged, workspace_id, day_list, last())

    # -- internals -------------------------------------------------------------------

    def _prepare(self, conn: Any, cur: Any) -> None:
        if getattr(self.hook, "supports_autocommit", False):
            self.hook.set_autocommit(conn, False)
        self.dialect.prepare(cur, self.lock_timeout)

    @contextmanager
    def _transaction(
        self,
        tables: Sequence[tuple[TableSpec, Sequence[tuple[str, ColumnType]]]],
        workspace_id: str,
        days: tuple[date, ...],
        *,
        live: bool = True,
    ) -> Iterator[tuple[Any, Any]]:
        """``(conn, cur)`` in one transaction over ``tables`` (created or upgraded first), locked.

        ``live``: the tables are live ones, whose replace the block records in
        the load ledger (:mod:`.ledger`, created here, not locked).
        Commits when the block ends; on any error rolls back, and the previous rows stay.
        """
        dialect, schema = self.dialect, self.schema
        with closing(self.hook.get_conn()) as conn, closing(conn.cursor()) as cur:
            self._prepare(conn, cur)
            for spec, columns in [*tables, *([(ledger.LEDGER, ledger.LEDGER_COLUMNS)] if live else [])]:
                self._ensure(conn, cur, spec, columns)
            names = sorted(self.table_name(spec) for spec, _ in tables)  # one lock order: no deadlock
            locked: list[str] = []
            try:
                dialect.begin(cur)
                for name in names:
                    dialect.lock(cur, schema, name, workspace_id, days, self.lock_timeout)
                    locked.append(name)
                yield conn, cur
                conn.commit()
            except BaseException:
                with suppress(Exception):
                    conn.rollback()
                raise
            finally:
                for name in locked:
                    with suppress(Exception):
                        dialect.unlock(cur, schema, name)

    def _write(
        self,
        staged: Sequence[StagedTable],
        workspace_id: str,
        days: tuple[date, ...],
        *,
        clear: bool = True,
        swap: Stage | None = None,
    ) -> dict[str, ReplaceResult]:
        """Write a spooled load: delete the days, then each table's rows in one bulk write.

        ``swap``: first copy in the rows of that stage (the earlier parts of the
        load), in the same transaction; the tables get the stage's extra columns too.
        """
        held = (swap.columns or {}) if swap else {}
        tables = [(t.spec, _merged_columns(t.columns, held.get(t.name, {}))) for t in staged]
        with self._transaction(tables, workspace_id, days, live=clear) as (_, cur):
            deleted = {t.name: self._delete_days(cur, t.spec, workspace_id, days, clear) for t in staged}
            for table in sorted(staged, key=lambda t: self.table_name(t.spec)):
                if swap is not None:
                    self._copy_stage(cur, table.spec, swap, held.get(table.name, {}))
                # Every day's rows in one bulk write: one COPY per table, not one per day, each of
                # which would end waiting for the server to catch up.
                batches = (batch for day in table.days for batch in table.rows(day))
                self._write_rows(cur, table.spec, table.columns, batches)
            results = {t.name: t.result(deleted[t.name]) for t in staged}
            if clear:  # a stage's swap holds rows this part did not count: counted in the table
                ledger.record(self, cur, workspace_id, days, {t.spec: None if swap else t.inserted for t in staged})
        self._log_results({self.table_name(t.spec): results[t.name] for t in staged})  # a stage by its own name
        return results

    def _write_part(
        self, staging: Stage, staged: list[StagedTable], workspace_id: str, days: tuple[date, ...], last: bool
    ) -> dict[str, ReplaceResult]:
        """Where a part of a load in parts goes: swapped in with the stage (last), or appended to the stage."""
        if last:
            if staging.columns is None:  # nothing staged: this part is the whole load
                return self._write(staged, workspace_id, days)
            results = self._write(staged, workspace_id, days, swap=staging)
            self.drop_stage(staging, [t.spec for t in staged])
            return results
        if not any(t.inserted for t in staged):  # nothing read: nothing to stage
            return {t.name: t.result() for t in staged}
        held = staging.columns or {}
        in_stage = [dc_replace(t, spec=self._stage_spec(t.spec, staging)) for t in staged]
        results = self._write(in_stage, workspace_id, days, clear=False)
        staging.columns = {
            t.name: dict(_merged_columns(list(t.extra_types.items()), held.get(t.name, {}))) for t in staged
        }
        return results

    def _stage_spec(self, spec: TableSpec, staging: Stage) -> _StageSpec:
        values = {f.name: getattr(spec, f.name) for f in fields(spec)}
        return _StageSpec(**values, physical=self.stage_table_name(spec, staging))

    def _copy_stage(self, cur: Any, spec: TableSpec, staging: Stage, extra: Mapping[str, ColumnType]) -> None:
        """In the swap's transaction: every row of ``spec``'s stage table into the live table, server-side."""
        source, target = self.stage_table_name(spec, staging), self.table_name(spec)
        columns = [*spec.column_names, *extra]
        cur.execute(self.dialect.copy_rows(self.schema, source, target, columns))
        log.info("%s: %d rows of the earlier parts copied from %s", target, max(cur.rowcount, 0), source)

    def _stream(
        self,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: tuple[date, ...],
        tagged: Iterable[Tagged],
        destination: Destination,
    ) -> dict[str, ReplaceResult]:
        """Write the rows as they are staged, from a worker thread, in the replace's transaction.

        The database parses and stores them on its own core while this process
        parses the next pages; the API failing mid-stream rolls it all back.
        The transaction (tables created, days locked and deleted) opens with
        the first batch of checked rows, so a load refused early, or failing
        on its first pages, touches nothing. Columns that show up mid-stream
        are added (or widened) in the same transaction, before the first rows
        that carry them.
        """
        by_name = {spec.name: spec for spec in specs}
        added: dict[str, dict[str, ColumnType]] = {spec.name: {} for spec in specs}
        deleted: dict[str, dict[date, int]] = {}
        tables = [(spec, [(c.name, c.type) for c in spec.columns]) for spec in specs]

        def counted() -> dict[TableSpec, Mapping[date, int] | None]:
            return {t.spec: t.inserted for t in staged}

        def delete_days(cur: Any) -> None:
            for spec in specs:
                deleted[spec.name] = self._delete_days(cur, spec, workspace_id, days)

        with ExitStack() as opened:
            writer: BackgroundWriter[_RunKey, list[Row]] | None = None

            def emit(table: StagedTable, rows: list[Row]) -> None:
                nonlocal writer
                if writer is None:  # the first checked rows: open the transaction
                    conn, cur = opened.enter_context(self._transaction(tables, workspace_id, days))
                    # after the writer has ended (exits run last first), before the commit
                    opened.push(ledger.on_success(lambda: ledger.record(self, cur, workspace_id, days, counted())))

                    def write(key: _RunKey, batches: Iterator[list[Row]]) -> None:
                        name, columns = key
                        spec = by_name[name]
                        self._add_columns(conn, cur, spec, columns[len(spec.columns) :], added[name])
                        self._write_rows(cur, spec, columns, batches)

                    # The queue holds as many rows as the stager buffers: memory stays within twice that.
                    # The worker deletes the days first: the server does that too while this thread parses.
                    depth = max(2, self.buffer_rows // self.batch_size)
                    writer = opened.enter_context(
                        BackgroundWriter(write, depth=depth, name="codex-sql-writer", first=lambda: delete_days(cur))
                    )
                key = (table.name, tuple(table.columns))
                for start in range(0, len(rows), self.batch_size):
                    writer.put(key, rows[start : start + self.batch_size])

            staged = stream(
                specs, workspace_id, days, tagged, emit, buffer_rows=self.buffer_rows, destination=destination
            )
            if writer is None:  # no rows: the days still end up empty
                _, cur = opened.enter_context(self._transaction(tables, workspace_id, days))
                delete_days(cur)
                ledger.record(self, cur, workspace_id, days, counted())
        results = {t.name: t.result(deleted[t.name]) for t in staged}  # the worker has ended: all counted
        self._log_results(results)
        return results

    def _delete_days(
        self, cur: Any, spec: TableSpec, workspace_id: str, days: tuple[date, ...], clear: bool = True
    ) -> dict[date, int]:
        """Delete the days of ``workspace_id`` from the table (``clear``); rows deleted per day."""
        if not clear:
            return dict.fromkeys(days, 0)
        adapt_day = self.dialect.adapters.get(ColumnType.DATE, lambda d: d)
        name, placeholder = self.table_name(spec), self.hook.placeholder
        delete = self.dialect.delete_partition(self.schema, name, spec.partition, placeholder)
        deleted: dict[date, int] = {}
        for day in days:
            cur.execute(delete, (workspace_id, adapt_day(day)))
            deleted[day] = max(cur.rowcount, 0)
        return deleted

    def _add_columns(
        self,
        conn: Any,
        cur: Any,
        spec: TableSpec,
        extra: Sequence[tuple[str, ColumnType]],
        added: dict[str, ColumnType],
    ) -> None:
        """In the open transaction: add the extra columns the table lacks, widen those narrower than the load's values.

        ``added``: the extra columns' types as this transaction has made them, kept between calls.
        """
        name = self.table_name(spec)
        existing: dict[str, ColumnType | None] | None = None
        for column, kind in extra:
            have = added.get(column)
            if have is None:
                if existing is None:
                    existing = self.dialect.column_types(conn, cur, self.schema, name, self.hook.placeholder) or {}
                if column not in existing:
                    cur.execute(self.dialect.add_column(self.schema, name, column, kind))
                    added[column] = kind
                    log.info("%s: added column %s (%s)", name, column, kind.value)
                    continue
                have = existing[column]
            widened = self._widen(cur, name, column, have, kind)
            if widened is not None:
                added[column] = widened

    def _widen(self, cur: Any, table: str, column: str, have: ColumnType | None, kind: ColumnType) -> ColumnType | None:
        """Widen an extra column of type ``have`` to hold values of ``kind`` (see :func:`merge_types`); its type after.

        A column of a type the dialect does not write (``None``: changed by
        hand, or a generic database) is left as it is.
        """
        if have is None:
            return None
        target = merge_types(have, kind)
        if target is not have:
            for statement in self.dialect.widen_column(self.schema, table, column, have, target):
                cur.execute(statement)
            log.info("%s: column %s widened from %s to %s", table, column, have.value, target.value)
        return target

    def _destination(self, specs: Sequence[TableSpec]) -> Destination:
        """The types the tables' extra columns already have, which a load's extra types start from.

        Read from the catalog once, when the stager first meets an extra
        column (a load without one never connects for it). A dialect that
        cannot read types back (generic) makes every extra column TEXT.
        """
        if not self.dialect.reads_types:
            return lambda table, column: ColumnType.TEXT
        found: dict[str, dict[str, ColumnType | None]] = {}

        def destination(table: str, column: str) -> ColumnType | None:
            if not found:
                with closing(self.hook.get_conn()) as conn, closing(conn.cursor()) as cur:
                    self._prepare(conn, cur)
                    for spec in specs:
                        name = self.table_name(spec)
                        found[spec.name] = (
                            self.dialect.column_types(conn, cur, self.schema, name, self.hook.placeholder) or {}
                        )
                    conn.rollback()
            return found.get(table, {}).get(column)

        return destination

    def _write_rows(
        self,
        cur: Any,
        spec: TableSpec,
        columns: Sequence[tuple[str, ColumnType]],
        batches: Iterable[list[Row]],
    ) -> int:
        """One bulk write of ``batches`` (rows in ``columns`` order), adapted to the dialect."""
        dialect, name = self.dialect, self.table_name(spec)
        binary = _fast.ENABLED and dialect.copies_binary(cur, self.schema, name, columns)
        adapters: list[tuple[int, Adapter]] = [
            (i, fn)
            for i, (_, kind) in enumerate(columns)
            if (fn := (dialect.binary_adapters if binary else dialect.adapters).get(kind)) is not None
        ]
        rows = self._rows(batches, adapters, name, rare=binary)
        if binary:
            written = dialect.write_binary(cur, self.schema, name, columns, rows)
        else:
            names = [c for c, _ in columns]
            written = dialect.write_batches(cur, self.schema, name, names, rows, self.hook.placeholder)
        log.info("%s: %d rows written", name, written)
        return written

    def _log_results(self, results: Mapping[str, ReplaceResult]) -> None:
        for table, result in results.items():
            for day, inserted in result.inserted.items():
                deleted = (result.deleted or {}).get(day, 0)
                log.info("%s %s: deleted %d rows, inserted %d", table, day, deleted, inserted)

    def _rows(
        self,
        rows: Iterable[list[Row]],
        adapters: Sequence[tuple[int, Adapter]],
        name: str,
        rare: bool = False,
    ) -> Iterator[Sequence[Sequence[Any]]]:
        """The staged rows, adapted (:func:`.sql_dialects.adapt_rows`), in batches of ``batch_size``.

        ``rare``: the adapters change few values (binary COPY's NUL replacements): a batch's
        column that holds none of what they replace is left as it is (:func:`.adapters.adapt_rare`).
        """
        adapt: Callable[..., Sequence[Sequence[Any]]] = fast_adapters.adapt_rows if _fast.ENABLED else adapt_rows
        if rare:
            adapt = fast_adapters.adapt_rare
        for batch in rebatch(rows, self.batch_size):
            log.debug("%s: a batch of %d rows", name, len(batch))
            yield adapt(batch, adapters) if adapters else batch

    def _ensure(self, conn: Any, cur: Any, spec: TableSpec, columns: Sequence[tuple[str, ColumnType]]) -> None:
        """Create the table, or add missing columns and widen extra ones; tolerate a concurrent load doing the same.

        Only extra columns widen: a value that does not fit a column of the spec
        never got this far (staging refuses it).
        """
        dialect, schema, placeholder = self.dialect, self.schema, self.hook.placeholder
        name = self.table_name(spec)
        existing = dialect.column_types(conn, cur, schema, name, placeholder)
        collation = dialect.table_collation(cur)
        if existing is None:
            index = spec.partition if tuple(spec.key[:2]) != spec.partition else None
            try:
                for statement in dialect.create_table(schema, name, columns, spec.key, index, collation):
                    cur.execute(statement)
                conn.commit()
                log.info("created table %s (%d columns)", name, len(columns))
                return
            except Exception:
                conn.rollback()
                existing = dialect.column_types(conn, cur, schema, name, placeholder)
                if existing is None:
                    raise
        for statement in dialect.upgrade_table(cur, schema, name, collation):
            log.warning(
                "%s: upgrading a table an earlier version created (once, it may take a while): %s", name, statement
            )
            cur.execute(statement)
            conn.commit()
        for column, kind in columns:
            if column not in existing or column not in spec.types:
                self._ensure_column(conn, cur, spec, column, kind, existing)
        conn.commit()

    def _ensure_column(
        self, conn: Any, cur: Any, spec: TableSpec, column: str, kind: ColumnType, existing: Mapping[str, Any]
    ) -> None:
        """Add ``column``, or widen it when it is an extra one, and commit.

        When that fails, a concurrent load may have done it first: the catalog
        is read again, and only what is still missing is tried once more.
        """
        dialect, schema, name = self.dialect, self.schema, self.table_name(spec)
        for attempt in (1, 2):
            try:
                if column not in existing:
                    cur.execute(dialect.add_column(schema, name, column, kind))
                    log.info("%s: added column %s (%s)", name, column, kind.value)
                elif column not in spec.types:
                    self._widen(cur, name, column, existing[column], kind)
                conn.commit()
                return
            except Exception:
                conn.rollback()
                existing = dialect.column_types(conn, cur, schema, name, self.hook.placeholder) or {}
                if attempt == 2 or column not in existing:
                    raise


def _merged_columns(
    columns: Sequence[tuple[str, ColumnType]], more: Mapping[str, ColumnType]
) -> list[tuple[str, ColumnType]]:
    """``columns`` then the columns of ``more`` they lack; a column in both gets the type that holds both."""
    out = dict(columns)
    for name, kind in more.items():
        out[name] = merge_types(out[name], kind) if name in out else kind
    return list(out.items())
