"""Compliance records -> codex_compliance_events, the content policy, snapshots."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime

import pytest
from table_examples import LOADED_AT, SECRET_PROMPT, SECRET_RESPONSE, SECRET_TOOL

from airflow_provider_codex.tables import (
    CODEX_ENVIRONMENTS,
    CODEX_TASKS,
    COMPLIANCE_EVENTS,
    ContentAction,
    ContentPolicy,
    FlattenContext,
    flatten_codex_environments,
    flatten_codex_tasks,
    flatten_compliance_events,
)
from airflow_provider_codex.tables.schema import ColumnValueError

SALT = "pepper"


def hmac_hex(text: str) -> str:
    return hmac.new(SALT.encode(), text.encode(), hashlib.sha256).hexdigest()


def flatten(records, **policy):
    ctx = FlattenContext("ws-1", LOADED_AT, content_policy=ContentPolicy(salt=SALT, **policy))
    return [r for _, r in flatten_compliance_events(records, ctx)]


def all_text(record) -> str:
    return json.dumps(record, default=str)


def test_codex_log_record_columns(log_record):
    [row] = flatten([log_record], prompt_text="keep", response_text="keep", tool_input="keep")
    assert row == {
        "workspace_id": "ws-1",
        "event_id": "evt_1",
        "day": date(2025, 11, 1),
        "timestamp": datetime(2025, 11, 1, 23, 59, 59, 500000, tzinfo=UTC),
        "event_type": "CODEX_LOG",
        "event_subtype": "PROMPT_SENT",
        "actor_type": "ACCOUNT_USER",
        "actor_user_id": "user-abc",
        "actor_email": "a@example.com",
        "principal_id": "user-abc",
        "principal_type": "USER",
        "client_id": "CODEX_CLI",
        "session_id": "sess_1",
        "model": "gpt-5.2-codex",
        "input_tokens": 100,
        "output_tokens": None,
        "cached_input_tokens": 20,
        "reasoning_output_tokens": 5,
        "decision": "approved",
        "client_ip": "203.0.113.7",
        "user_agent": "codex-cli/1.0",
        "prompt_text": SECRET_PROMPT,
        "response_text": SECRET_RESPONSE,
        "tool_input": SECRET_TOOL,
        "record_json": row["record_json"],
        "loaded_at": LOADED_AT,
    }
    assert json.loads(row["record_json"]) == log_record
    assert set(row) == set(COMPLIANCE_EVENTS.column_names)


@pytest.mark.parametrize("salt_length", [1, 16, 63, 64, 65, 200])
def test_hash_is_the_standard_librarys_hmac_sha256(salt_length):
    """The policy's own HMAC (pads hashed once) against ``hmac`` itself: keys past a block are hashed first."""
    salt = (bytes(range(1, 256)) * 2)[:salt_length]
    policy = ContentPolicy(salt=salt)
    for text in ["", "a", "é" * 40, "x" * 63, "y" * 64, "z" * 1000, "\x00 nul"]:
        assert policy.hash_text(text) == hmac.new(salt, text.encode(), hashlib.sha256).hexdigest()
    assert repr(salt) not in repr(policy)


def test_default_policy_hashes_everywhere(log_record):
    log_record["event_details"]["tool_input"] = SECRET_TOOL  # nested copies are covered too
    log_record["extra"] = [{"prompt_text": SECRET_PROMPT}]
    [row] = flatten([log_record])
    assert row["prompt_text"] == hmac_hex(SECRET_PROMPT)
    assert row["response_text"] == hmac_hex(SECRET_RESPONSE)
    assert row["tool_input"] == hmac_hex(SECRET_TOOL)
    assert "AKIA" not in all_text(row)
    stored = json.loads(row["record_json"])
    assert stored["prompt_text"] == hmac_hex(SECRET_PROMPT)
    assert stored["event_details"]["tool_input"] == hmac_hex(SECRET_TOOL)
    assert stored["extra"][0]["prompt_text"] == hmac_hex(SECRET_PROMPT)
    assert log_record["prompt_text"] == SECRET_PROMPT  # the input is not modified


def test_drop_nulls_the_field_and_its_json_copy(log_record):
    [row] = flatten([log_record], prompt_text="drop", response_text="drop", tool_input="keep")
    assert row["prompt_text"] is None and row["response_text"] is None
    assert row["tool_input"] == SECRET_TOOL
    stored = json.loads(row["record_json"])
    assert stored["prompt_text"] is None and stored["response_text"] is None
    assert SECRET_PROMPT not in row["record_json"] and SECRET_RESPONSE not in row["record_json"]


def test_mixed_policy(log_record):
    [row] = flatten([log_record], prompt_text="keep", response_text="hash", tool_input="drop")
    assert row["prompt_text"] == SECRET_PROMPT
    assert row["response_text"] == hmac_hex(SECRET_RESPONSE)
    assert row["tool_input"] is None
    assert SECRET_RESPONSE not in row["record_json"] and SECRET_TOOL not in row["record_json"]


