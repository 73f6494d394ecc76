"""A total deadline per attempt (``request_deadline``), over a real socket that trickles a byte at a time.

Each byte arrives well within the per-read timeout, so only the deadline ends
the exchange: in the headers, in a JSON body, in a log file download; on both
faces. A passed deadline is a retryable timeout: the client tries again, then
reports it, naming the connection field.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from hostile import Reply, client_config, hostile_server, trickle

from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.downloads import LogFile
from airflow_provider_codex.api.endpoints import CODE_REVIEWS
from airflow_provider_codex.api.errors import CodexTransportError
from airflow_provider_codex.api.retry import RetryPolicy

#: An answer whose head never ends: one more header byte every 50 ms.
SLOW_HEAD = trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ")
#: A whole head, then a body of a million bytes at one byte per 50 ms.
SLOW_BODY = trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n[")


def config(base_url):
    # A per-read timeout far above the trickle's pace: it never fires; only the deadline can end it.
    return client_config(
        base_url, timeout=10.0, request_deadline=0.5, retry=RetryPolicy(max_attempts=2, backoff_base=0.01)
    )


def check(caught, server):
    message = str(caught.value)
    assert "request_deadline" in message and "connection 'hostile'" in message
    assert caught.value.retryable
    assert len(server.requests) == 2  # retried once, then reported


@pytest.mark.parametrize("answer", [SLOW_HEAD, SLOW_BODY], ids=["headers", "body"])
def test_a_trickling_answer_ends_at_the_deadline(answer):
    with (
        hostile_server(lambda seen: answer) as server,
        CodexClient(config(server.base_url)) as client,
        pytest.raises(CodexTransportError) as caught,
    ):
        list(client.iter_pages(CODE_REVIEWS))
    check(caught, server)


@pytest.mark.parametrize("answer", [SLOW_HEAD, SLOW_BODY], ids=["headers", "body"])
def test_a_trickling_answer_ends_at_the_deadline_on_the_async_face(answer):
    async def run(base_url):
        async with AsyncCodexClient(config(base_url)) as client:
            return [page async for page in client.iter_pages(CODE_REVIEWS)]

    with hostile_server(lambda seen: answer) as server, pytest.raises(CodexTransportError) as caught:
        asyncio.run(asyncio.wait_for(run(server.base_url), 30))
    check(caught, server)


def signed_download(body_answer):
    """The log file route redirects to ``/signed``, whose answer is ``body_answer``."""

    def answer(seen):
        if seen.route == "/signed":
            return body_answer
        return Reply(307, headers={"Location": "/signed?signature=s3cr3t"})

    return answer


LISTED = LogFile("lf_1", "CODEX_LOG", "2026-03-04T00:15:00Z", "a.jsonl", 10, hashlib.sha256(b"").hexdigest(), {})


def download(face, base_url):
    if face == "sync":
        with CodexClient(config(base_url)) as client:
            return client.download_log_file(LISTED)

    async def run():
        async with AsyncCodexClient(config(base_url)) as client:
            return await client.download_log_file(LISTED)

    return asyncio.run(asyncio.wait_for(run(), 30))


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_trickling_download_ends_at_the_deadline(face):
    with hostile_server(signed_download(SLOW_BODY)) as server, pytest.raises(CodexTransportError) as caught:
        download(face, server.base_url)
    assert "request_deadline" in str(caught.value)
    assert server.routes().count("/signed") == 2  # the signed URL was tried again, then reported


def test_an_answer_within_the_deadline_is_read_whole():
    body = b'{"object": "page", "data": [{"n": 1}], "has_more": false, "next_page": null}'
    with (
        hostile_server(lambda seen: Reply(200, body, {"Content-Type": "application/json"})) as server,
        CodexClient(config(server.base_url)) as client,
    ):
        assert [row for page in client.iter_pages(CODE_REVIEWS) for row in page.rows] == [{"n": 1}]
        assert [row for page in client.iter_pages(CODE_REVIEWS) for row in page.rows] == [{"n": 1}]
    assert len(server.requests) == 2 and server.connections == 1  # the pooled connection outlived a deadline
