"""No key in any error, over real HTTP, from a server that echoes the ``Authorization`` header into each kind of body.

The echo lands wherever an error quotes what the server sent: a page that is
off the envelope, a body that is not JSON, a log listing entry, the freshness
answer, an error status, a ``Retry-After``, a redirect. Every message, ``repr``,
traceback, ``body``, ``detail`` and provider log line is checked for any 12-character
piece of either key (an excerpt cut in the middle of a key must not show half).
"""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest
from hostile import Reply, client_config, hostile_server, json_reply, leaked_pieces

from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.downloads import LogFile
from airflow_provider_codex.api.endpoints import CODE_REVIEWS, CODEX_TASKS
from airflow_provider_codex.api.errors import CodexError
from airflow_provider_codex.api.retry import RetryPolicy

AFTER = "2026-03-04T00:00:00Z"


def page(value):
    return {"object": "page", "data": value, "has_more": False, "next_page": None}


def pages(client):
    return list(client.iter_pages(CODE_REVIEWS))


def log_files(client):
    from datetime import UTC, datetime

    return list(client.iter_log_files(["CODEX_LOG"], datetime(2026, 3, 4, tzinfo=UTC)))


def freshness(client):
    return client.max_event_time(["CODEX_LOG"])


def download(client):
    listed = LogFile("lf_1", "CODEX_LOG", AFTER, "a.jsonl", 1, "0" * 64, {})
    return client.download_log_file(listed)


def tasks(client):
    return list(client.iter_pages(CODEX_TASKS))


#: (what the client calls, how the server answers given the echoed header)
CASES = {
    "page is a list": (pages, lambda auth: json_reply([auth])),
    "page data is not a list": (pages, lambda auth: json_reply(page(auth))),
    "page has_more without a cursor": (tasks, lambda auth: json_reply({"data": [], "has_more": True, "echo": auth})),
    "key cut by the excerpt": (pages, lambda auth: json_reply(page("x" * 450 + auth))),
    "body is not JSON": (pages, lambda auth: Reply(200, f"<html>{auth}</html>".encode())),
    "listing entry lacks a field": (log_files, lambda auth: json_reply(page([{"id": "lf_1", "echo": auth}]))),
    "listing entry is not an object": (log_files, lambda auth: json_reply(page([auth]))),
    "listing id is unsafe": (
        log_files,
        lambda auth: json_reply(
            page([{"id": auth, "event_type": "CODEX_LOG", "end_time": AFTER, "file_sha256": "0" * 64}])
        ),
    ),
    "freshness body off the contract": (freshness, lambda auth: json_reply({"echo": auth})),
    "freshness time is not a time": (freshness, lambda auth: json_reply({"max_event_time": {"CODEX_LOG": auth}})),
    "401": (pages, lambda auth: json_reply({"error": {"message": f"bad {auth}"}}, 401)),
    "404": (freshness, lambda auth: json_reply({"error": {"message": f"no {auth}"}}, 404)),
    "422 detail": (pages, lambda auth: json_reply({"detail": [{"loc": ["header"], "msg": auth}]}, 422)),
    "418": (pages, lambda auth: Reply(418, auth.encode())),
    "503 after retries": (pages, lambda auth: json_reply({"error": auth}, 503)),
    "429 Retry-After": (pages, lambda auth: json_reply({"error": auth}, 429, **{"Retry-After": auth})),
    "redirect to the key": (
        download,
        lambda auth: Reply(307, headers={"Location": "/v1/" + auth.replace(" ", "/") + "?sig=1"}),
    ),
}


def everything_printed(error, caplog):
    # The provider's own log lines: httpx and httpcore log URLs and headers at DEBUG/INFO, which
    # Airflow's masker redacts in task logs (the hook registers each key with mask_secret).
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("airflow_provider_codex")]
    parts = [str(error), repr(error), "".join(traceback.format_exception(error)), *ours]
    parts += [str(getattr(error, "body", "")), repr(getattr(error, "detail", None))]
    return "\n".join(parts)


@pytest.mark.parametrize("case", CASES)
def test_an_echoed_key_appears_in_no_error_and_no_log_line(case, caplog):
    call, echo = CASES[case]
    caplog.set_level(logging.DEBUG)
    with hostile_server(lambda seen: echo(seen.headers.get("authorization", ""))) as server:
        config = client_config(server.base_url, retry=RetryPolicy(max_attempts=2, backoff_base=0, max_retry_after=0))
        with CodexClient(config) as client, pytest.raises(CodexError) as caught:
            call(client)
    assert server.requests, "the server was asked"
    assert leaked_pieces(everything_printed(caught.value, caplog)) == []


@pytest.mark.parametrize("case", ["page is a list", "freshness time is not a time", "listing id is unsafe"])
def test_the_async_face_redacts_the_same(case, caplog):
    call, echo = CASES[case]

    async def run(base_url):
        async with AsyncCodexClient(client_config(base_url)) as client:
            if call is pages:
                return [p async for p in client.iter_pages(CODE_REVIEWS)]
            if call is log_files:
                from datetime import UTC, datetime

                return [f async for f in client.iter_log_files(["CODEX_LOG"], datetime(2026, 3, 4, tzinfo=UTC))]
            return await client.max_event_time(["CODEX_LOG"])

    with (
        hostile_server(lambda seen: echo(seen.headers.get("authorization", ""))) as server,
        pytest.raises(CodexError) as caught,
    ):
        asyncio.run(asyncio.wait_for(run(server.base_url), 30))
    assert leaked_pieces(everything_printed(caught.value, caplog)) == []


def test_redaction_keeps_the_rest_of_the_message():
    with (
        hostile_server(lambda seen: json_reply([seen.headers["authorization"], "kept"])) as server,
        CodexClient(client_config(server.base_url)) as client,
        pytest.raises(CodexError) as caught,
    ):
        pages(client)
    assert "code_reviews: unexpected page body" in str(caught.value)
    assert "Bearer ***" in str(caught.value) and "kept" in str(caught.value)
