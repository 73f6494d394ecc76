"""A field the API starts sending adds a column (or lands in JSON) instead of failing the load.

The sandbox's ``extra_row_fields`` fault makes the API "add" fields between two
loads. Analytics tables get a column per new scalar field (typed from its
values; ``totals.fooBar`` becomes ``totals_foo_bar``), new objects go into
``extra_json``; snapshot records keep them in ``record_json``. Rows loaded
before the change keep null in the new columns.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from codex_e2e import (
    SQL_KINDS,
    Expected,
    assert_same_rows,
    check_summary_and_assets,
    days_of,
    expected_rows,
    run_dag,
)

from airflow_provider_codex.tables import ColumnType

BEFORE = (date(2026, 2, 12), date(2026, 2, 14))
AFTER = (date(2026, 2, 13), date(2026, 2, 15))
NEW_FIELDS = {
    "usage": {
        "seatTier": "enterprise",
        "totals.reasoningCredits": 1.25,
        "clients.imageInputs": 3,
        "betaFlags": {"fast_mode": True},
    },
    "code_reviews": {"comment_details.p3": 4},
    "codex_tasks": {"sandboxPolicy": "workspace-write"},
}
#: The columns the new fields must become: table -> {column: (type, value)}.
NEW_COLUMNS: dict[str, dict[str, tuple[ColumnType, Any]]] = {
    "codex_usage_user_daily": {
        "seat_tier": (ColumnType.TEXT, "enterprise"),
        "totals_reasoning_credits": (ColumnType.FLOAT, 1.25),
    },
    "codex_usage_user_client_daily": {"image_inputs": (ColumnType.INTEGER, 3)},
    "codex_code_reviews_daily": {"comment_details_p3": (ColumnType.INTEGER, 4)},
}
NEW_JSON = {"codex_usage_user_daily": {"betaFlags": {"fast_mode": True}}}


def with_new_fields(expected: Expected) -> Expected:
    """The rows a load after the change must hold (the record_json of snapshots already has them)."""
    for table, rows in expected.tables.items():
        for row in rows:
            for column, (_, value) in NEW_COLUMNS.get(table, {}).items():
                row[column] = value
            if table in NEW_JSON:
                row["extra_json"] = NEW_JSON[table]
    return expected


def with_null_columns(expected: Expected) -> Expected:
    for table, rows in expected.tables.items():
        for row in rows:
            for column in NEW_COLUMNS.get(table, {}):
                row[column] = None
    return expected


@pytest.mark.parametrize("kind", [*SQL_KINDS, "storage"])
def test_new_api_fields_add_columns(kind, sandbox, make_destination, storage, use_sandbox, test_dags):
    use_sandbox(sandbox)
    if kind == "storage":
        conf, prefix = {"path": storage.url}, "load_storage_"
    else:
        dest = make_destination(kind)
        conf, prefix = {"sql_conn_id": dest.conn_id}, "load_sql_"

    def read(table: str) -> list[dict[str, Any]]:
        types = {c: t for c, (t, _) in NEW_COLUMNS.get(table, {}).items()}
        rows = storage.read(table, types) if kind == "storage" else dest.read(table, types)
        for row in rows:  # a partition written before the change has no such column: null
            for column in types:
                row.setdefault(column, None)
        return rows

    for dataset in NEW_FIELDS:
        window = {"start": BEFORE[0].isoformat(), "end": BEFORE[1].isoformat()}
        assert run_dag(test_dags, prefix + dataset, **window, **conf).state == "success"
        before = expected_rows(dataset, sandbox, days_of(*BEFORE))

        sandbox.faults.extra_row_fields = {dataset: NEW_FIELDS[dataset]}
        after = with_new_fields(expected_rows(dataset, sandbox, days_of(*AFTER)))
        if dataset == "codex_tasks":
            assert all(r["record_json"]["sandboxPolicy"] == "workspace-write" for r in after.tables["codex_tasks"])
        run = run_dag(test_dags, prefix + dataset, start=AFTER[0].isoformat(), end=AFTER[1].isoformat(), **conf)
        check_summary_and_assets(run, dataset, after, AFTER)
        merged = with_null_columns(before).merged(after)
        for table, rows in merged.tables.items():
            assert_same_rows(table, read(table), rows)
        if kind != "storage":
            for table, columns in NEW_COLUMNS.items():
                if table in merged.tables:
                    assert set(columns) <= set(dest.columns(table)), f"{table}: no new columns"
        sandbox.faults.extra_row_fields = {}


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_new_field_whose_values_widen_widens_its_column_across_loads(
    kind, sandbox, make_destination, use_sandbox, test_dags
):
    """The API adds ``comment_details.p3`` as an integer, later sends 0.5, then text: each load succeeds, and the
    column goes integer, float, text with every value kept. On 13677ea the second load failed on PostgreSQL and
    stored 0 on MariaDB."""
    use_sandbox(sandbox)
    dest = make_destination(kind)
    days = [date(2026, 2, 12), date(2026, 2, 13), date(2026, 2, 14)]
    for day, value in zip(days, (4, 0.5, "n/a"), strict=True):
        sandbox.faults.extra_row_fields = {"code_reviews": {"comment_details.p3": value}}
        window = {"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()}
        run = run_dag(test_dags, "load_sql_code_reviews", **window, sql_conn_id=dest.conn_id)
        assert run.state == "success", f"the load of {value!r} failed"
    rows = dest.read("codex_code_reviews_daily", {"comment_details_p3": ColumnType.TEXT})
    values = {r["day"]: r["comment_details_p3"] for r in rows}
    assert [float(values[d]) for d in days[:2]] == [4.0, 0.5] and values[days[2]] == "n/a"
    assert all(isinstance(v, str) for v in values.values())
