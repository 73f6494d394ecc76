"""The load operators' old home (``operators.codex``) still works, with a warning naming the new one."""

from __future__ import annotations

import importlib

import pytest

from airflow_provider_codex.transfers.base import CodexLoadOperator, table_asset
from airflow_provider_codex.transfers.codex_log_files_to_storage import CodexLogFilesToStorageOperator
from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator
from airflow_provider_codex.transfers.codex_to_storage import CodexToStorageOperator


@pytest.mark.parametrize(
    ("name", "new"),
    [
        ("CodexToSqlOperator", CodexToSqlOperator),
        ("CodexLoadOperator", CodexLoadOperator),
        ("table_asset", table_asset),
    ],
)
def test_old_names_warn_and_are_the_new_ones(name, new):
    old = importlib.import_module("airflow_provider_codex.operators.codex")
    with pytest.warns(DeprecationWarning, match=f"import it from {new.__module__}"):
        assert getattr(old, name) is new


def test_an_unknown_old_name_is_an_attribute_error():
    old = importlib.import_module("airflow_provider_codex.operators.codex")
    with pytest.raises(AttributeError, match="NoSuchOperator"):
        old.NoSuchOperator  # noqa: B018


def test_old_storage_operator_with_archive_builds_the_archive_operator():
    with pytest.warns(DeprecationWarning, match="transfers.codex_to_storage"):
        from airflow_provider_codex.operators.codex import CodexToStorageOperator as Old
    with pytest.warns(DeprecationWarning, match="CodexLogFilesToStorageOperator"):
        archive = Old(task_id="a", dataset="compliance_events", path="file:///tmp/x", archive=True)
    assert type(archive) is CodexLogFilesToStorageOperator
    assert archive.destination() == {"path": "file:///tmp/x", "format": "verbatim"}
    assert archive.content_policy == "keep"
    tables = Old(task_id="t", dataset="usage", path="file:///tmp/x", file_format="parquet")
    assert isinstance(tables, CodexToStorageOperator)
    assert tables.destination() == {"path": "file:///tmp/x", "format": "parquet"}


def test_the_archive_operator_refuses_another_dataset():
    with pytest.raises(ValueError, match="compliance_events"):
        CodexLogFilesToStorageOperator(task_id="a", dataset="usage", path="file:///tmp/x")
