"""Fixtures of the trigger tests: a ``codex`` connection to the sandbox, defined in the environment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from airflow_cluster import connection_env

from airflow_provider_codex.sandbox import RunningSandbox


@pytest.fixture
def codex_conn(sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define a ``codex`` connection to the sandbox in ``AIRFLOW_CONN_*``; keyword arguments override extras."""

    def define(conn_id: str = "codex_trigger", **extra_overrides: Any) -> str:
        extra = {
            "workspace_id": sandbox.workspace_id,
            "analytics_api_key": sandbox.analytics_key,
            "compliance_api_key": sandbox.compliance_key,
        } | extra_overrides
        connection = {"conn_type": "codex", "host": sandbox.base_url, "extra": {k: v for k, v in extra.items() if v}}
        for name, value in connection_env(conn_id, connection).items():
            monkeypatch.setenv(name, value)
        return conn_id

    return define
