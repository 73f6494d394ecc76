"""Stage a load on local disk before any sink writes it.

Both sinks replace whole partitions (a workspace's day of a table) and both
need the same things from the record stream first:

- every record checked to belong to the tables, workspace and days being
  replaced (a record outside them would survive the replace and duplicate
  later), and its extra keys checked to be valid column names;
- every value checked to fit its column's type (:func:`.schema.first_misfit`,
  a column of a batch at a time): a database would refuse it, round it or
  store it as it came, each its own way; here it is one
  :class:`~.schema.ColumnValueError` before anything is written, for all sinks;
- the types of extra columns (fields a newer API version brings), known
  *before* the write starts: a SQL table needs its columns added, a Parquet
  file its schema, and neither can change halfway. They start from the type
  the destination already has for the column (``destination``), so a value
  wider than an earlier load's widens it (integer, float, text: see
  :func:`.schema.merge_types`) instead of failing or being truncated;
- duplicates of a ``deduplicate`` table's key dropped (the first copy wins);
- counts per day.

So the records are consumed once, streaming, in one of two ways:

- :func:`stage` spools them: pickled batches of rows (values in the table's
  column order: tuples pickle quicker than dicts) in one anonymous temporary
  file, kept apart per (table, day), read back once the stream has ended.
  An error in the record iterator (the API failing mid-window) surfaces
  before any transaction or object write begins, and the lock a SQL sink
  takes is held only for the write itself, not while the API is paged;
- :func:`stream` hands each flushed batch, widened to the columns known so
  far, to a callback at once: for a database that stores rows in its own
  process (PostgreSQL) while this one goes on parsing, inside a transaction
  that an error rolls back.

Memory holds at most ``buffer_rows`` records either way. A record's row
(:func:`row_reference`) and a batch's type check (:func:`.schema.first_misfit`)
run their fast versions (:mod:`airflow_provider_codex._fast`) unless the switch
says otherwise.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import compress
from typing import IO, Any, TypeVar

from airflow_provider_codex import _fast
from airflow_provider_codex._fast import checks as fast_checks
from airflow_provider_codex._fast.rows import row_reader
from airflow_provider_codex.sinks.base import ReplaceResult
from airflow_provider_codex.tables import schema
from airflow_provider_codex.tables._rows import text_or_json
from airflow_provider_codex.tables.columnar import ColumnBatch, TaggedItem
from airflow_provider_codex.tables.schema import (
    ColumnType,
    Record,
    TableSpec,
    fits,
    infer_type,
    merge_types,
    misfit_error,
    validate_identifier,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_BUFFER_ROWS = 20_000
#: Key digests of a deduplicated table held in memory before they go to local disk: a busy day of
#: compliance events (half a million) stays in memory; a million digests take 78 MiB.
DEFAULT_MEMORY_KEYS = 1_000_000
#: The page cache of the on-disk key set (KiB): digests are random, so hits need the B-tree cached.
KEY_CACHE_KIB = 16 * 1024


#: A staged row: the spec's column values in order, then (only when the record had
#: fields beyond the spec's columns) one dict of those fields.
Row = tuple[Any, ...]

#: ``read(record) -> (row, only_columns)``: the record's values in its table's column order (null
#: for a column it lacks), and whether it holds no field beyond those columns.
RowReader = Callable[[Record], tuple[Row, bool]]


def row_reference(columns: tuple[str, ...]) -> RowReader:
    """How a record becomes a staged row, column by column (:mod:`airflow_provider_codex._fast.rows` is faster)."""
    known = frozenset(columns)

    def read(record: Record) -> tuple[Row, bool]:
        return tuple(map(record.get, columns)), known.issuperset(record)

    return read


#: The type the destination already has for an extra column of a table: ``(table, column)`` -> type,
#: ``None`` when it has no such column (or cannot say).
Destination = Callable[[str, str], ColumnType | None]

#: Extra columns of these types hold text: a value of a narrower type that joined them is written as
#: its JSON text (``1``, ``2.5``, ``true``), the same in every database.
_TEXTUAL = frozenset((ColumnType.TEXT, ColumnType.JSON))


class _Spool:
    """Pickled row batches in one temporary file, read back per key."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="codex-spool-")  # noqa: SIM115 - closed in close()
        self._chunks: dict[tuple[str, date], list[tuple[int, int]]] = {}

    def write(self, key: tuple[str, date], batch: list[Row]) -> None:
        data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        offset = self._file.seek(0, 2)
        self._file.write(data)
        self._chunks.setdefault(key, []).append((offset, len(data)))

    def read(self, key: tuple[str, date]) -> Iterator[list[Row]]:
        for offset, size in self._chunks.get(key, ()):
            self._file.seek(offset)
            # Our own file, written above in this process: not untrusted input.
            yield pickle.loads(self._file.read(size))  # noqa: S301

    def close(self) -> None:
        self._file.close()


