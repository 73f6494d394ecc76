"""Test-wide setup: one temp folder per run, an isolated Airflow home, and the sandbox on loopback.

The environment is set before anything imports Airflow, so every test runs
against its own metadata database and never touches a developer's ~/airflow.
Everything the run puts in the temp directory (the Airflow home, pytest's
``tmp_path``, clusters' homes, benchmark work folders and caches, also those of
subprocesses, which inherit ``TMPDIR``) goes into one folder, removed when the
run ends: a run leaves nothing behind.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

_RUN = Path(tempfile.mkdtemp(prefix="codex-test-run-"))
atexit.register(shutil.rmtree, _RUN, ignore_errors=True)
os.environ["TMPDIR"] = str(_RUN)
tempfile.tempdir = None  # gettempdir() reads TMPDIR again
_HOME = Path(tempfile.mkdtemp(prefix="codex-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
#: dag.test() runs only DAGs that live in the DAGs folder: the tests' own are in tests/dags.
DAGS_FOLDER = Path(__file__).parent / "dags"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
# A metadata DB of the process's own, unless the developer chose one. pytest-xdist workers inherit the
# environment of the process that started them: the database that one chose is not a developer's choice.
_DEFAULT_DB = os.environ.get("_CODEX_TEST_DEFAULT_DB")
if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") in (None, _DEFAULT_DB):
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = os.environ["_CODEX_TEST_DEFAULT_DB"] = (
        f"sqlite:///{_HOME / 'airflow.db'}"
    )

from collections.abc import Callable, Iterator  # noqa: E402
from datetime import UTC, date, datetime  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from codex_testing.sandbox import RunningSandbox, running_sandbox  # noqa: E402

from airflow_provider_codex.api.config import ClientConfig, Secret  # noqa: E402
from airflow_provider_codex.api.retry import RetryPolicy  # noqa: E402

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


@pytest.fixture(scope="session")
def _session_live_sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(seed=5, users=30, events_per_day=400, analytics_history_days=120) as sandbox:
        yield sandbox


@pytest.fixture
def live_sandbox(_session_live_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    """A sandbox on the real clock, for loads checked against the real 30-day retention.

    Use days a few days back (complete, late events landed) relative to the real today.
    """
    _session_live_sandbox.reset()
    yield _session_live_sandbox
    _session_live_sandbox.reset()


@pytest.fixture
def codex_conn(sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define a ``codex`` connection to the sandbox, as users do (``AIRFLOW_CONN_*`` JSON).

    Keyword arguments override the extras; a falsy value removes the field.
    """

    def define(conn_id: str = "codex_test", **extra_overrides: Any) -> str:
        falsy = {k: None for k, v in extra_overrides.items() if not v}
        connection = sandbox.connection(**({"content_hash_secret": "pepper"} | extra_overrides | falsy))
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        return conn_id

    return define


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


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite, in the session's Airflow home)."""
    import subprocess
    import sys

    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
    return _HOME


@pytest.fixture(scope="session")
def test_dags(airflow_db: Path) -> dict[str, Any]:
    """The DAGs of tests/dags by id, ready for ``dag.test()``."""
    import importlib.util

    dags: dict[str, Any] = {}
    from airflow.sdk import DAG

    for path in sorted(DAGS_FOLDER.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"test_dags_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dags.update({d.dag_id: d for d in vars(module).values() if isinstance(d, DAG)})
    return dags


#: The xdist group of the tests that start a whole Airflow.
_REAL_AIRFLOW = "real-airflow"


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Under pytest-xdist (``scripts/test`` runs ``-n auto``), the real-Airflow tests share one worker.

    Each starts a scheduler, api-server, dag-processor and triggerer: two at once on a
    2-core machine would only starve each other's bounded waits, so they run one after
    another (``--dist loadgroup``) while the other workers take the rest of the suite.
    """
    xdist = config.pluginmanager.hasplugin("xdist")
    if xdist:
        for item in items:
            if item.get_closest_marker("slow") is not None:
                item.add_marker(pytest.mark.xdist_group(_REAL_AIRFLOW))
    yield
    if xdist and getattr(config.option, "loadgroup", False):
        _name_groups(items)


def _name_groups(items: list[pytest.Item]) -> None:
    """Suffix ``@group`` to the grouped tests' ids, as xdist's own hook means to.

    Written here because xdist 3.8 sets ``item._nodeid``, which pytest 9 no longer reads
    (its ids live in ``item._id``): without this, ``loadgroup`` silently groups nothing.
    """
    from _pytest.nodeid import coerce_node_id

    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is not None and "@" not in item.nodeid.rpartition("]")[2]:
            name = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
            item._id = coerce_node_id(f"{item.nodeid}@{name}")  # type: ignore[attr-defined]
