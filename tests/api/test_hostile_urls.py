"""Ids, schemes and redirects from outside, over real HTTP.

- A log-file id outside the registry's safe pattern is a contract error at listing
  time, and no request carrying a key is made for it; path parts are percent-escaped.
- An unsupported scheme in the base URL, or ``https://`` against a plain-HTTP port,
  is a permanent error that says to check the scheme: one attempt, not eight.
- A signed URL that redirects again is reported as that, never as a SHA-256 mismatch;
  one fresh signed URL is asked for, a loop is not retried.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime

import pytest
from hostile import COMPLIANCE_KEY, WORKSPACE, Reply, client_config, hostile_server, json_reply

from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.core import ClientCore
from airflow_provider_codex.api.downloads import LogFile
from airflow_provider_codex.api.endpoints import CODE_REVIEWS
from airflow_provider_codex.api.errors import CodexConfigError, CodexContractError
from airflow_provider_codex.api.retry import RetryPolicy

DAY = datetime(2026, 3, 4, tzinfo=UTC)
BODY = b'{"event_id": "e1"}\n'
SHA = hashlib.sha256(BODY).hexdigest()
UNSAFE_IDS = ["../../../analytics/codex/workspaces/x/usage", "..", ".", "a/b", "lf 1", "%2e%2e", "x" * 201, "", 7, None]


def listing(file_id):
    entry = {"id": file_id, "event_type": "CODEX_LOG", "end_time": "2026-03-04T00:15:00Z", "file_sha256": SHA}
    return json_reply({"data": [entry], "has_more": False, "last_end_time": "2026-03-04T00:15:00Z"})


def list_and_download(client):
    for file in client.iter_log_files(["CODEX_LOG"], DAY):
        client.download_log_file(file)


@pytest.mark.parametrize("file_id", UNSAFE_IDS)
def test_an_unsafe_log_file_id_is_refused_at_listing_time(file_id):
    with (
        hostile_server(lambda seen: listing(file_id)) as server,
        CodexClient(client_config(server.base_url)) as client,
        pytest.raises(CodexContractError, match=r"log_file_id .* is not a safe path part") as caught,
    ):
        list_and_download(client)
    assert server.routes() == [f"/v1/compliance/workspaces/{WORKSPACE}/logs"]  # nothing else was asked
    assert "no request is made" in str(caught.value)


def test_the_async_face_refuses_the_same_id():
    async def run(base_url):
        async with AsyncCodexClient(client_config(base_url)) as client:
            return [f async for f in client.iter_log_files(["CODEX_LOG"], DAY)]

    with hostile_server(lambda seen: listing("../usage")) as server, pytest.raises(CodexContractError):
        asyncio.run(asyncio.wait_for(run(server.base_url), 30))
    assert len(server.requests) == 1


@pytest.mark.parametrize("file_id", UNSAFE_IDS[:4])
def test_no_request_is_made_for_an_unsafe_id_however_it_arrives(file_id):
    made = LogFile(file_id, "CODEX_LOG", "2026-03-04T00:15:00Z", None, None, SHA, {})
    with (
        hostile_server(lambda seen: Reply(500)) as server,
        CodexClient(client_config(server.base_url)) as client,
        pytest.raises(CodexContractError),
    ):
        client.download_log_file(made)
    assert server.requests == []


def test_a_safe_id_is_downloaded_and_path_parts_are_escaped():
    def answer(seen):
        if seen.route == "/signed":
            return Reply(200, BODY)
        if seen.route.endswith("/logs"):
            return listing("lf_2026-03-04.part-1")
        return Reply(307, headers={"Location": "/signed?signature=abc"})

    with hostile_server(answer) as server, CodexClient(client_config(server.base_url)) as client:
        (file,) = client.iter_log_files(["CODEX_LOG"], DAY)
        assert client.download_log_file(file).read() == BODY
    assert f"/v1/compliance/workspaces/{WORKSPACE}/logs/lf_2026-03-04.part-1" in server.routes()
    core = ClientCore(client_config("http://h/v1", workspace_id="ws/../x?y=1#z"))
    assert core.url(CODE_REVIEWS) == "http://h/v1/analytics/codex/workspaces/ws%2F..%2Fx%3Fy%3D1%23z/code_reviews"


# --- schemes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["v1://127.0.0.1:{port}", "ftp://127.0.0.1:{port}/v1", "127.0.0.1:{port}/v1"])
def test_an_unsupported_scheme_is_a_permanent_error(base):
    with hostile_server(lambda seen: Reply(500)) as server:
        port = server.root.rsplit(":", 1)[1]
        with CodexClient(client_config(base.format(port=port))) as client, pytest.raises(CodexConfigError) as caught:
            list(client.iter_pages(CODE_REVIEWS))
    assert "check the scheme of the base URL" in str(caught.value)
    assert not caught.value.retryable
    assert server.connections == 0


def pages_on(face, config):
    if face == "sync":
        with CodexClient(config) as client:
            return list(client.iter_pages(CODE_REVIEWS))

    async def run():
        async with AsyncCodexClient(config) as client:
            return [p async for p in client.iter_pages(CODE_REVIEWS)]

    return asyncio.run(asyncio.wait_for(run(), 30))


@pytest.mark.parametrize("face", ["sync", "async"])
def test_https_against_a_plain_http_port_is_a_permanent_error(face):
    with hostile_server(lambda seen: Reply(500)) as server:
        config = client_config(server.base_url.replace("http://", "https://"), verify=False, retry=RetryPolicy())
        with pytest.raises(CodexConfigError) as caught:
            pages_on(face, config)
    message = str(caught.value)
    assert "does not speak TLS" in message and "check the scheme of the base URL" in message
    assert server.connections == 1  # no retries: a wrong scheme does not fix itself


# --- redirects on the signed host --------------------------------------------------------------


def signed(then):
    """The log file route answers 307 to ``/signed?signature=…``; ``/signed`` answers ``then(seen)``."""

    def answer(seen):
        if seen.route.startswith("/signed") or seen.route.startswith("/elsewhere"):
            return then(seen)
        return Reply(307, headers={"Location": "/signed?signature=sekrit-sig"})

    return answer


LISTED = LogFile("lf_1", "CODEX_LOG", "2026-03-04T00:15:00Z", "a.jsonl", len(BODY), SHA, {})


def download(server):
    with CodexClient(client_config(server.base_url)) as client:
        return client.download_log_file(LISTED)


def test_a_signed_url_that_redirects_again_is_reported_as_such():
    moved = signed(lambda seen: Reply(302, headers={"Location": "/elsewhere/file?signature=other-sig"}))
    with hostile_server(moved) as server, pytest.raises(CodexContractError) as caught:
        download(server)
    message = str(caught.value)
    assert "the signed URL redirected again (302), to http://127.0.0.1:" in message
    assert "/elsewhere/file?<signature redacted>" in message and "a fresh signed URL did not help" in message
    assert "SHA-256" not in message
    assert "sekrit-sig" not in message and "other-sig" not in message
    api_route = f"/v1/compliance/workspaces/{WORKSPACE}/logs/lf_1"
    assert server.routes() == [api_route, "/signed", api_route, "/signed"]  # one fresh signed URL, then no more
    assert all("authorization" not in seen.headers for seen in server.requests if seen.route == "/signed")


def test_a_redirect_loop_on_the_signed_host_is_not_retried():
    loop = signed(lambda seen: Reply(307, headers={"Location": seen.path}))
    with hostile_server(loop) as server, pytest.raises(CodexContractError, match="itself: a redirect loop"):
        download(server)
    assert server.routes().count("/signed") == 1


def test_a_fresh_signed_url_after_one_redirect_is_downloaded():
    served = []

    def then(seen):
        served.append(seen)
        return Reply(302, headers={"Location": "/elsewhere"}) if len(served) == 1 else Reply(200, BODY)

    with hostile_server(signed(then)) as server:
        assert download(server).read() == BODY
    assert COMPLIANCE_KEY not in repr(server.requests[1].headers)  # the signed host never saw the key