class _KeySet:
    """The key digests a deduplicated table has seen: in memory up to ``memory_keys``, then on disk.

    A day of compliance events is hundreds of thousands of keys, and a load ten
    times larger holds ten times as many: past the threshold the digests move to a
    temporary SQLite B-tree (the standard library's; its page cache stays small)
    and each new one is an ``INSERT OR IGNORE`` there, so memory stays flat.
    """

    def __init__(self, memory_keys: int = DEFAULT_MEMORY_KEYS) -> None:
        self._memory: set[bytes] = set()
        self._limit = max(1, memory_keys)
        self._db: sqlite3.Connection | None = None
        self._path: str | None = None

    def add(self, digest: bytes) -> bool:
        """Remember ``digest``; ``False`` when it was seen before."""
        if self._db is not None:
            return self._db.execute("INSERT OR IGNORE INTO k VALUES (?)", (digest,)).rowcount == 1
        if digest in self._memory:
            return False
        self._memory.add(digest)
        if len(self._memory) >= self._limit:
            self._spill()
        return True

    def add_many(self, digests: Sequence[bytes]) -> list[bool]:
        """:meth:`add` of each digest in turn, in a few statements once on disk (a batch's keys at a time)."""
        out: list[bool] = []
        memory, add = self._memory, self.add
        for i, digest in enumerate(digests):
            if self._db is not None:
                return out + self._add_on_disk(digests[i:])
            if digest in memory:
                out.append(False)
            else:
                out.append(add(digest))
        return out

    def _add_on_disk(self, digests: Sequence[bytes]) -> list[bool]:
        """In SQLite's C: the batch's first copies of keys not seen before, remembered; ``False`` for the others."""
        db = self._db
        assert db is not None
        db.execute("DELETE FROM b")
        db.executemany("INSERT INTO b VALUES (?, ?)", enumerate(digests))
        new = {i for (i,) in db.execute("SELECT min(i) FROM b WHERE key NOT IN (SELECT key FROM k) GROUP BY key")}
        db.execute("INSERT OR IGNORE INTO k SELECT key FROM b")
        return [i in new for i in range(len(digests))]

    def _spill(self) -> None:
        fd, self._path = tempfile.mkstemp(prefix="codex-keys-", suffix=".sqlite")
        os.close(fd)
        db = sqlite3.connect(self._path, isolation_level=None)
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute(f"PRAGMA cache_size = -{KEY_CACHE_KIB}")
        db.execute("CREATE TABLE k (key BLOB PRIMARY KEY) WITHOUT ROWID")
        db.execute("CREATE TABLE b (i INTEGER PRIMARY KEY, key BLOB)")  # a batch's keys (add_many)
        db.execute("BEGIN")
        db.executemany("INSERT INTO k VALUES (?)", ((d,) for d in self._memory))
        self._memory = set()
        self._db = db
        log.info("deduplication: more than %d keys, continuing on disk", self._limit)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._path is not None:
            os.unlink(self._path)
            self._path = None


