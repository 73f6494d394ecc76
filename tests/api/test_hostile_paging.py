"""Endless empty pages, over real HTTP: a run of ``MAX_EMPTY_PAGES`` empty pages that all say
``has_more`` (with a fresh cursor each time) is a paging error naming the endpoint and the cursors followed."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hostile import client_config, hostile_server, json_reply

from airflow_provider_codex.api import endpoints
from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.endpoints import CODE_REVIEWS, CODEX_TASKS, COMPLIANCE_LOGS
from airflow_provider_codex.api.errors import CodexPagingError
from airflow_provider_codex.api.paging import Pager

#: A server that gives up after this many pages (has_more false): a client without the bound ends, not hangs.
GIVES_UP_AFTER = 300


def empty_pages(endpoint, rows_every=0):
    """Empty pages with ``has_more`` and a new cursor each; a row on every ``rows_every``-th page (0: never)."""
    rule = endpoint.paging_rule
    counter = itertools.count(1)

    def answer(seen):
        n = next(counter)
        rows = [{"id": f"r{n}"}] if rows_every and n % rows_every == 0 else []
        more = n < GIVES_UP_AFTER
        return json_reply(
            {"object": "list", "data": rows, "has_more": more, rule.cursor_field: f"2026-03-0{n % 9}T{n}"}
        )

    return answer


@pytest.mark.parametrize("endpoint", [CODE_REVIEWS, COMPLIANCE_LOGS, CODEX_TASKS], ids=lambda e: e.name)
def test_a_run_of_empty_pages_with_has_more_is_a_paging_error(endpoint):
    params = [("event_type", "CODEX_LOG"), ("after", "2026-03-04T00:00:00Z")] if endpoint is COMPLIANCE_LOGS else []
    with (
        hostile_server(empty_pages(endpoint)) as server,
        CodexClient(client_config(server.base_url)) as client,
        pytest.raises(CodexPagingError) as caught,
    ):
        list(client.iter_pages(endpoint, params))
    limit = endpoints.MAX_EMPTY_PAGES
    message = str(caught.value)
    assert endpoint.name in message
    assert f"{limit} empty pages in a row" in message and f"{limit - 1} cursors followed" in message
    assert len(server.requests) == limit


def test_the_async_face_stops_the_same_run():
    async def run(base_url):
        async with AsyncCodexClient(client_config(base_url)) as client:
            return [page async for page in client.iter_pages(CODE_REVIEWS)]

    with hostile_server(empty_pages(CODE_REVIEWS)) as server, pytest.raises(CodexPagingError):
        asyncio.run(asyncio.wait_for(run(server.base_url), 30))
    assert len(server.requests) == endpoints.MAX_EMPTY_PAGES


def test_empty_pages_between_rows_are_walked_through():
    # An empty page now and then is within the contract ("never stop on a short page").
    with (
        hostile_server(empty_pages(CODE_REVIEWS, rows_every=endpoints.MAX_EMPTY_PAGES - 1)) as server,
        CodexClient(client_config(server.base_url)) as client,
    ):
        pages = list(client.iter_pages(CODE_REVIEWS))
    assert len(pages) == GIVES_UP_AFTER


def test_a_resumed_walk_counts_its_starting_cursor():
    pager = Pager(CODE_REVIEWS, cursor="resume-here")
    for n in range(endpoints.MAX_EMPTY_PAGES - 1):
        pager.advance({"data": [], "has_more": True, "next_page": f"c{n}"})
    with pytest.raises(CodexPagingError, match=f"{endpoints.MAX_EMPTY_PAGES} cursors followed"):
        pager.advance({"data": [], "has_more": True, "next_page": "last"})
