"""A deferrable sensor under a real scheduler and triggerer (not ``dag.test()``).

The task defers, shows ``deferred`` in the metadata DB while the triggerer
keeps checking the sandbox, and succeeds once data lands (the sandbox's clock
moves). Harness: :mod:`codex_testing`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from codex_testing import airflow_cluster, connection_env

DAG_ID = "codex_freshness_e2e"
DAG_FILE = f"""\
import datetime

from airflow.sdk import DAG
from airflow_provider_codex.sensors.codex import CodexComplianceFreshnessSensor

with DAG({DAG_ID!r}, schedule=None, start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)):
    CodexComplianceFreshnessSensor(
        task_id="wait",
        codex_conn_id="codex_e2e",
        grace=datetime.timedelta(0),
        poke_interval=1,
        timeout=300,
        deferrable=True,
    )
"""


def checks(sandbox):
    return sandbox.stats()["requests"].get("max_event_time", {}).get("200", 0)


@pytest.mark.slow
def test_a_deferred_sensor_waits_in_the_triggerer_then_succeeds(sandbox, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / f"{DAG_ID}.py").write_text(DAG_FILE)
    connection = {
        "conn_type": "codex",
        "host": sandbox.base_url,
        "extra": {"workspace_id": sandbox.workspace_id, "compliance_api_key": sandbox.compliance_key},
    }
    with airflow_cluster(dags, env=connection_env("codex_e2e", connection)) as cluster:
        cluster.wait_for_dag(DAG_ID)
        cluster.unpause(DAG_ID)
        # Logical date 2026-03-05: the window is 2026-03-04, whose events have not all landed yet.
        run_id = cluster.trigger_dag(DAG_ID, logical_date=datetime(2026, 3, 5, tzinfo=UTC))

        cluster.wait_for_task_state(DAG_ID, run_id, "wait", {"deferred"}, timeout=90)
        # Let the executor report the deferring try before data can arrive: Airflow 3.3 fails a
        # task resumed before that report (apache/airflow#67287); real poke intervals are minutes.
        cluster.wait_for_log("scheduler", rf"Received executor event .*dag_id='{DAG_ID}', task_id='wait'")
        seen = checks(sandbox)
        cluster.wait_until("the triggerer to check twice more", lambda: checks(sandbox) >= seen + 2, timeout=30)
        assert cluster.task_state(DAG_ID, run_id, "wait") == "deferred"  # still waiting, in no worker slot
        # The wait is a trigger that a triggerer has picked up.
        assert cluster.query("SELECT classpath, triggerer_id IS NOT NULL FROM trigger") == [
            ("airflow_provider_codex.triggers.codex.CodexComplianceFreshnessTrigger", 1)
        ]

        sandbox.set_clock(datetime(2026, 3, 6, tzinfo=UTC))  # the day's last events land
        cluster.wait_for_task_state(DAG_ID, run_id, "wait", {"success"}, timeout=60)
        assert cluster.wait_for_dag_run(DAG_ID, run_id) == "success"

        logs = cluster.task_logs(DAG_ID, run_id, "wait")
        assert "Deferring" in logs
        assert "compliance events have landed up to 2026-03-05T00:00:00Z" in logs
        everything = logs + "".join(cluster.log_text(name) for name in cluster.components)
        assert sandbox.compliance_key not in everything
    print(f"cluster timings: {cluster.timings}")