@dataclass
class StagedTable:
    """One table of a staged load: its days, counts, extra columns and spooled records."""

    spec: TableSpec
    days: tuple[date, ...]
    inserted: Counter[date] = field(default_factory=Counter)
    duplicates: int = 0
    extra_types: dict[str, ColumnType] = field(default_factory=dict)
    _spool: _Spool | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def columns(self) -> list[tuple[str, ColumnType]]:
        """The spec's columns, then the extra columns in the order they appeared."""
        return [(c.name, c.type) for c in self.spec.columns] + list(self.extra_types.items())

    def rows(self, day: date) -> Iterator[list[Row]]:
        """The day's rows, values in :attr:`columns` order, in spooled batches (sizes vary; sinks re-batch)."""
        if self._spool is None:
            raise RuntimeError(f"{self.name}: streamed, not spooled: its rows went to the stream's callback")
        for batch in self._spool.read((self.spec.name, day)):
            yield self.widen(batch)

    def widen(self, batch: list[Row]) -> list[Row]:
        """Staged rows with a value for every column of :attr:`columns` (as known now).

        Rows staged before a new column showed up lack it (null); a record's
        extra fields fill theirs, as text in a column that holds text (its type
        merged from several, or the destination's).
        """
        if not self.extra_types:  # no extra column: no row carries extra fields (see _Stager._extras)
            return batch
        width, extra = len(self.spec.columns), list(self.extra_types)
        textual = [i for i, column in enumerate(extra) if self.extra_types[column] in _TEXTUAL]
        out = []
        for row in batch:
            fields = row[width] if len(row) > width else {}
            values = [fields.get(column) for column in extra]
            for i in textual:
                values[i] = text_or_json(values[i])
            out.append(row[:width] + tuple(values))
        return out

    def records(self, day: date) -> Iterator[list[Record]]:
        """The day's records (column name to value, every column present), in batches."""
        names = [name for name, _ in self.columns]
        for batch in self.rows(day):
            yield [dict(zip(names, row, strict=True)) for row in batch]

    def result(self, deleted: dict[date, int] | None = None) -> ReplaceResult:
        return ReplaceResult(
            table=self.spec.name,
            inserted={d: self.inserted[d] for d in self.days},
            deleted=deleted,
            duplicates_skipped=self.duplicates,
        )


def _key_digest(key: tuple[Any, ...]) -> bytes:
    """The 12-byte digest a deduplicated table's key is remembered by."""
    return hashlib.blake2b(repr(key).encode(), digest_size=12).digest()


def _row_reader(columns: tuple[str, ...]) -> RowReader:
    reference = row_reference(columns)
    return row_reader(columns, reference) if _fast.ENABLED else reference


def check_days(days: Iterable[date]) -> tuple[date, ...]:
    """Sorted distinct days; a ``datetime`` is refused (it would never equal a record's date)."""
    out = set()
    for day in days:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"days must be datetime.date values, got {type(day).__name__}")
        out.add(day)
    return tuple(sorted(out))


#: Where :func:`stream` sends a table's flushed rows (widened to its columns as known then).
Emit = Callable[[StagedTable, list[Row]], None]


