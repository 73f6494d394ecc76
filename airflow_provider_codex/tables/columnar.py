"""The columnar flatteners: API rows -> column batches, from the same shapes (``Field`` paths) as the row path.

The row path (a dict per record, :meth:`.Shape.fill`) is the reference: what a
table holds is what it makes. Here a chunk of rows becomes, per table, one
:class:`ColumnBatch` (a list per column, in the spec's column order), each
column read in one pass over the chunk; rows rarely need a record of their
own, and those take the row path's very code, in the same stream:

- an object with a field its shape does not know (routed to an extra column
  or ``extra_json``), or a nested value that is not an object: :meth:`Shape.fill`;
- a row whose children repeat a key (added up): the row path's ``_children``;
- a bad ``start_time``: the row path's :func:`.row_day`, raising its error.

Nothing here checks a value against its column: the stager does, a batch's
column at a time, before anything is replaced (:mod:`..sinks._staging`), as
for records. A sink that takes batches says so (``TableSink.takes_columns``);
the loader hands the others the row path. ``tests/tables/test_columnar.py``
proves both paths give the same rows on every dataset and every shape the
sandbox and the hostile tests serve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Any, TypeAlias

from airflow_provider_codex import _fast
from airflow_provider_codex.tables import analytics, compliance
from airflow_provider_codex.tables._rows import EXTRA_JSON, FlattenContext, Shape, day_of_unix, key_text, row_day
from airflow_provider_codex.tables.schema import Record

#: API rows per chunk: a chunk's batches are what the stager buffers at once.
CHUNK_ROWS = 5_000


@dataclass(frozen=True, slots=True)
class ColumnBatch:
    """Records of one table as columns: ``columns[i]`` holds the spec's ``i``-th column, one value a record."""

    columns: tuple[list[Any], ...]

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def records(self, names: Sequence[str]) -> list[Record]:
        """The batch as records (column name -> value): what the row path would have made."""
        return [dict(zip(names, row, strict=True)) for row in zip(*self.columns, strict=True)]


#: What a columnar flattener yields: a table's name with a batch, or with one record (the row path's).
TaggedItem: TypeAlias = tuple[str, Record | ColumnBatch]
ColumnFlattener: TypeAlias = Callable[[Iterable[Mapping[str, Any]], FlattenContext], Iterator[TaggedItem]]

_EMPTY: Mapping[str, Any] = {}


def pick(rows: Callable[..., Iterator[Any]], columns: ColumnFlattener | None) -> Callable[..., Iterator[Any]]:
    """``columns`` when there is one and the fast paths are on (``CODEX_FAST_PATHS``), else the row flattener."""
    return columns if columns is not None and _fast.ENABLED else rows


class ShapeColumns:
    """A :class:`Shape`'s columns over many objects at once.

    Reads the shape's own field lists (the ones ``Shape.fill`` unrolls): one
    ``Field`` registry, two ways of reading it.
    """

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.spec = shape.spec
        self._top = shape._top
        self._nested = shape._nested
        self._known_top = shape._known_top
        self._known_nested = [(name, shape._known_nested[name]) for name, _ in shape._nested]

    def is_plain(self, obj: Any) -> bool:
        """Whether ``fill`` would find nothing to route in ``obj``: no unknown field, nested values objects or null."""
        if type(obj) is not dict or not self._known_top.issuperset(obj):
            return False
        for container, known in self._known_nested:
            sub = obj.get(container)
            if sub is not None and (type(sub) is not dict or not known.issuperset(sub)):
                return False
        return True

    def plain(self, objs: Sequence[Any]) -> list[bool] | None:
        """``None`` when every object :meth:`is_plain` (checked in C-speed passes), else a flag per object."""
        if set(map(type, objs)) <= {dict} and all(map(self._known_top.issuperset, objs)):
            for container, known in self._known_nested:
                subs = [o.get(container) for o in objs]
                if not set(map(type, subs)) <= {dict, type(None)} or not all(map(known.issuperset, filter(None, subs))):
                    break
            else:
                return None
        return [self.is_plain(o) for o in objs]

    def batch(self, base: Mapping[str, list[Any]], objs: Sequence[Mapping[str, Any]]) -> ColumnBatch:
        """The batch of plain ``objs``: ``base`` columns (workspace, day, ...) and the shape's, ``extra_json`` null."""
        n = len(objs)
        columns: dict[str, list[Any]] = dict(base)
        for column, name, is_key in self._top:
            columns[column] = _keyed([o.get(name) for o in objs]) if is_key else [o.get(name) for o in objs]
        for container, slots in self._nested:
            subs = [o.get(container) or _EMPTY for o in objs]
            for column, name, is_key in slots:
                columns[column] = _keyed([s.get(name) for s in subs]) if is_key else [s.get(name) for s in subs]
        columns[EXTRA_JSON] = [None] * n
        return ColumnBatch(tuple(columns[c] for c in self.spec.column_names))


