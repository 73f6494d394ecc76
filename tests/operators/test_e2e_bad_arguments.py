"""A connection typed wrong or an argument of the wrong kind fails the task at once, before anything is written.

Same harness as ``test_e2e_permanent_errors``: the task has retries, yet ends
``failed`` on its first try, with no request made and no destination file.
"""

from __future__ import annotations

import json

import pytest
from codex_e2e import codex_connection, run_dag
from test_e2e_permanent_errors import RETRIES, api_requests, with_retries

CASES = {
    # case: (connection JSON from the sandbox, lookback_days, messages the log must show)
    "timeout not a number": (
        lambda s: codex_connection(s, timeout="fast"),
        0,
        ("CodexConfigError", "'timeout' must be a number above 0", "fix the 'timeout' field"),
    ),
    "negative timeout": (lambda s: codex_connection(s, timeout=-1), 0, ("'timeout' must be a number above 0",)),
    "extra is a list": (
        lambda s: json.dumps({"conn_type": "codex", "host": s.base_url, "extra": [s.analytics_key]}),
        0,
        ("CodexConfigError", "its extra is a JSON list, not an object"),
    ),
    "extra is not JSON": (
        lambda s: json.dumps({"conn_type": "codex", "host": s.base_url, "extra": "workspace_id=x"}),
        0,
        ("CodexConfigError", "its extra is not valid JSON"),
    ),
    "workspace id with a path": (
        lambda s: codex_connection(s, workspace_id=f"{s.workspace_id}/usage?x="),
        0,
        ("CodexConfigError", "'workspace_id' must be a UUID", "with the id alone"),
    ),
    "lookback_days not a number": (
        codex_connection,
        "abc",
        ("WindowError", "lookback_days must be a whole number of days from 0 to 3650", "got 'abc'"),
    ),
    "lookback_days too large": (codex_connection, 10**6, ("WindowError", "from 0 to 3650", "got 1000000")),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_argument_fails_at_once(case, sandbox, tmp_path, monkeypatch, test_dags, capfd):
    connection, lookback_days, messages = CASES[case]
    monkeypatch.setenv("AIRFLOW_CONN_CODEX_DEFAULT", connection(sandbox))
    monkeypatch.setenv("AIRFLOW_CONN_CODEX_E2E_BAD", json.dumps({"conn_type": "sqlite", "host": f"{tmp_path}/e.db"}))
    dag = test_dags["load_sql_code_reviews"]
    task = dag.get_task("load")
    monkeypatch.setattr(task, "lookback_days", lookback_days)
    capfd.readouterr()
    with with_retries(dag):
        run = run_dag(test_dags, dag.dag_id, start="2026-02-12", end="2026-02-13", sql_conn_id="codex_e2e_bad")
    output = capfd.readouterr().out
    assert run.ti.state == "failed", f"{case}: task ended {run.ti.state}"
    assert run.ti.try_number == 1 and run.ti.max_tries == RETRIES
    assert "AirflowFailException" in output
    for message in messages:
        assert message in output, f"{case}: the log does not say {message!r}"
    assert sandbox.analytics_key not in output
    assert api_requests(sandbox) == 0, sandbox.stats()["requests"]
    assert not (tmp_path / "e.db").exists() or (tmp_path / "e.db").stat().st_size == 0