class _Stager:
    """The single pass over the records; see the module docstring."""

    def __init__(
        self,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: tuple[date, ...],
        buffer_rows: int,
        memory_keys: int = DEFAULT_MEMORY_KEYS,
        emit: Emit | None = None,
        destination: Destination | None = None,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"a table is named twice in one load: {names}")
        self.emit = emit
        self.spool = _Spool() if emit is None else None
        self.tables = {s.name: StagedTable(s, days, _spool=self.spool) for s in specs}
        self.workspace_id = workspace_id
        self.day_set = frozenset(days)
        self.buffer_rows = max(1, buffer_rows)
        self._buffers: dict[tuple[str, date], list[Row]] = {}
        #: Rows of column batches, checked already, until the next flush joins them to ``_buffers``.
        self._ready: dict[tuple[str, date], list[Row]] = {}
        self._partition = {s.name: tuple(s.column_names.index(c) for c in s.partition) for s in specs}
        self._buffered = 0
        # Keys seen, as 12-byte digests: a day of compliance events holds hundreds of thousands
        # of keys, and a digest costs a third of the memory of the key's strings; past
        # ``memory_keys`` they go to disk (_KeySet).
        self._seen: dict[str, _KeySet] = {s.name: _KeySet(memory_keys) for s in specs if s.deduplicate}
        self._known = {s.name: frozenset(s.column_names) for s in specs}
        self._readers = {s.name: _row_reader(tuple(s.column_names)) for s in specs}
        self._first_misfit = fast_checks.first_misfit if _fast.ENABLED else schema.first_misfit
        self._destination = destination
        # The columns whose values a batch checks: all but the partition's, which run() checks per record.
        self._checked = {
            s.name: [(i, c.name, c.type) for i, c in enumerate(s.columns) if c.name not in s.partition] for s in specs
        }

    def run(self, tagged: Iterable[TaggedItem]) -> None:
        tables, readers, seen, buffers = self.tables, self._readers, self._seen, self._buffers
        workspace_id, day_set = self.workspace_id, self.day_set
        for name, record in tagged:
            table = tables.get(name)
            if table is None:
                raise ValueError(f"a record for table {name!r}, which this load does not replace")
            if isinstance(record, ColumnBatch):
                self._take_batch(table, record)
                continue
            spec = table.spec
            if record.get(spec.workspace_column) != workspace_id:
                raise ValueError(f"{name}: a record of another workspace than {workspace_id!r}")
            day = record.get(spec.day_column)
            if day not in day_set:
                raise ValueError(f"{name}: a record of day {day!r}, outside the days being replaced")
            keys = seen.get(name)
            if keys is not None and not keys.add(_key_digest(tuple(map(record.get, spec.key)))):
                table.duplicates += 1
                continue
            row, only_columns = readers[name](record)
            if not only_columns and (extras := self._extras(table, record)):
                row += (extras,)
            table.inserted[day] += 1
            buffer = buffers.get((name, day))
            if buffer is None:
                buffer = buffers[(name, day)] = []
            buffer.append(row)
            self._buffered += 1
            if self._buffered >= self.buffer_rows:
                self.flush()
        self.flush()
        for table in tables.values():
            if table.duplicates:
                log.info("%s: dropped %d duplicate records", table.name, table.duplicates)

    def _take_batch(self, table: StagedTable, batch: ColumnBatch) -> None:
        """A column batch (:mod:`..tables.columnar`): the checks of :meth:`run` and :meth:`check`, a column at a time.

        Its rows are checked here, once deduplicated as records are, and wait
        in their own buffer for the next flush, which does not check them again.
        """
        spec, columns = table.spec, batch.columns
        if len(columns) != len(spec.columns) or not columns[0]:
            if columns and not columns[0]:
                return
            raise ValueError(f"{spec.name}: a column batch of {len(columns)} columns, not {len(spec.columns)}")
        workspace, days = columns[self._partition[spec.name][0]], columns[self._partition[spec.name][1]]
        if set(workspace) != {self.workspace_id}:
            raise ValueError(f"{spec.name}: a record of another workspace than {self.workspace_id!r}")
        distinct = set(days)
        if not distinct <= self.day_set:
            day = next(d for d in days if d not in self.day_set)
            raise ValueError(f"{spec.name}: a record of day {day!r}, outside the days being replaced")
        keys = self._seen.get(spec.name)
        if keys is not None:
            key_columns = [columns[spec.column_names.index(c)] for c in spec.key]
            keep = keys.add_many([_key_digest(key) for key in zip(*key_columns, strict=True)])
            if not all(keep):
                table.duplicates += keep.count(False)
                columns = tuple(list(compress(c, keep)) for c in columns)
                days = columns[self._partition[spec.name][1]]
                if not days:
                    return
        for index, name, kind in self._checked[spec.name]:
            bad = self._first_misfit(kind, columns[index])
            if bad is not None:
                key = {column: columns[spec.column_names.index(column)][bad] for column in spec.key}
                raise misfit_error(spec.name, name, kind, columns[index][bad], key)
        rows = list(zip(*columns, strict=True))
        table.inserted.update(days)
        ready = self._ready
        if len(distinct) == 1:
            ready.setdefault((spec.name, days[0]), []).extend(rows)
        else:
            for row, day in zip(rows, days, strict=True):
                buffer = ready.get((spec.name, day))
                if buffer is None:
                    buffer = ready[(spec.name, day)] = []
                buffer.append(row)
        self._buffered += len(rows)
        if self._buffered >= self.buffer_rows:
            self.flush()

    def _extras(self, table: StagedTable, record: Record) -> Record:
        """The record's non-null fields beyond its spec's columns; their types merged into the table's.

        A null field adds no column (one is added once a value shows up; until then null
        is implied), so a row carries extras only once :attr:`StagedTable.extra_types` has some.
        """
        known = self._known[table.name]
        extras = {column: value for column, value in record.items() if column not in known and value is not None}
        types = table.extra_types
        for column, value in extras.items():
            kind = infer_type(value)
            assert kind is not None  # only None has no type
            if kind is ColumnType.FLOAT and not fits(kind, value):  # not finite: no type holds it
                raise misfit_error(table.name, column, kind, value, self._key(table.spec, record))
            previous = types.get(column)
            if previous is None:
                validate_identifier(column, f"column name in a {table.name} record")
                previous = self._destination(table.name, column) if self._destination else None
            types[column] = kind if previous is None else merge_types(previous, kind)
        return extras

    @staticmethod
    def _key(spec: TableSpec, record: Record) -> dict[str, Any]:
        return {column: record.get(column) for column in spec.key}

    def check(self, table: StagedTable, batch: list[Row]) -> None:
        """Refuse a batch holding a value that does not fit its column (see :func:`.schema.first_misfit`)."""
        columns = list(zip(*batch, strict=False))  # a row may carry its extra fields last: not checked here
        for index, name, kind in self._checked[table.name]:
            bad = self._first_misfit(kind, columns[index])
            if bad is not None:
                spec, row = table.spec, batch[bad]
                key = {column: row[spec.column_names.index(column)] for column in spec.key}
                raise misfit_error(spec.name, name, kind, row[index], key)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
        for keys in self._seen.values():
            keys.close()

    def flush(self) -> None:
        for (name, _), batch in self._buffers.items():
            if batch:
                self.check(self.tables[name], batch)
        for key, batch in self._ready.items():  # checked as they came (_take_batch)
            self._buffers.setdefault(key, []).extend(batch)
        self._ready.clear()
        if self.spool is not None:
            for key, batch in self._buffers.items():
                if batch:
                    self.spool.write(key, batch)
        else:  # one batch per table, all its days: a callback that writes keeps one bulk write open
            assert self.emit is not None
            per_table: dict[str, list[Row]] = {}
            for (name, _), batch in self._buffers.items():
                per_table.setdefault(name, []).extend(batch)
            for name, rows in per_table.items():
                if rows:
                    table = self.tables[name]
                    self.emit(table, table.widen(rows))
        self._buffers.clear()
        self._buffered = 0

    def consume(self, tagged: Iterable[TaggedItem]) -> list[StagedTable]:
        """The single pass over ``tagged``; the tables with their counts, logged."""
        self.run(tagged)
        for table in self.tables.values():
            log.info(
                "%s: staged %d records for %d day(s)%s",
                table.name,
                sum(table.inserted.values()),
                len(table.days),
                f", new columns {sorted(table.extra_types)}" if table.extra_types else "",
            )
        return list(self.tables.values())