def _keyed(values: list[Any]) -> list[Any]:
    """A key column's values as :func:`.key_text` makes them (null -> ``""``, others as text)."""
    return [v if type(v) is str else key_text(v) for v in values]


def chunks(rows: Iterable[Mapping[str, Any]], size: int = CHUNK_ROWS) -> Iterator[list[Mapping[str, Any]]]:
    """Lists of up to ``size`` rows (``itertools.batched`` is Python 3.12+)."""
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def row_days(rows: Sequence[Mapping[str, Any]]) -> list[date]:
    """Each row's UTC day of ``start_time``, as :func:`.row_day` gives it (and raises, for the first bad row)."""
    starts = [r.get("start_time") for r in rows]
    if set(map(type, starts)) <= {int, float}:
        try:
            day_of = {s: day_of_unix(s) for s in set(starts)}
            return [day_of[s] for s in starts]
        except (ValueError, KeyError):  # out of range or NaN: the row path names the first such row
            pass
    return [row_day(r) for r in rows]


def wanted(rows: list[Any], days: list[date], ctx: FlattenContext, *more: list[Any]) -> tuple[list[Any], ...]:
    """``rows``, ``days`` (and ``more`` lists alongside) of the days ``ctx`` loads; the others counted as it counts."""
    if ctx.days is None or ctx.days.issuperset(days):  # type: ignore[attr-defined]  # a frozenset since __post_init__
        return (rows, days, *more)
    keep = [ctx.wants(d) for d in days]
    return tuple([x for x, k in zip(values, keep, strict=True) if k] for values in (rows, days, *more))


#: ``record_base(i)``: the base record (workspace, day, ...) of the ``i``-th object of a chunk.
RecordBase: TypeAlias = Callable[[int], Record]


class _Table:
    """One table's output of a chunk: a batch of the plain objects, records of the others."""

    def __init__(self, columns: ShapeColumns) -> None:
        self.columns = columns
        self.name = columns.spec.name

    def emit(
        self, objs: Sequence[Any], base: Callable[[list[int]], dict[str, list[Any]]], record_base: RecordBase
    ) -> Iterator[TaggedItem]:
        """``base(indices)``: the base columns of those objects; ``record_base(i)``: object ``i``'s base record."""
        flags = self.columns.plain(objs)
        if flags is None:
            if objs:
                yield self.name, self.columns.batch(base(list(range(len(objs)))), objs)
            return
        good = [i for i, ok in enumerate(flags) if ok]
        if good:
            yield self.name, self.columns.batch(base(good), [objs[i] for i in good])
        fill = self.columns.shape.fill
        for i, ok in enumerate(flags):
            if not ok and isinstance(objs[i], dict):  # a child that is not an object makes no record (row path)
                yield self.name, fill(record_base(i), objs[i])


