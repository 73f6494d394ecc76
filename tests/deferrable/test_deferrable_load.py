"""A deferrable load rides out long rate limits on a timer trigger, resuming at the next page."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

TABLES = ("codex_usage_user_daily", "codex_usage_user_client_daily", "codex_usage_user_model_daily")


@pytest.fixture
def connections(live_sandbox, tmp_path, monkeypatch):
    sandbox = live_sandbox
    monkeypatch.setenv("AIRFLOW_CONN_CODEX_DEFAULT", json.dumps(sandbox.connection("pepper")))

    def sqlite_conn(name):
        path = tmp_path / f"{name}.db"
        monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)}))
        return name, path

    return sqlite_conn


def table_contents(path):
    with sqlite3.connect(path) as db:
        out = {}
        for table in TABLES:
            columns = [r[1] for r in db.execute(f"pragma table_info({table})") if r[1] != "loaded_at"]
            out[table] = sorted(db.execute(f"select {', '.join(columns)} from {table}").fetchall())
        return out


def ok_pages(sandbox):
    return sandbox.stats()["requests"].get("usage", {}).get("200", 0)


def run(dag, conf):
    dag_run = dag.test(run_conf=conf)
    (ti,) = dag_run.get_task_instances()
    return dag_run, ti


def test_deferred_load_ends_with_the_same_rows_and_no_page_fetched_twice(live_sandbox, connections, test_dags):
    sandbox = live_sandbox
    first = (datetime.now(UTC) - timedelta(days=8)).date()
    window = {"start": str(first), "end": str(first + timedelta(days=5))}

    calm_id, calm_db = connections("calm_db")
    dag_run, _ = run(test_dags["load_sql_usage_small_pages"], {**window, "sql_conn_id": calm_id})
    assert dag_run.state == "success"
    calm_pages = ok_pages(sandbox)
    assert calm_pages >= 4  # the window spans several pages: there is something to resume

    sandbox.reset()
    # Every 3rd request of a route is refused for 2 s: longer than the operator's defer_after (1 s).
    sandbox.faults.replace_all({"fail_429_every": 3, "retry_after": 2})
    stormy_id, stormy_db = connections("stormy_db")
    dag_run, ti = run(test_dags["load_sql_usage_deferrable"], {**window, "sql_conn_id": stormy_id})
    assert dag_run.state == "success"
    summary = ti.xcom_pull(task_ids="load")
    assert summary["pauses"] >= 1  # it deferred (the count travelled through the trigger's kwargs)
    assert summary["pages"] == calm_pages
    assert ok_pages(sandbox) == calm_pages  # no page was fetched twice
    assert sandbox.stats()["responses_429"] >= 1
    assert table_contents(stormy_db) == table_contents(calm_db)


def test_a_long_retry_after_without_deferrable_fails_instead_of_sleeping(live_sandbox, connections, test_dags):
    sandbox = live_sandbox
    sandbox.faults.replace_all({"fail_429_first_n": 1, "retry_after": 7200})
    conn_id, _ = connections("patient_db")
    first = (datetime.now(UTC) - timedelta(days=8)).date()
    dag_run, _ = run(
        test_dags["load_sql_usage_small_pages"],
        {"start": str(first), "end": str(first + timedelta(days=1)), "sql_conn_id": conn_id},
    )
    assert dag_run.state == "failed"
    assert sandbox.stats()["requests_total"] == 1