def test_structured_tool_input_is_json_text_or_hash_of_canonical_json(log_record):
    log_record["tool_input"] = {"cmd": SECRET_TOOL, "args": [1, 2]}
    [kept] = flatten([log_record], tool_input="keep")
    assert json.loads(kept["tool_input"]) == {"cmd": SECRET_TOOL, "args": [1, 2]}
    [hashed] = flatten([log_record])
    assert hashed["tool_input"] == hmac_hex('{"args":[1,2],"cmd":"' + SECRET_TOOL + '"}')
    assert "AKIA" not in all_text(hashed)


def test_security_log_and_unknown_fields_are_kept_whole():
    record = {
        "event_id": "evt_sec",
        "type": "CODEX_SECURITY_LOG",
        "timestamp": "2025-11-02T01:00:00+02:00",
        "something_new": {"deep": [1, 2, 3]},
        "flag": True,
    }
    [row] = flatten([record])
    assert row["event_type"] == "CODEX_SECURITY_LOG"
    assert row["day"] == date(2025, 11, 1)  # 23:00 UTC the day before
    assert row["event_subtype"] is None and row["model"] is None and row["input_tokens"] is None
    assert json.loads(row["record_json"]) == record


def test_days_filter_and_required_fields(log_record):
    ctx = FlattenContext(
        "ws-1", LOADED_AT, days=frozenset({date(2025, 11, 2)}), content_policy=ContentPolicy(salt=SALT)
    )
    assert list(flatten_compliance_events([log_record], ctx)) == []
    with pytest.raises(ValueError, match="event_id"):
        flatten([{"timestamp": "2025-11-01T00:00:00Z"}])
    with pytest.raises(ValueError, match="timestamp"):
        flatten([{"event_id": "e", "timestamp": "yesterday"}])
    with pytest.raises(ValueError, match="content policy"):
        list(flatten_compliance_events([log_record], FlattenContext("ws-1", LOADED_AT)))


@pytest.mark.parametrize(
    "timestamp",
    [
        1e20,
        -1e20,
        float("nan"),
        10**30,
        "9999-12-31T23:00:00-05:00",
        "0001-01-01T00:00:00+05:00",
        "0999-12-31",
        "2025-02-30T00:00:00Z",
        "",
        None,
        {"at": 1},
        [1],
        True,
    ],
)
def test_a_timestamp_no_destination_can_store_is_a_contract_error(log_record, timestamp):
    """On 13677ea 1e20 and the offsets past year 9999 raised raw ValueError/OverflowError."""
    log_record["timestamp"] = timestamp
    with pytest.raises(ColumnValueError, match=r"codex_compliance_events, event_id=.*: timestamp: .*expected"):
        flatten([log_record])


def test_policy_validation():
    with pytest.raises(ValueError, match="salt"):
        ContentPolicy()
    with pytest.raises(ValueError, match="salt"):
        ContentPolicy(prompt_text="keep", salt="")
    with pytest.raises(ValueError, match="not one of"):
        ContentPolicy(prompt_text="encrypt", salt=SALT)  # type: ignore[arg-type]
    assert ContentPolicy(prompt_text="drop", response_text="keep", tool_input="drop").salt is None
    policy = ContentPolicy.from_mapping({"prompt_text": "keep"}, salt=SALT)
    assert policy.prompt_text is ContentAction.KEEP and policy.tool_input is ContentAction.HASH
    assert SALT not in repr(policy)
    with pytest.raises(ValueError, match="unknown fields"):
        ContentPolicy.from_mapping({"prompt": "keep"}, salt=SALT)


def test_snapshots():
    ctx = FlattenContext("ws-1", LOADED_AT)
    tasks = [{"id": "task_1", "status": "done", "nested": {"a": 1}}, {"id": 7}]
    rows = list(flatten_codex_tasks(tasks, ctx))
    assert [n for n, _ in rows] == [CODEX_TASKS.name] * 2
    first = rows[0][1]
    assert first["snapshot_day"] == LOADED_AT.date() and first["id"] == "task_1"
    assert json.loads(first["record_json"]) == tasks[0]
    assert rows[1][1]["id"] == "7"
    assert CODEX_TASKS.key == ("workspace_id", "snapshot_day", "id")
    assert CODEX_TASKS.partition == ("workspace_id", "snapshot_day")
    ctx_day = FlattenContext("ws-1", LOADED_AT, snapshot_day=date(2025, 1, 1))
    [(name, env)] = list(flatten_codex_environments([{"id": "env_1"}], ctx_day))
    assert name == CODEX_ENVIRONMENTS.name and env["snapshot_day"] == date(2025, 1, 1)
    with pytest.raises(ValueError, match="without an id"):
        list(flatten_codex_tasks([{"name": "x"}], ctx))
