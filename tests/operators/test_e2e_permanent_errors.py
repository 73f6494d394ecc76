"""Errors a retry cannot fix fail the task at once, with a message that names the fix.

The task is given retries (with no delay) for these runs: a permanent error
must still end it ``failed`` on its first try, after at most the one request
that revealed the error. A transient error (the database down) on the same
task is retried until the retries run out: the retries are really there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from codex_e2e import run_dag

RETRIES = 3


@contextmanager
def with_retries(dag: Any, retries: int = RETRIES) -> Iterator[None]:
    task = dag.get_task("load")
    before = task.retries, task.retry_delay
    task.retries, task.retry_delay = retries, timedelta(0)
    try:
        yield
    finally:
        task.retries, task.retry_delay = before


def api_requests(sandbox: Any) -> int:
    return sum(sum(by_status.values()) for by_status in sandbox.stats()["requests"].values())


def days_ago(n: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


CASES = {
    # case: (dataset, connection extras, start, end, messages the log must show, API requests)
    "bad analytics key": (
        "code_reviews",
        {"analytics_api_key": "sk-not-the-right-key"},
        "2026-02-12",
        "2026-02-13",
        ("CodexAuthError", "'analytics_api_key' field of connection 'codex_default'"),
        1,
    ),
    "key without the scope": (
        "usage",
        {"analytics_api_key": "sk-sandbox-compliance"},
        "2026-02-12",
        "2026-02-13",
        ("CodexPermissionError", "'analytics_api_key'", "codex.enterprise.analytics.read"),
        1,
    ),
    "window older than retention": (
        "compliance_events",
        {},
        days_ago(40),
        days_ago(38),
        ("CodexRetentionError", "kept only 30 days", "run the compliance DAG every day"),
        0,
    ),
    "window not whole days": (
        "usage",
        {},
        "2026-02-12T06:00:00+00:00",
        "2026-02-13",
        ("WindowError", "is not 00:00 UTC", "whole UTC days"),
        0,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_permanent_error_fails_at_once(
    case, sandbox, live_sandbox, tmp_path, monkeypatch, use_sandbox, test_dags, capfd
):
    dataset, extras, start, end, messages, requests = CASES[case]
    api = live_sandbox if dataset == "compliance_events" else sandbox
    use_sandbox(api, **extras)
    monkeypatch.setenv("AIRFLOW_CONN_CODEX_E2E_ERRORS", json.dumps({"conn_type": "sqlite", "host": f"{tmp_path}/e.db"}))
    dag_id = f"load_sql_{dataset}"
    capfd.readouterr()
    with with_retries(test_dags[dag_id]):
        run = run_dag(test_dags, dag_id, start=start, end=end, sql_conn_id="codex_e2e_errors")
    output = capfd.readouterr().out
    assert run.ti.state == "failed", f"{case}: task ended {run.ti.state}"
    assert run.ti.try_number == 1 and run.ti.max_tries == RETRIES
    assert run.state == "failed"
    assert "AirflowFailException" in output
    for message in messages:
        assert message in output, f"{case}: the log does not say {message!r}"
    assert api_requests(api) == requests, api.stats()["requests"]
    assert not (tmp_path / "e.db").exists() or (tmp_path / "e.db").stat().st_size == 0


def test_transient_error_is_retried(sandbox, use_sandbox, monkeypatch, test_dags):
    """The contrast: a database that refuses connections is an error worth retrying."""
    use_sandbox(sandbox)
    refused = {"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "postgres", "schema": "test"}
    monkeypatch.setenv("AIRFLOW_CONN_CODEX_E2E_DOWN", json.dumps(refused))
    dag = test_dags["load_sql_code_reviews"]
    with with_retries(dag):
        run = run_dag(test_dags, dag.dag_id, start="2026-02-12", end="2026-02-13", sql_conn_id="codex_e2e_down")
    assert run.ti.state == "failed" and run.ti.try_number == RETRIES + 1
    assert sandbox.stats()["requests"]["code_reviews"] == {"200": RETRIES + 1}


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mysql", "storage"])
def test_a_value_of_the_wrong_type_fails_at_once_and_keeps_the_loaded_rows(
    kind, sandbox, make_destination, storage, use_sandbox, test_dags, capfd
):
    """An API that sends ``comments: 2.5`` (an INTEGER) fails the task on its first try, naming the value,
    and the day keeps what an earlier load wrote; on 13677ea SQLite and MariaDB stored it and PostgreSQL
    failed with its own error, retried."""
    use_sandbox(sandbox)
    if kind == "storage":
        conf, dag_id = {"path": storage.url}, "load_storage_code_reviews"

        def read() -> list[dict[str, Any]]:
            return storage.read("codex_code_reviews_daily")
    else:
        dest = make_destination(kind)
        conf, dag_id = {"sql_conn_id": dest.conn_id}, "load_sql_code_reviews"

        def read() -> list[dict[str, Any]]:
            return dest.read("codex_code_reviews_daily")

    window = {"start": "2026-02-12", "end": "2026-02-14"}
    assert run_dag(test_dags, dag_id, **window, **conf).state == "success"
    before = read()
    assert len(before) == 2
    sandbox.faults.extra_row_fields = {"code_reviews": {"comments": 2.5}}
    capfd.readouterr()
    with with_retries(test_dags[dag_id]):
        run = run_dag(test_dags, dag_id, **window, **conf)
    output = capfd.readouterr().out
    assert run.ti.state == "failed" and run.ti.try_number == 1
    assert "AirflowFailException: ColumnValueError: codex_code_reviews_daily.comments: 2.5 does not fit" in output
    assert "workspace_id=" in output and "day=datetime.date(2026, 2, 12)" in output
    assert read() == before
