"""The client against the sandbox over real HTTP: paging, retries, errors, downloads."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.endpoints import (
    CODEX_ENVIRONMENTS,
    CODEX_TASKS,
    COMPLIANCE_LOGS,
    USAGE,
    USAGE_WORKSPACE,
)
from airflow_provider_codex.api.errors import (
    CodexAuthError,
    CodexIntegrityError,
    CodexNotFoundError,
    CodexPagingError,
    CodexPermissionError,
    CodexValidationError,
)
from airflow_provider_codex.api.paging import window_params
from airflow_provider_codex.api.retry import RetryPolicy

DAY = date(2026, 2, 20)
START = datetime(2026, 2, 20, tzinfo=UTC)


def window(days: int = 1):
    return window_params(USAGE, START, START + timedelta(days=days))


def served_usage(sandbox, days: int, group=None):
    return [row for i in range(days) for row in sandbox.data.usage_rows(DAY + timedelta(days=i), group=group)]


def fetch(client, endpoint=USAGE, days=3, **kw):
    return [row for page in client.iter_pages(endpoint, window(days), **kw) for row in page.rows]


def test_multi_day_window_pages_to_exactly_what_was_served(sandbox, client_config):
    with CodexClient(client_config()) as client:
        pages = list(client.iter_pages(USAGE, window(5), limit=7))
    rows = [row for page in pages for row in page.rows]
    assert rows == served_usage(sandbox, 5)
    assert len(pages) > 5  # many pages: the cursor was passed back each time
    cursors = [p.next_cursor for p in pages if p.next_cursor]
    # The sandbox's cursors hold +, / and =: they survived URL encoding, or the sandbox would 422.
    assert any(set("+/=") & set(c) for c in cursors)


def test_workspace_group_is_sent_from_the_registry(sandbox, client_config):
    with CodexClient(client_config()) as client:
        assert fetch(client, USAGE_WORKSPACE, days=2) == served_usage(sandbox, 2, group="workspace")


def test_a_429_storm_is_ridden_out(sandbox, client_config):
    sandbox.faults.retry_after = 0
    sandbox.faults.fail_429_first_n = 5
    with CodexClient(client_config()) as client:
        rows = fetch(client, limit=20)
        assert client.stats.rate_limited == 5
    assert rows == served_usage(sandbox, 3)
    assert sandbox.stats()["responses_429"] == 5


def test_retry_after_as_an_http_date_is_honoured(sandbox, client_config):
    sandbox.faults.retry_after = 1
    sandbox.faults.retry_after_format = "http-date"
    sandbox.faults.fail_429_first_n = 1
    with CodexClient(client_config()) as client:
        began = datetime.now(UTC)
        assert fetch(client, days=1) == served_usage(sandbox, 1)
        waited = (datetime.now(UTC) - began).total_seconds()
    assert waited >= 0.5  # slept on the date, not on the 10 ms backoff


def test_5xx_short_pages_and_slow_answers_lose_nothing(sandbox, client_config):
    sandbox.faults.replace_all({"fail_5xx_every": 3, "short_pages": True, "slow_ms": 5})
    with CodexClient(client_config()) as client:
        assert fetch(client, days=4, limit=30) == served_usage(sandbox, 4)
        assert client.stats.retries >= 1


def test_401_is_not_retried_and_names_the_field(sandbox, client_config):
    from airflow_provider_codex.api.config import Secret

    with (
        CodexClient(client_config(analytics_api_key=Secret("sk-wrong"))) as client,
        pytest.raises(CodexAuthError) as caught,
    ):
        fetch(client)
    assert "analytics_api_key" in str(caught.value)
    assert "sk-wrong" not in str(caught.value)
    assert sandbox.stats()["requests_total"] == 1


def test_403_names_the_missing_scope(sandbox, client_config):
    from airflow_provider_codex.api.config import Secret

    config = client_config(compliance_api_key=Secret(sandbox.analytics_key))
    with CodexClient(config) as client, pytest.raises(CodexPermissionError, match="'read' scope"):
        client.max_event_time(["CODEX_LOG"])


def test_404_for_an_unknown_workspace(sandbox, client_config):
    config = client_config(workspace_id="00000000-0000-0000-0000-000000000000")
    with CodexClient(config) as client, pytest.raises(CodexNotFoundError, match="workspace"):
        fetch(client)


def test_422_carries_the_servers_detail(sandbox, client_config):
    with CodexClient(client_config()) as client, pytest.raises(CodexValidationError) as caught:
        client.get_json(COMPLIANCE_LOGS, [("after", "2026-03-01T00:00:00Z")])  # no event_type
    assert isinstance(caught.value.detail, list)
    assert caught.value.detail
    assert sandbox.stats()["requests_total"] == 1


@pytest.mark.parametrize("endpoint", [USAGE, CODEX_TASKS, COMPLIANCE_LOGS])
def test_an_endless_cursor_is_caught(sandbox, client_config, endpoint):
    sandbox.faults.endless_cursor = True
    params = window(3) if endpoint is USAGE else []
    if endpoint is COMPLIANCE_LOGS:
        params = [("event_type", "CODEX_LOG"), ("after", "2026-02-20T00:00:00Z")]
    with CodexClient(client_config()) as client, pytest.raises(CodexPagingError, match="twice"):
        for _ in client.iter_pages(endpoint, params, limit=2):
            pass


def test_log_files_list_download_and_verify(sandbox, client_config):
    after, before = START, START + timedelta(days=1)
    with CodexClient(client_config()) as client:
        files = list(client.iter_log_files(["CODEX_LOG", "CODEX_SECURITY_LOG"], after, before))
        assert [f.id for f in files] == [
            f.id
            for f in sorted(
                sandbox.data.log_files("CODEX_LOG", after=after, before=before)
                + sandbox.data.log_files("CODEX_SECURITY_LOG", after=after, before=before),
                key=lambda f: f.end_time,
            )
        ]
        with client.download_log_file(files[0]) as verified:
            assert verified.read() == sandbox.data.log_file_bytes(files[0].id)
    stats = sandbox.stats()
    # The download host saw the request, and never an Authorization header.
    assert stats["download_requests"]
    assert all("authorization" not in name.lower() for name in stats["download_header_names"])


def test_a_corrupted_download_is_retried_and_never_returned(sandbox, client_config):
    sandbox.faults.corrupt_download_first_n = 2
    with CodexClient(client_config()) as client:
        file = next(client.iter_log_files(["CODEX_LOG"], START))
        with client.download_log_file(file) as verified:
            assert verified.read() == sandbox.data.log_file_bytes(file.id)
        assert client.stats.integrity_retries == 2

    sandbox.faults.corrupt_download_first_n = 10
    config = client_config(retry=RetryPolicy(max_attempts=3, backoff_base=0))
    with CodexClient(config) as client, pytest.raises(CodexIntegrityError, match="discarded"):
        client.download_log_file(file)


def test_client_side_limiter_keeps_under_the_service_limit(sandbox, client_config):
    # The sandbox allows 30 requests per (compressed) minute of 0.5 s per route.
    sandbox.faults.replace_all({"rate_limit_per_minute": 30, "time_scale": 120})
    config = client_config(requests_per_minute=30, rate_period=0.5)
    with CodexClient(config) as client:
        rows = fetch(client, days=8, limit=1)
        assert client.stats.requests > 60  # more than two windows' worth
    assert rows == served_usage(sandbox, 8)
    assert sandbox.stats()["responses_429"] == 0


def test_without_the_limiter_the_service_limit_bites_and_is_ridden_out(sandbox, client_config):
    sandbox.faults.replace_all({"rate_limit_per_minute": 30, "time_scale": 120})
    with CodexClient(client_config()) as client:
        rows = fetch(client, days=8, limit=1)
    assert rows == served_usage(sandbox, 8)
    assert sandbox.stats()["responses_429"] > 0


def test_organization_owner_for_compliance_logs(sandbox, client_config):
    config = client_config(workspace_id=None, organization_id=sandbox.organization_id)
    with CodexClient(config) as client:
        assert next(client.iter_log_files(["CODEX_LOG"], START)).id
        with pytest.raises(Exception, match="workspace_id"):
            list(client.iter_pages(CODEX_ENVIRONMENTS))


def test_async_client_pages_and_downloads_the_same(sandbox, client_config):
    sandbox.faults.replace_all({"fail_429_first_n": 2, "retry_after": 0, "corrupt_download_first_n": 1})

    async def run():
        async with AsyncCodexClient(client_config()) as client:
            rows = [row async for page in client.iter_pages(USAGE, window(3), limit=9) for row in page.rows]
            file = None
            async for f in client.iter_log_files(["CODEX_LOG"], START):
                file = f
                break
            verified = await client.download_log_file(file)
            return rows, file, verified.read(), client.stats

    rows, file, content, stats = asyncio.run(run())
    assert rows == served_usage(sandbox, 3)
    assert content == sandbox.data.log_file_bytes(file.id)
    assert stats.rate_limited >= 2
    assert stats.integrity_retries == 1


def test_no_key_appears_in_any_log_line_of_a_faulty_run(sandbox, client_config, caplog, capfd):
    from airflow_provider_codex.api.config import Secret

    caplog.set_level(logging.DEBUG)
    sandbox.faults.replace_all(
        {"fail_429_first_n": 2, "retry_after": 0, "fail_5xx_every": 4, "corrupt_download_first_n": 1}
    )
    messages = []
    with CodexClient(client_config()) as client:
        fetch(client, days=2, limit=5)
        file = next(client.iter_log_files(["CODEX_LOG"], START))
        client.download_log_file(file).close()
    for bad in (
        client_config(analytics_api_key=Secret(sandbox.analytics_key + "x")),
        client_config(analytics_api_key=Secret(sandbox.compliance_key)),
    ):
        with CodexClient(bad) as client, pytest.raises(Exception) as caught:
            fetch(client)
        messages.append(str(caught.value))
        messages.append(repr(caught.value))
    out, err = capfd.readouterr()
    text = "\n".join([caplog.text, out, err, *messages])
    assert "retry" in caplog.text  # the run did log its retries...
    for key in (sandbox.analytics_key, sandbox.compliance_key):
        assert key not in text  # ...and never a key
