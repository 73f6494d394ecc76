"""Read a view back: its rows of a workspace and a range of days, values as Python types.

For what shows the views (a report, a notebook): dates come back as
``datetime.date`` and figures as ``int`` or ``None`` (a gap) whatever the
driver returns (SQLite's ISO text, MySQL's ``Decimal``), ordered by key.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.tables import ColumnType
from airflow_provider_codex.views.catalog import VIEWS_BY_NAME
from airflow_provider_codex.views.facts import as_count, as_day


def _value(kind: ColumnType, value: Any) -> Any:
    if value is None:
        return None
    if kind is ColumnType.DATE:
        return as_day(value)
    if kind is ColumnType.INTEGER:
        return as_count(value)
    return value


def read_view(sink: SqlSink, name: str, workspace_id: str, first: date, last: date) -> list[dict[str, Any]]:
    """The rows of view ``name`` for ``workspace_id`` from ``first`` to ``last`` (both included), by key.

    ``[]`` when the view was never built.
    """
    view = VIEWS_BY_NAME[name]
    if not sink.has_table(view.spec):
        return []
    q, p = sink.dialect.quote, sink.placeholder
    columns = view.spec.column_names
    order = ", ".join(q(c) for c in view.spec.key)
    sql = (
        f"SELECT {', '.join(q(c) for c in columns)} FROM {sink.qualified_name(view.spec)} "  # noqa: S608
        f"WHERE {q('workspace_id')} = {p} AND {q('day')} >= {p} AND {q('day')} < {p} ORDER BY {order}"
    )
    rows = sink.query(sql, [workspace_id, sink.sql_day(first), sink.sql_day(last + timedelta(days=1))])
    types = view.spec.types
    return [{c: _value(types[c], v) for c, v in zip(columns, row, strict=True)} for row in rows]