class _UsageGrainColumns:
    """``_UsageGrain.flatten`` as column batches."""

    def __init__(self, grain: Any) -> None:
        self.grain = grain
        self.daily = _Table(ShapeColumns(grain.daily))
        self.children = (
            (_Table(ShapeColumns(grain.clients)), grain.clients, "clients", analytics._CLIENT_COUNTERS),
            (_Table(ShapeColumns(grain.models)), grain.models, "models", analytics._MODEL_COUNTERS),
        )

    def flatten(self, rows: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[TaggedItem]:
        for chunk in chunks(rows):
            yield from self._chunk(chunk, ctx)

    def _chunk(self, rows: list[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[TaggedItem]:
        per_user = self.grain.per_user
        ids: list[Any] = [None] * len(rows)
        if per_user:
            ids = [r.get("user_id") for r in rows]
            ids = [u if type(u) is str else key_text(analytics._user_id(r)) for u, r in zip(ids, rows, strict=True)]
        rows, days, ids = wanted(rows, row_days(rows), ctx, ids)
        workspace, loaded_at = ctx.workspace_id, ctx.loaded_at

        def base_of(owners: list[int]) -> Callable[[list[int]], dict[str, list[Any]]]:
            def base(indices: list[int]) -> dict[str, list[Any]]:
                picked = [owners[i] for i in indices]
                out = {"workspace_id": [workspace] * len(picked), "day": [days[j] for j in picked]}
                if per_user:
                    out["user_id"] = [ids[j] for j in picked]
                out["loaded_at"] = [loaded_at] * len(picked)
                return out

            return base

        def record_of(owners: list[int]) -> Callable[[int], Record]:
            def record(i: int) -> Record:
                j = owners[i]
                out = ctx.base(days[j])
                if per_user:
                    out["user_id"] = ids[j]
                return out

            return record

        everyone = list(range(len(rows)))
        yield from self.daily.emit(rows, base_of(everyone), record_of(everyone))
        for table, shape, field, counters in self.children:
            objs, owners, odd = _children(rows, field, shape.key_columns)
            yield from table.emit(objs, base_of(owners), record_of(owners))
            for j in odd:
                yield from analytics._children(shape, record_of(everyone)(j), rows[j][field], counters)


def _children(
    rows: list[Mapping[str, Any]], field: str, key_columns: tuple[str, ...]
) -> tuple[list[Any], list[int], list[int]]:
    """The children of every row that has them, with their row's index; ``odd``: rows whose children add up.

    A key repeated in one row's children (added up by the row path) sends the
    row to the row path; a non-list value makes no record on either path.
    """
    objs: list[Any] = []
    owners: list[int] = []
    odd: list[int] = []
    for j, row in enumerate(rows):
        items = row.get(field)
        if not items:
            continue
        if type(items) is not list:
            if isinstance(items, list):
                odd.append(j)
            continue
        if len(items) > 1 and not _distinct_keys(items, key_columns):
            odd.append(j)
            continue
        objs += items
        owners += [j] * len(items)
    return objs, owners, odd


def _distinct_keys(items: list[Any], key_columns: tuple[str, ...]) -> bool:
    """Whether the children's keys (as the row path reads them) differ: nothing to add up."""
    if not all(type(i) is dict for i in items):
        return False
    keys = {tuple(key_text(i.get(c)) for c in key_columns) for i in items}
    return len(keys) == len(items)


def _daily_rows(shape: Shape) -> ColumnFlattener:
    """``_one_row_per_day`` (code reviews, responses) as column batches."""
    table = _Table(ShapeColumns(shape))

    def flatten(rows: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[TaggedItem]:
        for chunk in chunks(rows):
            kept, days = wanted(chunk, row_days(chunk), ctx)

            def base(indices: list[int], days: list[date] = days) -> dict[str, list[Any]]:
                n = len(indices)
                picked = [days[i] for i in indices]
                return {"workspace_id": [ctx.workspace_id] * n, "day": picked, "loaded_at": [ctx.loaded_at] * n}

            def record(i: int, days: list[date] = days) -> Record:
                return ctx.base(days[i])

            yield from table.emit(kept, base, record)

    return flatten


def flatten_compliance_columns(records: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[TaggedItem]:
    """The compliance flattener's records, gathered into column batches.

    Its checks unchanged; the content policy applied through the record's JSON
    text (:func:`.compliance.redact_dumped`), which is ``record_json`` too.
    """
    name = compliance.COMPLIANCE_EVENTS.name
    values = compliance.event_values(records, ctx, compliance.redact_dumped)
    while chunk := list(islice(values, CHUNK_ROWS)):
        yield name, ColumnBatch(tuple(map(list, zip(*chunk, strict=True))))


USAGE_USERS = _UsageGrainColumns(analytics._USER)
USAGE_WORKSPACE = _UsageGrainColumns(analytics._WORKSPACE)


def flatten_usage_users_columns(rows: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[TaggedItem]:
    """:func:`.flatten_usage_users` as column batches."""
    return USAGE_USERS.flatten(rows, ctx)


def flatten_usage_workspace_columns(rows: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[TaggedItem]:
    """:func:`.flatten_usage_workspace` as column batches."""
    return USAGE_WORKSPACE.flatten(rows, ctx)


flatten_code_reviews_columns = _daily_rows(analytics._CODE_REVIEWS)
flatten_code_review_responses_columns = _daily_rows(analytics._CODE_REVIEW_RESPONSES)
