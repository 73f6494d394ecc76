"""Coverage: which days of each dataset a destination holds, and which missing ones retention will take.

It reads what the sinks wrote, never the API. A day's evidence, per table of
the dataset (see ``docs/coverage.md`` for the rules and why):

* the load ledger (:mod:`.sinks.ledger`) has the day and the table holds the
  rows it recorded: **loaded** (a ledger row of 0 and no rows: a quiet day);
* the ledger has the day but the table holds other rows than it recorded
  (rows deleted after the load): **missing**, evidence ``altered``; the ledger
  and the data are written in one transaction, so only a change behind the
  loads' back disagrees;
* no ledger row but rows (a destination loaded before the ledger existed):
  **loaded**, evidence ``rows``, when last loaded being the rows' latest ``loaded_at``;
* neither: **missing**.

A missing compliance day is still held by the API until
:func:`~.windows.retention_expiry`: ``EXPIRING`` within ``margin`` of it,
``LOST`` after it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow_provider_codex.api.endpoints import COMPLIANCE_RETENTION_DAYS
from airflow_provider_codex.datasets import DATASETS, Dataset, Source, get_dataset
from airflow_provider_codex.sinks import SqlSink, StorageSink
from airflow_provider_codex.sinks._objects import hidden
from airflow_provider_codex.sinks.ledger import LEDGER, as_date, as_utc, read_ledger
from airflow_provider_codex.tables import TableSpec
from airflow_provider_codex.windows import ONE_DAY, retention_expiry

#: How close to its expiry a missing compliance day turns ``EXPIRING``.
DEFAULT_MARGIN = timedelta(days=7)
#: The longest range one report covers (ten years of days).
MAX_DAYS = 3660


class DayStatus(enum.StrEnum):
    """What a destination holds of one day of one dataset."""

    LOADED = "loaded"
    #: Not in the destination; a load can still fetch it (or: no retention applies).
    MISSING = "missing"
    #: Not in the destination, still held by the API, but within the margin of its expiry.
    EXPIRING = "expiring"
    #: Not in the destination and past the API's retention: it can never be loaded.
    LOST = "lost"


class Evidence(enum.StrEnum):
    """What a day's status rests on."""

    LEDGER = "ledger"  # the load ledger, and the rows agree with it
    ROWS = "rows"  # rows without a ledger row: loaded before the ledger existed
    ALTERED = "altered"  # a ledger row whose rows are no longer there as recorded
    PARTITION = "partition"  # object storage: the day's file of every table (empty for a quiet day)
    NONE = "none"  # nothing: never loaded (or ledger row and rows both removed)


@dataclass(frozen=True)
class DayCoverage:
    """One day of one dataset. ``rows``: what its first table holds now (``None`` when never loaded).

    ``expires_at`` (compliance datasets only): the last moment the API holds
    the day whole; ``None`` where no retention applies.
    """

    day: date
    status: DayStatus
    last_loaded_at: datetime | None
    rows: int | None
    expires_at: datetime | None = None
    evidence: Evidence = Evidence.NONE

    @property
    def missing(self) -> bool:
        return self.status is not DayStatus.LOADED

    def time_left(self, now: datetime) -> timedelta | None:
        """How long the API still holds the day (negative once lost); ``None`` without retention."""
        return None if self.expires_at is None else self.expires_at - now

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "status": self.status.value,
            "last_loaded_at": _iso(self.last_loaded_at),
            "rows": self.rows,
            "expires_at": _iso(self.expires_at),
            "evidence": self.evidence.value,
        }


@dataclass(frozen=True)
class DatasetCoverage:
    """Every day of the report's range for one dataset, in order."""

    dataset: str
    source: Source
    days: tuple[DayCoverage, ...]

    def with_status(self, *statuses: DayStatus) -> tuple[DayCoverage, ...]:
        return tuple(d for d in self.days if d.status in statuses)

    @property
    def missing(self) -> tuple[DayCoverage, ...]:
        """The days not loaded, whatever their retention (``MISSING``, ``EXPIRING``, ``LOST``)."""
        return tuple(d for d in self.days if d.missing)

    @property
    def loaded(self) -> tuple[DayCoverage, ...]:
        return self.with_status(DayStatus.LOADED)

    @property
    def last_loaded_at(self) -> datetime | None:
        times = [d.last_loaded_at for d in self.days if d.last_loaded_at is not None]
        return max(times) if times else None

    def to_json(self) -> dict[str, Any]:
        counts = {s.value: len(self.with_status(s)) for s in DayStatus}
        return {
            "dataset": self.dataset,
            "source": self.source.value,
            "counts": counts,
            "last_loaded_at": _iso(self.last_loaded_at),
            "days": [d.to_json() for d in self.days],
        }


