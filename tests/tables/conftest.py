"""Fixtures over the contract examples of table_examples.py."""

from __future__ import annotations

import copy

import pytest
from table_examples import CODEX_LOG_RECORD, LOADED_AT, USAGE_ROW

from airflow_provider_codex.tables import FlattenContext


@pytest.fixture
def usage_row():
    return copy.deepcopy(USAGE_ROW)


@pytest.fixture
def log_record():
    return copy.deepcopy(CODEX_LOG_RECORD)


@pytest.fixture
def ctx():
    return FlattenContext(workspace_id="ws-1", loaded_at=LOADED_AT)
