"""The cursor loops as state machines: no I/O needed to test their rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_codex.api.endpoints import CODEX_TASKS, COMPLIANCE_LOGS, USAGE, USAGE_WORKSPACE
from airflow_provider_codex.api.errors import CodexContractError, CodexPagingError
from airflow_provider_codex.api.paging import Pager, window_params

NOV1 = datetime(2025, 11, 1, tzinfo=UTC)  # the contract example: 1761955200
NOV2 = datetime(2025, 11, 2, tzinfo=UTC)


def test_window_params_per_style():
    assert window_params(USAGE, NOV1, NOV2) == [("start_time", "1761955200"), ("end_time", "1762041600")]
    assert window_params(COMPLIANCE_LOGS, NOV1, NOV2) == [
        ("after", "2025-11-01T00:00:00Z"),
        ("before", "2025-11-02T00:00:00Z"),
    ]
    with pytest.raises(ValueError, match="empty window"):
        window_params(USAGE, NOV2, NOV1)
    with pytest.raises(ValueError, match="timezone"):
        window_params(USAGE, NOV1.replace(tzinfo=None), NOV2)


def test_next_page_cursor_is_passed_back_unchanged_and_short_pages_do_not_stop():
    pager = Pager(USAGE_WORKSPACE, [("start_time", "1")])
    first = pager.next_params()
    assert ("group", "workspace") in first and ("limit", "30000") in first
    page = pager.advance({"data": [{"a": 1}], "has_more": True, "next_page": "a+b/c=="})
    assert page.rows == [{"a": 1}] and not pager.done  # a short page with has_more continues
    assert ("page", "a+b/c==") in pager.next_params()
    pager.advance({"data": [], "has_more": False, "next_page": None})
    assert pager.done and pager.pages_read == 2


def test_last_end_time_replaces_after_and_last_id_pages():
    pager = Pager(COMPLIANCE_LOGS, [("event_type", "CODEX_LOG"), ("after", "2026-11-01T00:00:00Z")])
    pager.advance({"data": [], "has_more": True, "last_end_time": "2026-11-01T00:15:00Z"})
    params = pager.next_params()
    assert [v for k, v in params if k == "after"] == ["2026-11-01T00:15:00Z"]
    tasks = Pager(CODEX_TASKS)
    tasks.advance({"object": "list", "data": [{"id": "t1"}], "has_more": True, "last_id": "t1"})
    assert ("after", "t1") in tasks.next_params()


def test_repeating_cursor_is_an_error_not_a_loop():
    pager = Pager(USAGE, [])
    pager.advance({"data": [], "has_more": True, "next_page": "x"})
    with pytest.raises(CodexPagingError, match="same 'next_page' twice"):
        pager.advance({"data": [], "has_more": True, "next_page": "x"})


def test_cursor_pointing_back_at_the_start_is_a_loop():
    pager = Pager(COMPLIANCE_LOGS, [("event_type", "CODEX_LOG"), ("after", "2026-11-01T00:00:00Z")])
    with pytest.raises(CodexPagingError):
        pager.advance({"data": [], "has_more": True, "last_end_time": "2026-11-01T00:00:00Z"})


def test_page_bound_stops_a_runaway_loop():
    pager = Pager(USAGE, [], max_pages=3)
    pager.advance({"data": [], "has_more": True, "next_page": "1"})
    pager.advance({"data": [], "has_more": True, "next_page": "2"})
    with pytest.raises(CodexPagingError, match="more than 3 pages"):
        pager.advance({"data": [], "has_more": True, "next_page": "3"})


@pytest.mark.parametrize(
    "body",
    [[], {"data": {}, "has_more": False}, {"data": [], "has_more": "no"}, {"data": [], "has_more": True}],
)
def test_bodies_off_the_contract_fail_loudly_with_the_body(body):
    with pytest.raises(CodexContractError, match="unexpected page body"):
        Pager(USAGE, []).advance(body)


def test_resume_from_a_cursor():
    pager = Pager(USAGE, [("start_time", "1")], cursor="resume+me")
    assert ("page", "resume+me") in pager.next_params()
    with pytest.raises(ValueError, match="limit"):
        Pager(USAGE, [], limit=30001)