@dataclass(frozen=True)
class Coverage:
    """A workspace's coverage of ``[first, last]`` (both included), as of ``generated_at``."""

    workspace_id: str
    first: date
    last: date
    generated_at: datetime
    datasets: tuple[DatasetCoverage, ...]
    margin: timedelta = DEFAULT_MARGIN
    retention_days: int = COMPLIANCE_RETENTION_DAYS

    def dataset(self, name: str) -> DatasetCoverage:
        for found in self.datasets:
            if found.dataset == name:
                return found
        raise KeyError(f"the coverage report has no dataset {name!r}; it has {[d.dataset for d in self.datasets]}")

    def days_with(self, *statuses: DayStatus, dataset: str | None = None) -> dict[str, tuple[date, ...]]:
        """Per dataset (only those with some), the days of ``statuses``."""
        chosen = [self.dataset(dataset)] if dataset is not None else self.datasets
        found = {d.dataset: tuple(day.day for day in d.with_status(*statuses)) for d in chosen}
        return {name: days for name, days in found.items() if days}

    def missing(self, dataset: str | None = None) -> dict[str, tuple[date, ...]]:
        """Per dataset, the days not loaded (``MISSING``, ``EXPIRING`` and ``LOST``)."""
        return self.days_with(DayStatus.MISSING, DayStatus.EXPIRING, DayStatus.LOST, dataset=dataset)

    def expiring(self, dataset: str | None = None) -> dict[str, tuple[date, ...]]:
        return self.days_with(DayStatus.EXPIRING, dataset=dataset)

    def lost(self, dataset: str | None = None) -> dict[str, tuple[date, ...]]:
        return self.days_with(DayStatus.LOST, dataset=dataset)

    def summary(self) -> str:
        """One line per dataset: days loaded of the range, and the days missing by status."""
        lines = [
            f"coverage of workspace {self.workspace_id}, {self.first} to {self.last}, at {_iso(self.generated_at)}"
        ]
        for d in self.datasets:
            parts = [f"{len(d.loaded)}/{len(d.days)} days loaded"]
            for status in (DayStatus.EXPIRING, DayStatus.LOST, DayStatus.MISSING):
                days = d.with_status(status)
                if days:
                    parts.append(f"{status.value}: {format_days(x.day for x in days)}")
            lines.append(f"  {d.dataset}: " + "; ".join(parts))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (ISO dates and times, status names), for XCom, an API or a page."""
        return {
            "workspace_id": self.workspace_id,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "generated_at": _iso(self.generated_at),
            "margin_seconds": int(self.margin.total_seconds()),
            "retention_days": self.retention_days,
            "datasets": [d.to_json() for d in self.datasets],
        }


# -- the status of a day (pure: the arithmetic the guard relies on) ------------------------


def day_status(
    day: date, loaded: bool, now: datetime, *, retained: bool, margin: timedelta = DEFAULT_MARGIN
) -> tuple[DayStatus, datetime | None]:
    """A day's status and expiry; ``retained``: the dataset is kept only for the API's retention.

    Held while ``now <= expires_at`` (:func:`~.windows.retention_expiry`, as a
    load's retention check sees it); ``EXPIRING`` from ``expires_at - margin``
    on, included.
    """
    if margin < timedelta(0):
        raise ValueError(f"margin must not be negative, got {margin}")
    expires_at = retention_expiry(day) if retained else None
    if loaded:
        return DayStatus.LOADED, expires_at
    if expires_at is None:
        return DayStatus.MISSING, None
    now = now.astimezone(UTC)
    if now > expires_at:
        return DayStatus.LOST, expires_at
    if expires_at - now <= margin:
        return DayStatus.EXPIRING, expires_at
    return DayStatus.MISSING, expires_at


def is_retained(dataset: Dataset) -> bool:
    """Whether the dataset's history lasts only the API's retention (the compliance logs)."""
    return dataset.source is Source.COMPLIANCE_LOGS


# -- reading a SQL destination ----------------------------------------------------------------


@dataclass(frozen=True)
class _TableDay:
    ledger_rows: int | None = None  # None: no ledger row
    ledger_at: datetime | None = None
    rows: int = 0
    rows_at: datetime | None = None


def read_coverage(
    sink: SqlSink,
    workspace_id: str,
    first: date,
    last: date,
    *,
    now: datetime,
    datasets: Sequence[str] | None = None,
    margin: timedelta = DEFAULT_MARGIN,
) -> Coverage:
    """The coverage of ``[first, last]`` in a SQL destination (see the module docstring for the evidence).

    ``datasets``: names from :data:`~.datasets.DATASETS` (default all of them).
    One query on the ledger, one per table of the datasets; read-only.
    """
    days, chosen = _days(first, last, now), _chosen(workspace_id, datasets)
    specs = {spec.name: spec for d in chosen for spec in d.tables}
    ledger = read_ledger(sink, workspace_id, first, last, set(specs))
    data = {name: _read_rows(sink, spec, workspace_id, first, last) for name, spec in specs.items()}

    def table_day(table: str, day: date) -> _TableDay:
        (ledger_rows, ledger_at), (rows, rows_at) = (
            ledger.get((table, day), (None, None)),
            data[table].get(day, (0, None)),
        )
        return _TableDay(ledger_rows, ledger_at, rows, rows_at)

    out = []
    for dataset in chosen:
        per_table = [{day: table_day(spec.name, day) for day in days} for spec in dataset.tables]
        out.append(
            DatasetCoverage(
                dataset.name,
                dataset.source,
                tuple(_day(day, [t[day] for t in per_table], now, is_retained(dataset), margin) for day in days),
            )
        )
    return Coverage(workspace_id, first, last, now.astimezone(UTC), tuple(out), margin)


def _chosen(workspace_id: str, datasets: Sequence[str] | None) -> list[Dataset]:
    """The datasets a coverage report covers (default all), for a workspace id that is one."""
    if not isinstance(workspace_id, str) or not workspace_id:
        raise ValueError("workspace_id must be a non-empty string")
    return [get_dataset(n) for n in (datasets if datasets is not None else list(DATASETS))]


def _day(day: date, tables: Sequence[_TableDay], now: datetime, retained: bool, margin: timedelta) -> DayCoverage:
    """One dataset's day from what each of its tables holds (the first table's rows are the day's)."""
    recorded = [t for t in tables if t.ledger_rows is not None]
    if any(t.rows != t.ledger_rows for t in recorded):
        evidence = Evidence.ALTERED
    elif recorded:
        evidence = Evidence.LEDGER
    elif any(t.rows for t in tables):
        evidence = Evidence.ROWS
    else:
        evidence = Evidence.NONE
    loaded = evidence in (Evidence.LEDGER, Evidence.ROWS)
    status, expires_at = day_status(day, loaded, now, retained=retained, margin=margin)
    times = [t.ledger_at for t in recorded] if evidence is Evidence.LEDGER else [t.rows_at for t in tables]
    known = [t for t in times if t is not None]
    main = tables[0]
    rows = main.rows if evidence is not Evidence.NONE else None
    return DayCoverage(day, status, max(known) if known else None, rows, expires_at, evidence)


def _read_rows(
    sink: SqlSink, spec: TableSpec, workspace_id: str, first: date, last: date
) -> dict[date, tuple[int, datetime | None]]:
    """Per day, the rows ``spec``'s table holds and their latest ``loaded_at`` (nothing: no table)."""
    if not sink.has_table(spec):
        return {}
    q, p = sink.dialect.quote, sink.placeholder
    workspace, day = spec.partition
    latest = f"MAX({q('loaded_at')})" if "loaded_at" in spec.types else "NULL"
    sql = (
        f"SELECT {q(day)}, COUNT(*), {latest} FROM {sink.qualified_name(spec)} "  # noqa: S608
        f"WHERE {q(workspace)} = {p} AND {q(day)} >= {p} AND {q(day)} <= {p} GROUP BY {q(day)}"
    )
    rows = sink.query(sql, [workspace_id, sink.sql_day(first), sink.sql_day(last)])
    return {as_date(d): (int(n), as_utc(at)) for d, n, at in rows}


def read_storage_coverage(
    sink: StorageSink,
    workspace_id: str,
    first: date,
    last: date,
    *,
    now: datetime,
    datasets: Sequence[str] | None = None,
    margin: timedelta = DEFAULT_MARGIN,
) -> Coverage:
    """The coverage of ``[first, last]`` under a storage sink's base: the same report as :func:`read_coverage`.

    The storage sink writes each table's day as one file, replaced whole, an
    empty one for a quiet day: that file is the day's record. A day is loaded
    when every table of the dataset has its file (evidence ``partition``);
    ``last_loaded_at`` is the latest file's modification time where the store
    reports one; ``rows`` is ``None`` (counting would read every file). One
    listing per table.
    """
    days, chosen = _days(first, last, now), _chosen(workspace_id, datasets)
    out = []
    for dataset in chosen:
        held = [_partitions(sink, spec, workspace_id, first, last) for spec in dataset.tables]
        rows = []
        for day in days:
            loaded = all(day in table for table in held)
            status, expires_at = day_status(day, loaded, now, retained=is_retained(dataset), margin=margin)
            times = [t for table in held if (t := table.get(day)) is not None] if loaded else []
            evidence = Evidence.PARTITION if loaded else Evidence.NONE
            rows.append(DayCoverage(day, status, max(times) if times else None, None, expires_at, evidence))
        out.append(DatasetCoverage(dataset.name, dataset.source, tuple(rows)))
    return Coverage(workspace_id, first, last, now.astimezone(UTC), tuple(out), margin)


def _partitions(
    sink: StorageSink, spec: TableSpec, workspace_id: str, first: date, last: date
) -> dict[date, datetime | None]:
    """The days of ``[first, last]`` whose folder holds a visible data file, and its modification time."""
    folder = sink.partition_path(spec, workspace_id, first).parent
    if not folder.exists():
        return {}
    prefix = f"{spec.day_column}="
    found: dict[date, datetime | None] = {}
    for day_folder in folder.iterdir():
        name = day_folder.name
        if not name.startswith(prefix):
            continue
        try:
            day = date.fromisoformat(name.removeprefix(prefix))
        except ValueError:
            continue  # not a folder the sink wrote
        if not first <= day <= last:
            continue
        files = [p for p in day_folder.iterdir() if p.name.startswith("part-") and not hidden(p.name)]
        if files:
            found[day] = max((_modified(p) for p in files), key=lambda t: t or datetime.min.replace(tzinfo=UTC))
    return found


def _modified(path: Any) -> datetime | None:
    """When the store says ``path`` was last written (local: ``mtime``; S3: ``LastModified``), else ``None``."""
    try:
        info = path.fs.info(path.path)
    except Exception:  # a store that cannot say: no time, the day still counts
        return None
    value = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("updated")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        with suppress(ValueError):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return as_utc(value) if isinstance(value, datetime) else None


def first_loaded_day(sink: SqlSink, workspace_id: str, dataset: str) -> date | None:
    """The first day the destination holds of ``dataset`` (ledger or rows): the day its loads began."""
    found: list[date] = []
    names = [spec.name for spec in get_dataset(dataset).tables]
    q, p = sink.dialect.quote, sink.placeholder
    if sink.has_table(LEDGER):
        marks = ", ".join([p] * len(names))
        sql = (
            f"SELECT MIN({q('day')}) FROM {sink.qualified_name(LEDGER)} "  # noqa: S608
            f"WHERE {q('workspace_id')} = {p} AND {q('table_name')} IN ({marks})"
        )
        found += [as_date(d) for (d,) in sink.query(sql, [workspace_id, *names]) if d is not None]
    for spec in get_dataset(dataset).tables:
        if sink.has_table(spec):
            workspace, day = spec.partition
            sql = f"SELECT MIN({q(day)}) FROM {sink.qualified_name(spec)} WHERE {q(workspace)} = {p}"  # noqa: S608
            found += [as_date(d) for (d,) in sink.query(sql, [workspace_id]) if d is not None]
    return min(found) if found else None


# -- small helpers ------------------------------------------------------------------------------


def _days(first: date, last: date, now: datetime) -> list[date]:
    """The report's days; refuses what would compare wrongly (a ``now`` without a time zone)."""
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime (e.g. pendulum.now('UTC'))")
    if not isinstance(first, date) or not isinstance(last, date):
        raise TypeError("first and last must be dates")
    first, last = _plain(first), _plain(last)
    if last < first:
        raise ValueError(f"the coverage range ends ({last}) before it starts ({first})")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"the coverage range {first} to {last} is {count} days; ask for {MAX_DAYS} at most")
    return [first + timedelta(days=i) for i in range(count)]


def _plain(day: date) -> date:
    return day.date() if isinstance(day, datetime) else day


def format_days(days: Iterable[date]) -> str:
    """Days as runs: ``2026-11-02..2026-11-04, 2026-11-09``."""
    return ", ".join(a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}" for a, b in day_runs(days))


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days, each ``(first, last)``."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + ONE_DAY == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


__all__ = [
    "DEFAULT_MARGIN",
    "Coverage",
    "DatasetCoverage",
    "DayCoverage",
    "DayStatus",
    "Evidence",
    "day_runs",
    "day_status",
    "first_loaded_day",
    "format_days",
    "read_coverage",
    "read_storage_coverage",
]
