"""The sink's reading hooks (for what is built from the loaded tables): names, day parameters, queries."""

from __future__ import annotations

from datetime import date

from airflow_provider_codex.tables import CODE_REVIEWS_DAILY


def test_has_table_query_and_day_parameters_work_alike_everywhere(backend) -> None:
    sink = backend.sink()
    assert not sink.has_table(CODE_REVIEWS_DAILY)
    day = date(2026, 2, 9)
    record = {"workspace_id": "w", "day": day, "pull_request_reviews": 3, "comments": 1, "p0": None}
    sink.replace_tables([CODE_REVIEWS_DAILY], "w", [day], [(CODE_REVIEWS_DAILY.name, record)])
    assert sink.has_table(CODE_REVIEWS_DAILY)
    q, p = sink.dialect.quote, sink.placeholder
    sql = (
        f"SELECT {q('pull_request_reviews')}, {q('p0')} FROM {sink.qualified_name(CODE_REVIEWS_DAILY)} "
        f"WHERE {q('workspace_id')} = {p} AND {q('day')} = {p}"
    )
    assert [tuple(int(v) if v is not None else None for v in r) for r in sink.query(sql, ["w", sink.sql_day(day)])] == [
        (3, None)
    ]
    assert sink.query(sql, ["w", sink.sql_day(date(2026, 2, 10))]) == []
