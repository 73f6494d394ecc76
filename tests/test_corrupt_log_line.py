"""A compliance log line that is not a JSON object is a contract error naming the file and the line.

A small server on 127.0.0.1 lists one file whose SHA-256 matches its corrupt
body, so the download passes its integrity check: the load must stop at the bad
line, at once (no retry brings other bytes), and write nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hostile import Reply, Seen, hostile_server, json_reply

from airflow_provider_codex.api.client import CodexClient
from airflow_provider_codex.api.config import ClientConfig, Secret
from airflow_provider_codex.api.errors import CodexContractError
from airflow_provider_codex.api.retry import RetryPolicy
from airflow_provider_codex.datasets import get_dataset
from airflow_provider_codex.load import load_dataset
from airflow_provider_codex.sinks import StorageSink
from airflow_provider_codex.tables import CONTENT_FIELDS, ContentPolicy
from airflow_provider_codex.windows import Window

WORKSPACE = "11111111-2222-4333-8444-555555555555"
FILE_ID = "lf_corrupt01"


@contextmanager
def serving(body: bytes, end_time: str) -> Iterator[tuple[str, list[str]]]:
    listing = {
        "data": [
            {
                "id": FILE_ID,
                "event_type": "CODEX_LOG",
                "end_time": end_time,
                "file_name": "x.jsonl",
                "file_size": len(body),
                "file_sha256": hashlib.sha256(body).hexdigest(),
            }
        ],
        "has_more": False,
        "last_end_time": end_time,
    }
    paths: list[str] = []

    def answer(seen: Seen) -> Reply:
        paths.append(seen.path)
        if seen.route.endswith("/logs"):
            return json_reply(listing)
        if seen.route.endswith(f"/logs/{FILE_ID}"):
            return Reply(307, headers={"Location": "/signed/file"})
        if seen.route == "/signed/file":
            return Reply(200, body)
        return Reply(404, b"{}")

    with hostile_server(answer) as server:
        yield server.base_url, paths


@pytest.mark.parametrize(
    ("body", "line", "what"),
    [
        pytest.param(b'\n{"event_id": "e1", "prompt_text": "secret pro', 2, "not valid JSON", id="truncated"),
        pytest.param(b"   \n\n[1, 2]\n", 3, "a JSON list, not an object", id="list"),
    ],
)
def test_a_corrupt_log_line_fails_at_once_naming_file_and_line(tmp_path: Path, body: bytes, line: int, what: str):
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    window = Window(day, day + timedelta(days=1))
    with serving(body, (day + timedelta(hours=1)).isoformat().replace("+00:00", "Z")) as (base_url, seen):
        config = ClientConfig(
            base_url=base_url,
            workspace_id=WORKSPACE,
            compliance_api_key=Secret("sk-test-compliance"),
            retry=RetryPolicy(max_attempts=3, backoff_max=0.01),
        )
        lake = tmp_path / "lake"
        lake.mkdir()
        with CodexClient(config) as client, pytest.raises(CodexContractError) as failed:
            load_dataset(
                client,
                get_dataset("compliance_events"),
                window,
                StorageSink(str(lake)),
                content_policy=ContentPolicy.from_mapping(dict.fromkeys(CONTENT_FIELDS, "drop")),
            )
    message = str(failed.value)
    assert f"compliance log file '{FILE_ID}', line {line}: {what}" in message
    assert "secret pro" not in message
    assert [p.split("?")[0].rsplit("/", 1)[-1] for p in seen] == ["logs", FILE_ID, "file"]  # no retry
    assert not any(lake.rglob("*.*"))


def test_a_corrupt_log_line_fails_the_task_on_its_first_try(tmp_path: Path, monkeypatch, test_dags, capfd):
    """Through the operator: the task has retries, yet fails at once, and the destination stays empty."""
    day = datetime.now(UTC).date() - timedelta(days=2)
    end_time = f"{day.isoformat()}T01:00:00Z"
    with serving(b'\n{"event_id": "e2", "prom', end_time) as (base_url, seen):
        extra = {"workspace_id": WORKSPACE, "compliance_api_key": "sk-test-compliance", "content_hash_secret": "s"}
        monkeypatch.setenv(
            "AIRFLOW_CONN_CODEX_DEFAULT", json.dumps({"conn_type": "codex", "host": base_url, "extra": extra})
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_CODEX_CORRUPT_DB", json.dumps({"conn_type": "sqlite", "host": f"{tmp_path}/e.db"})
        )
        dag = test_dags["load_sql_compliance_events"]
        task = dag.get_task("load")
        monkeypatch.setattr(task, "retries", 3)
        monkeypatch.setattr(task, "retry_delay", timedelta(0))
        capfd.readouterr()
        conf = {
            "start": day.isoformat(),
            "end": (day + timedelta(days=1)).isoformat(),
            "sql_conn_id": "codex_corrupt_db",
        }
        (ti,) = dag.test(run_conf=conf).get_task_instances()
    output = capfd.readouterr().out
    assert ti.state == "failed" and ti.try_number == 1, (
        ti.try_number,
        [x for x in output.splitlines() if "Error" in x][:6],
    )
    assert "AirflowFailException" in output and f"compliance log file '{FILE_ID}', line 2: not valid JSON" in output
    assert [p.split("?")[0].rsplit("/", 1)[-1] for p in seen] == ["logs", FILE_ID, "file"]
    assert not (tmp_path / "e.db").exists() or (tmp_path / "e.db").stat().st_size == 0