@contextmanager
def stage(
    specs: Sequence[TableSpec],
    workspace_id: str,
    days: tuple[date, ...],
    tagged: Iterable[TaggedItem],
    *,
    buffer_rows: int = DEFAULT_BUFFER_ROWS,
    memory_keys: int = DEFAULT_MEMORY_KEYS,
    destination: Destination | None = None,
) -> Iterator[list[StagedTable]]:
    """Consume ``tagged`` into a spool; yield the staged tables; drop the spool after.

    ``memory_keys``: key digests of a deduplicated table kept in memory before they go to disk.
    ``destination``: the types the destination has for extra columns, which their types start from.
    """
    stager = _Stager(specs, workspace_id, days, buffer_rows, memory_keys, destination=destination)
    try:
        yield stager.consume(tagged)
    finally:
        stager.close()


def stream(
    specs: Sequence[TableSpec],
    workspace_id: str,
    days: tuple[date, ...],
    tagged: Iterable[TaggedItem],
    emit: Emit,
    *,
    buffer_rows: int = DEFAULT_BUFFER_ROWS,
    memory_keys: int = DEFAULT_MEMORY_KEYS,
    destination: Destination | None = None,
) -> list[StagedTable]:
    """Consume ``tagged`` with the checks of :func:`stage`, sending each flushed batch to ``emit``.

    Nothing is spooled: ``emit(table, rows)`` gets a table's rows (every day's,
    values in :attr:`StagedTable.columns` order as known at that moment) as
    soon as ``buffer_rows`` records are buffered, and once more at the end. An
    error (in ``tagged``, a check, or ``emit``) propagates after some batches
    were emitted: the caller writes them in a transaction it can roll back.
    Returns the tables with their counts, duplicates and extra columns.
    """
    stager = _Stager(specs, workspace_id, days, buffer_rows, memory_keys, emit=emit, destination=destination)
    try:
        return stager.consume(tagged)
    finally:
        stager.close()


def rebatch(batches: Iterable[list[T]], size: int) -> Iterator[list[T]]:
    """Batches of exactly ``size`` items (the last may be shorter) from batches of any size."""
    pending: list[T] = []
    for batch in batches:
        if not pending and len(batch) == size:
            yield batch
            continue
        pending.extend(batch)
        while len(pending) >= size:
            yield pending[:size]
            del pending[:size]
    if pending:
        yield pending
