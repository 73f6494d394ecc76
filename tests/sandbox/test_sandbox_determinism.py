"""Same seed and config: byte-identical answers, whatever the request order. The CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from codex_testing.sandbox import DEFAULT_ANALYTICS_KEY, running_sandbox
from codex_testing.sandbox.cli import main
from codex_testing.sandbox.clock import day_start
from sandbox_helpers import AFTER, END, NEXT, NOW, SANDBOX_CONFIG, START, TODAY, path

from airflow_provider_codex.api.endpoints import (
    CODE_REVIEW_RESPONSES,
    CODEX_ENVIRONMENTS,
    CODEX_EVENT_TYPES,
    CODEX_TASKS,
    COMPLIANCE_LOG_FILE,
    COMPLIANCE_LOGS,
    EVENT_TYPE_PARAM,
    LIMIT_PARAM,
    MAX_EVENT_TIME,
    USAGE,
    USAGE_WORKSPACE,
)

WINDOW = {START: int(day_start(TODAY - timedelta(days=5)).timestamp()), END: int(NOW.timestamp())}


def answers(sandbox, reverse: bool) -> dict[str, bytes]:
    """The raw bodies of a fixed set of requests, made in the given order."""
    headers = {
        "a": {"Authorization": f"Bearer {sandbox.analytics_key}"},
        "c": {"Authorization": f"Bearer {sandbox.compliance_key}"},
    }
    requests = [
        ("a", path(sandbox, USAGE), {**WINDOW, LIMIT_PARAM: 50}),
        ("a", path(sandbox, USAGE_WORKSPACE), {**WINDOW, **USAGE_WORKSPACE.fixed_params}),
        ("a", path(sandbox, CODE_REVIEW_RESPONSES), WINDOW),
        (
            "c",
            path(sandbox, COMPLIANCE_LOGS),
            {EVENT_TYPE_PARAM: list(CODEX_EVENT_TYPES), AFTER: (NOW - timedelta(days=2)).isoformat()},
        ),
        ("c", path(sandbox, MAX_EVENT_TIME), {}),
        ("c", path(sandbox, CODEX_TASKS), {}),
        ("c", path(sandbox, CODEX_ENVIRONMENTS), {}),
    ]
    out: dict[str, bytes] = {}
    with httpx.Client(base_url=sandbox.base_url, timeout=30) as http:
        for index, (key, url, params) in (reversed if reverse else list)(list(enumerate(requests))):
            response = http.get(url, params=params, headers=headers[key])
            assert response.status_code == 200
            out[str(index)] = response.content
            if index == 0:  # the second page, through the cursor
                cursor = response.json()[NEXT.cursor_field]
                out["0-next"] = http.get(url, params={NEXT.cursor_param: cursor}, headers=headers[key]).content
        files = [f["id"] for f in httpx.Response(200, content=out["3"]).json()["data"]]
        for file_id in (reversed if reverse else list)(files[:6]):
            out[file_id] = http.get(
                path(sandbox, COMPLIANCE_LOG_FILE, log_file_id=file_id), headers=headers["c"], follow_redirects=True
            ).content
    return out


def test_two_sandboxes_with_the_same_seed_answer_identically_in_any_order():
    with running_sandbox(**SANDBOX_CONFIG) as one, running_sandbox(**SANDBOX_CONFIG) as two:
        assert one.base_url != two.base_url
        first, second = answers(one, reverse=False), answers(two, reverse=True)
    assert first == second
    assert len(first) == 7 + 1 + 6
    with running_sandbox(**{**SANDBOX_CONFIG, "seed": 8}) as other:
        third = answers(other, reverse=False)
    assert first["0"] != third["0"]
    assert first["3"] != third["3"]


def test_the_cli_serves_until_sigterm():
    command = [
        sys.executable,
        "-m",
        "codex_testing.sandbox",
        "--port",
        "0",
        "--today",
        TODAY.isoformat(),
        "--now",
        NOW.isoformat(),
        "--users",
        "5",
        "--events-per-day",
        "50",
        "--fault",
        "fail_429_first_n=1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        base_url = first_line.split()[3]
        lines = [process.stdout.readline() for _ in range(4)]
        assert any(DEFAULT_ANALYTICS_KEY in line for line in lines)
        workspace = lines[0].split()[-1]
        url = f"{base_url}{USAGE.route().format(owner_id=workspace)}"
        with httpx.Client(headers={"Authorization": f"Bearer {DEFAULT_ANALYTICS_KEY}"}, timeout=10) as http:
            assert [http.get(url).status_code for _ in range(2)] == [429, 200]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_the_cli_refuses_a_bad_fault(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--fault", "no_such_fault=1"])
    assert exit_info.value.code == 2
    assert "no_such_fault" in capsys.readouterr().err
