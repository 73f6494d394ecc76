"""The example DAGs import cleanly, without warnings, and touch no network while parsed."""

from __future__ import annotations

import socket
import warnings
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "example_dags"


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a DAG file opened a network connection while parsed: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_example_dags_load_without_errors_or_warnings(no_network):
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    ours = [w for w in caught if str(EXAMPLES) in str(w.filename) or "airflow_provider_codex" in str(w.filename)]
    assert ours == [], [str(w.message) for w in ours]
    assert set(bag.dag_ids) == {
        "codex_analytics_daily",
        "codex_analytics_monthly_history",
        "codex_compliance_daily",
        "codex_downstream_summary",
        "codex_all_workspaces_daily",
        "codex_governance_views",
    }
    for dag in bag.dags.values():
        # the views operator and the retention guard read the tables (and the connection's workspace id), never the API
        readers = ("Views", "RetentionGuard")
        api_tasks = [
            t for t in dag.tasks if t.task_type.startswith("Codex") and not any(r in t.task_type for r in readers)
        ]
        assert all(t.pool == "codex_api" for t in api_tasks), dag.dag_id


def test_analytics_daily_loads_every_analytics_dataset_after_the_sensor():
    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_codex.datasets import ANALYTICS_DATASETS

    dag = DagBag(dag_folder=str(EXAMPLES)).dags["codex_analytics_daily"]
    loads = {t.dataset for t in dag.tasks if t.task_type == "CodexToSqlOperator"}
    assert loads == set(ANALYTICS_DATASETS)
    sensor = dag.get_task("wait_for_day")
    assert {t.task_id for t in sensor.downstream_list} == {f"load_{d}" for d in ANALYTICS_DATASETS}


def test_compliance_daily_guards_retention_after_the_load_in_the_latest_run_only():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(EXAMPLES)).dags["codex_compliance_daily"]
    guard = dag.get_task("retention_guard")
    assert guard.task_type == "CodexRetentionGuardOperator"
    # latest_only skips it in past runs (a backfill's); after the load, whatever the load's outcome
    assert {t.task_id for t in guard.upstream_list} == {"latest_only", "load_events"}
    assert (guard.trigger_rule, guard.retries, guard.pool) == ("all_done", 0, "default_pool")
    assert guard.sql_conn_id == dag.get_task("load_events").sql_conn_id


def test_neither_the_provider_nor_the_example_dags_import_the_testing_harness():
    """``codex_testing`` (a real Airflow for tests) stays out of DAG parsing and the provider."""
    import subprocess
    import sys

    script = f"""
import importlib, pathlib, runpy, sys
import airflow_provider_codex
root = pathlib.Path(airflow_provider_codex.__file__).parent
for path in sorted(root.rglob("*.py")):
    parts = path.relative_to(root.parent).with_suffix("").parts
    if parts[1] != "testing" and parts[-1] != "__main__":
        importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
runpy.run_path({str(EXAMPLES / "codex_pipelines.py")!r})
loaded = sorted(m for m in sys.modules if m.startswith("codex_testing"))
assert not loaded, loaded
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def test_all_workspaces_maps_every_sensor_and_load_over_its_connections():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    from airflow_provider_codex.datasets import ANALYTICS_DATASETS
    from airflow_provider_codex.transfers.base import table_asset

    dag = DagBag(dag_folder=str(EXAMPLES)).dags["codex_all_workspaces_daily"]
    codex = [t for t in dag.tasks if t.task_type.startswith("Codex")]
    assert codex and all(isinstance(t, MappedOperator) for t in codex)
    loads = {t.task_id: t for t in codex if t.task_type == "CodexToSqlOperator"}
    assert set(loads) == {f"load_{d}" for d in (*ANALYTICS_DATASETS, "compliance_events")}
    # a mapped load declares its tables' Assets, so downstream DAGs can schedule on them
    assert table_asset("codex_usage_user_daily") in loads["load_usage"].outlets
