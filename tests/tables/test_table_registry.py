"""The table registry and the spec rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from airflow_provider_codex.datasets import DATASETS
from airflow_provider_codex.tables import TABLES, Column, ColumnType, TableSpec, infer_type
from airflow_provider_codex.tables.schema import merge_types, snake_case, validate_identifier

EXPECTED = {
    "codex_usage_user_daily": ("workspace_id", "day", "user_id"),
    "codex_usage_user_client_daily": ("workspace_id", "day", "user_id", "client_id"),
    "codex_usage_user_model_daily": ("workspace_id", "day", "user_id", "model", "speed"),
    "codex_usage_workspace_daily": ("workspace_id", "day"),
    "codex_usage_workspace_client_daily": ("workspace_id", "day", "client_id"),
    "codex_usage_workspace_model_daily": ("workspace_id", "day", "model", "speed"),
    "codex_code_reviews_daily": ("workspace_id", "day"),
    "codex_code_review_responses_daily": ("workspace_id", "day"),
    "codex_compliance_events": ("workspace_id", "event_id"),
    "codex_tasks": ("workspace_id", "snapshot_day", "id"),
    "codex_environments": ("workspace_id", "snapshot_day", "id"),
}


def test_registry_lists_every_table_with_its_key():
    assert {name: spec.key for name, spec in TABLES.items()} == EXPECTED


@pytest.mark.parametrize("spec", list(TABLES.values()), ids=list(TABLES))
def test_every_table_has_the_common_columns(spec):
    types = spec.types
    assert types[spec.workspace_column] is ColumnType.TEXT
    assert types[spec.day_column] is ColumnType.DATE
    assert types["loaded_at"] is ColumnType.TIMESTAMP
    assert spec.column_names[0] == "workspace_id"
    assert len(spec.name) < 40  # leaves room for a table prefix within 63 characters


def test_datasets_cover_the_registry():
    assert {s.name for d in DATASETS.values() for s in d.tables} == set(TABLES)
    assert DATASETS["compliance_events"].tables[0].deduplicate


def test_spec_rules():
    cols = (Column("workspace_id", ColumnType.TEXT), Column("day", ColumnType.DATE))
    with pytest.raises(ValueError, match="invalid table name"):
        TableSpec("bad-name", cols, ("workspace_id",))
    with pytest.raises(ValueError, match="invalid column name"):
        Column("x; drop table y", ColumnType.TEXT)
    with pytest.raises(ValueError, match="not columns"):
        TableSpec("t", cols, ("id",))
    with pytest.raises(ValueError, match="DATE"):
        TableSpec("t", (cols[0], Column("day", ColumnType.TEXT)), ("workspace_id",))


@pytest.mark.parametrize("name", ["", "1abc", "a b", "a-b", 'a"b', "a`b", "a;b", "é", "x" * 64, None])
def test_bad_identifiers(name):
    with pytest.raises(ValueError, match="invalid"):
        validate_identifier(name)


def test_snake_case_and_types():
    assert snake_case("reasoningTokens") == "reasoning_tokens"
    assert snake_case("HTTPCode") == "httpcode"
    assert snake_case("a.b-c") == "a_b_c"
    assert infer_type(True) is ColumnType.BOOLEAN
    assert infer_type(1) is ColumnType.INTEGER
    assert infer_type(1.5) is ColumnType.FLOAT
    assert infer_type("x") is ColumnType.TEXT
    assert infer_type(date(2025, 1, 1)) is ColumnType.DATE
    assert infer_type(datetime(2025, 1, 1, tzinfo=UTC)) is ColumnType.TIMESTAMP
    assert infer_type({"a": 1}) is ColumnType.JSON
    assert infer_type(None) is None
    assert merge_types(ColumnType.INTEGER, ColumnType.FLOAT) is ColumnType.FLOAT
    assert merge_types(ColumnType.INTEGER, ColumnType.TEXT) is ColumnType.TEXT


def test_what_fits_each_column_type():
    """The one rule every sink shares (see sinks/_staging.py): on 13677ea there was none."""
    from airflow_provider_codex.tables.schema import INT64_MAX, INT64_MIN, fits

    day, moment = date(2025, 1, 1), datetime(2025, 1, 1, tzinfo=UTC)
    fitting = {
        ColumnType.INTEGER: [0, -1, INT64_MIN, INT64_MAX],
        ColumnType.FLOAT: [0.5, 0, INT64_MAX, -1e308, 1e-300],
        ColumnType.TEXT: ["", "x"],
        ColumnType.BOOLEAN: [True, False],
        ColumnType.DATE: [day],
        ColumnType.TIMESTAMP: [moment],
        ColumnType.JSON: ['{"a": 1}'],
    }
    misfits = {
        ColumnType.INTEGER: [True, 2.5, 1.0, "1", INT64_MAX + 1, INT64_MIN - 1, {"a": 1}, [1]],
        ColumnType.FLOAT: [True, "0.5", float("nan"), float("inf"), -float("inf"), INT64_MAX + 1, {}],
        ColumnType.TEXT: [1, 1.5, True, {"a": 1}, ["x"], day],
        ColumnType.BOOLEAN: [1, 0, "true"],
        ColumnType.DATE: [moment, "2025-01-01", 20250101],
        ColumnType.TIMESTAMP: [day, "2025-01-01T00:00:00Z", 1735689600],
        ColumnType.JSON: [{"a": 1}, [1], 1],
    }
    for kind, values in fitting.items():
        assert all(fits(kind, v) for v in values), kind
    for kind, values in misfits.items():
        assert not any(fits(kind, v) for v in values), kind
    # a field that needs more than 64 bits gets a column that holds it exactly
    assert infer_type(INT64_MAX + 1) is ColumnType.TEXT and infer_type(INT64_MAX) is ColumnType.INTEGER
