"""Errors raised while rows are flattened and staged leave ``load_dataset`` redacted, like the API's own."""

from __future__ import annotations

from datetime import date

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_codex.api.client import CodexClient
from airflow_provider_codex.datasets import get_dataset
from airflow_provider_codex.load import load_dataset
from airflow_provider_codex.sinks import StorageSink
from airflow_provider_codex.tables import ColumnValueError
from airflow_provider_codex.windows import Window


def test_a_key_the_server_puts_into_a_row_value_is_redacted_from_the_error(sandbox, client_config, tmp_path):
    sandbox.faults.extra_row_fields = {"code_reviews": {"comments": sandbox.analytics_key}}
    sink = StorageSink(ObjectStoragePath(f"file://{tmp_path}"))
    with CodexClient(client_config()) as client, pytest.raises(ColumnValueError) as raised:
        load_dataset(client, get_dataset("code_reviews"), Window.of_days(date(2026, 2, 12), date(2026, 2, 13)), sink)
    assert "codex_code_reviews_daily.comments" in str(raised.value)
    assert sandbox.analytics_key not in str(raised.value)
    assert "***" in str(raised.value)
    assert not list(tmp_path.iterdir())
