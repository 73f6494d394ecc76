"""Test-wide setup: an isolated Airflow home, and the sandbox on loopback.

The environment is set before anything imports Airflow, so every test runs
against its own metadata database and never touches a developer's ~/airflow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="codex-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(_HOME / "dags"))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME / 'airflow.db'}")

from collections.abc import Callable, Iterator  # noqa: E402
from datetime import UTC, date, datetime  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from airflow_provider_codex.api.config import ClientConfig, Secret  # noqa: E402
from airflow_provider_codex.api.retry import RetryPolicy  # noqa: E402
from airflow_provider_codex.sandbox import RunningSandbox, running_sandbox  # noqa: E402

#: A fixed "today" and a frozen clock: the data never depends on the day the tests run.
SANDBOX_TODAY = date(2026, 3, 4)
SANDBOX_NOW = datetime(2026, 3, 5, tzinfo=UTC)
SANDBOX_SETTINGS: dict[str, Any] = {
    "seed": 11,
    "users": 25,
    "events_per_day": 400,
    "today": SANDBOX_TODAY,
    "now": SANDBOX_NOW,
    "analytics_history_days": 90,
}


@pytest.fixture(scope="module")
def _module_sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(**SANDBOX_SETTINGS) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(_module_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    """The sandbox on loopback, with faults off and counters cleared around each test."""
    _module_sandbox.reset()
    yield _module_sandbox
    _module_sandbox.reset()


@pytest.fixture
def client_config(sandbox: RunningSandbox) -> Callable[..., ClientConfig]:
    """A client config for the sandbox; keyword arguments override fields (``retry=...``)."""

    def make(**overrides: Any) -> ClientConfig:
        settings: dict[str, Any] = {
            "base_url": sandbox.base_url,
            "workspace_id": sandbox.workspace_id,
            "analytics_api_key": Secret(sandbox.analytics_key),
            "compliance_api_key": Secret(sandbox.compliance_key),
            "requests_per_minute": 100_000,
            "retry": RetryPolicy(backoff_base=0.01, backoff_max=0.05),
        }
        settings.update(overrides)
        return ClientConfig(**settings)

    return make

