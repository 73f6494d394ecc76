"""CodexHook: an Airflow connection of type codex -> clients, helpers and test_connection."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from airflow_provider_codex.api.endpoints import USAGE
from airflow_provider_codex.api.errors import CodexConfigError
from airflow_provider_codex.api.paging import window_params
from airflow_provider_codex.api.retry import RetryPolicy
from airflow_provider_codex.hooks.codex import CodexHook

DAY = date(2026, 2, 20)
START = datetime(2026, 2, 20, tzinfo=UTC)


def test_config_comes_from_the_connection(sandbox, codex_conn):
    hook = CodexHook(codex_conn(timeout=12, verify_ssl="false", requests_per_minute=1000))
    config = hook.config
    assert config.base_url == sandbox.base_url
    assert config.workspace_id == sandbox.workspace_id
    assert config.timeout == 12
    assert config.verify is False
    assert config.requests_per_minute == 1000
    assert config.analytics_api_key.reveal() == sandbox.analytics_key
    assert sandbox.analytics_key not in repr(config)
    assert hook.content_hash_secret.reveal() == "pepper"
    assert config.rate_period == 60  # the default: requests_per_minute is per minute


def test_rate_period_comes_from_the_connection(codex_conn):
    config = CodexHook(codex_conn(requests_per_minute=30, rate_period_seconds="0.5")).config
    assert (config.requests_per_minute, config.rate_period) == (30, 0.5)


def test_hooks_of_one_process_pace_together(sandbox, codex_conn):
    # The sandbox allows 30 requests per compressed minute of 0.5 s per route; so does the connection.
    sandbox.faults.replace_all({"rate_limit_per_minute": 30, "time_scale": 120})
    conn_id = codex_conn(requests_per_minute=30, rate_period_seconds=0.5)
    hooks = [CodexHook(conn_id, retry=RetryPolicy(max_attempts=1)) for _ in range(3)]
    assert hooks[0].client.core.limiter_for(USAGE) is hooks[1].client.core.limiter_for(USAGE)
    pages = [
        hook.client.iter_pages(USAGE, window_params(USAGE, START, START + timedelta(days=3)), limit=1) for hook in hooks
    ]
    # Interleaved, as tasks running side by side are: one request of each hook in turn.
    fetched = 0
    for batch in zip(*pages, strict=True):
        fetched += len(batch)
    assert fetched > 60  # more than two windows' worth
    assert sandbox.stats()["responses_429"] == 0  # and with max_attempts=1, a 429 would have failed
    for hook in hooks:
        hook.close()


def test_rows_of_a_window_through_the_hook(sandbox, codex_conn):
    hook = CodexHook(codex_conn())
    rows = list(hook.iter_rows("code_reviews", START, START + timedelta(days=3)))
    assert rows == [r for i in range(3) for r in sandbox.data.code_review_rows(DAY + timedelta(days=i))]
    assert list(hook.iter_list("codex_tasks")) == sandbox.data.tasks()
    files = list(hook.iter_log_files(START, START + timedelta(days=1), grace=timedelta(hours=6)))
    assert files
    assert all(f.end_time > "2026-02-20" for f in files)


def test_a_missing_key_names_the_field_to_fill(codex_conn):
    hook = CodexHook(codex_conn(compliance_api_key=None))
    with pytest.raises(CodexConfigError, match="'compliance_api_key'"):
        list(hook.iter_log_files(START, START + timedelta(days=1)))


def test_test_connection_checks_each_key(sandbox, codex_conn):
    ok, message = CodexHook(codex_conn()).test_connection()
    assert ok, message
    assert "analytics: OK" in message
    assert "compliance: OK" in message


def test_test_connection_says_which_key_failed_and_why(sandbox, codex_conn):
    ok, message = CodexHook(codex_conn(compliance_api_key="sk-revoked")).test_connection()
    assert not ok
    assert "analytics: OK" in message
    assert "compliance: FAILED" in message
    assert "compliance_api_key" in message
    assert "sk-revoked" not in message

    ok, message = CodexHook(codex_conn(compliance_api_key=sandbox.analytics_key)).test_connection()
    assert not ok
    assert "'read' scope" in message


def test_test_connection_without_any_key(codex_conn):
    ok, message = CodexHook(codex_conn(analytics_api_key=None, compliance_api_key=None)).test_connection()
    assert not ok
    assert "analytics_api_key" in message


def test_keys_are_registered_with_the_secrets_masker(sandbox, codex_conn, caplog):
    from airflow.sdk._shared.secrets_masker import redact
    from airflow.sdk.log import mask_logs  # noqa: F401  (the masker used by task logs)

    CodexHook(codex_conn()).config  # noqa: B018
    assert sandbox.analytics_key not in str(redact(f"key={sandbox.analytics_key}"))
    assert sandbox.compliance_key not in str(redact(f"key={sandbox.compliance_key}"))
    assert "pepper" not in str(redact("salt=pepper"))
