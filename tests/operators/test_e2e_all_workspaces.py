"""The many-workspaces example DAG loads two sandbox workspaces (two connections, other ids and keys)
into one set of tables, each workspace's rows equal to what its own sandbox served.

Both sandboxes run on the real clock, so the compliance day (three days back) is within
retention and settled; each has its own seed, so their data differ.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from codex_e2e import GRACE, assert_same_rows, codex_connection, expected_rows, midnight
from codex_testing.sandbox import RunningSandbox, running_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "codex_all_workspaces.py"
DATASETS = ("usage", "usage_workspace", "code_reviews", "code_review_responses", "compliance_events")


@pytest.fixture(scope="module")
def two_workspaces() -> Iterator[tuple[RunningSandbox, RunningSandbox]]:
    def sandbox(seed: int) -> Any:
        return running_sandbox(
            seed=seed,
            users=6,
            workspace_id=str(uuid.UUID(int=seed)),
            analytics_key=f"sk-analytics-ws{seed}",
            compliance_key=f"sk-compliance-ws{seed}",
        )

    with sandbox(101) as first, sandbox(202) as second:
        yield first, second


@pytest.fixture
def all_workspaces_dag(airflow_db: Path) -> Any:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    bag = DagBag(dag_folder=str(EXAMPLE))
    assert bag.import_errors == {}
    # dag.test() needs the DAG serialized; the session's DAGs folder is tests/dags, so write it here.
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    return bag.dags["codex_all_workspaces_daily"]


def test_two_workspaces_load_into_one_set_of_tables_each_as_served(
    two_workspaces, all_workspaces_dag, make_destination, monkeypatch
):
    first, second = two_workspaces
    assert first.workspace_id != second.workspace_id
    conn_ids = []
    for number, sandbox in enumerate(two_workspaces, 1):
        conn_id = f"codex_ws{number}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", codex_connection(sandbox))
        conn_ids.append(conn_id)
    dest = make_destination("sqlite")
    monkeypatch.setenv("AIRFLOW_VAR_CODEX_SQL_CONN_ID", dest.conn_id)
    day = datetime.now(UTC).date() - timedelta(days=3)
    run = all_workspaces_dag.test(
        logical_date=midnight(day + timedelta(days=1)),
        run_conf={"analytics_conn_ids": conn_ids, "compliance_conn_ids": conn_ids, "lookback_days": 0},
    )
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert {i for (t, i) in states if t == "load_usage"} == {0, 1}  # one mapped load per connection
    for dataset in DATASETS:
        served = [
            expected_rows(dataset, s, [day], files_before=midnight(day + timedelta(days=1)) + GRACE)
            for s in two_workspaces
        ]
        for table in served[0].tables:
            rows = dest.read(table)
            assert {r["workspace_id"] for r in rows} == {first.workspace_id, second.workspace_id}, table
            for sandbox, expected in zip(two_workspaces, served, strict=True):
                mine = [r for r in rows if r["workspace_id"] == sandbox.workspace_id]
                assert_same_rows(table, mine, expected.tables[table])
