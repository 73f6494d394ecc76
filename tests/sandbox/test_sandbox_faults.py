"""Each fault, and the control API, over real HTTP."""

from __future__ import annotations

import email.utils
import hashlib
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from codex_testing.sandbox import Faults
from codex_testing.sandbox.clock import day_start
from sandbox_helpers import AFTER, END, NOW, START, TODAY, collect, path

from airflow_provider_codex.api.endpoints import (
    CODE_REVIEWS,
    CODEX_TASKS,
    COMPLIANCE_LOG_FILE,
    COMPLIANCE_LOGS,
    EVENT_TYPE_PARAM,
    LIMIT_PARAM,
    MAX_EVENT_TIME,
    PAGING_RULES,
    USAGE,
    Paging,
)

WEEK = {
    START: int(day_start(TODAY - timedelta(days=6)).timestamp()),
    END: int(day_start(TODAY + timedelta(days=1)).timestamp()),
}


def statuses(http: httpx.Client, url: str, count: int, **params) -> list[int]:
    return [http.get(url, params=params).status_code for _ in range(count)]


def test_the_first_n_requests_of_each_route_are_429_with_retry_after(sandbox, analytics):
    sandbox.faults.fail_429_first_n = 2
    sandbox.faults.retry_after = 3
    first = analytics.get(path(sandbox, USAGE))
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "3"
    assert first.json()["error"]["type"] == "rate_limit_error"
    assert statuses(analytics, path(sandbox, USAGE), 3) == [429, 200, 200]
    assert statuses(analytics, path(sandbox, CODE_REVIEWS), 3) == [429, 429, 200]
    stats = sandbox.stats()
    assert stats["responses_429"] == 4
    assert stats["requests"][USAGE.name] == {"200": 2, "429": 2}


def test_every_kth_request_is_429_and_retry_after_can_be_an_http_date(sandbox, analytics):
    sandbox.faults.replace_all({"fail_429_every": 3, "retry_after": 30, "retry_after_format": "http-date"})
    responses = [analytics.get(path(sandbox, USAGE)) for _ in range(6)]
    assert [r.status_code for r in responses] == [200, 200, 429, 200, 200, 429]
    when = email.utils.parsedate_to_datetime(responses[2].headers["Retry-After"])
    assert timedelta(seconds=25) < when - datetime.now(UTC) <= timedelta(seconds=32)


def test_every_kth_request_is_a_5xx(sandbox, analytics):
    sandbox.faults.fail_5xx_every = 2
    assert statuses(analytics, path(sandbox, USAGE), 6) == [200, 503, 200, 502, 200, 500]


def test_slow_ms_delays_answers(sandbox, analytics):
    started = time.perf_counter()
    analytics.get(path(sandbox, CODE_REVIEWS))
    fast = time.perf_counter() - started
    sandbox.faults.slow_ms = 250
    started = time.perf_counter()
    assert analytics.get(path(sandbox, CODE_REVIEWS)).status_code == 200
    assert time.perf_counter() - started >= 0.25 > fast


def test_short_pages_hold_fewer_rows_than_the_limit_while_has_more(sandbox, analytics, compliance):
    normal, normal_pages = collect(analytics, path(sandbox, USAGE), USAGE, {**WEEK, LIMIT_PARAM: 30})
    sandbox.faults.short_pages = True
    short, short_pages = collect(analytics, path(sandbox, USAGE), USAGE, {**WEEK, LIMIT_PARAM: 30})
    assert short == normal
    assert short_pages > normal_pages * 2
    page = analytics.get(path(sandbox, USAGE), params={**WEEK, LIMIT_PARAM: 30}).json()
    assert 0 < len(page["data"]) < 30
    assert page["has_more"] is True
    logs = {EVENT_TYPE_PARAM: "CODEX_LOG", AFTER: (NOW - timedelta(days=1)).isoformat(), LIMIT_PARAM: 9}
    files, pages = collect(compliance, path(sandbox, COMPLIANCE_LOGS), COMPLIANCE_LOGS, logs)
    expected = sandbox.data.log_files("CODEX_LOG", after=NOW - timedelta(days=1))
    assert [f["id"] for f in files] == [f.id for f in expected]
    assert pages >= len(files) / 3


def test_the_first_n_downloads_of_each_file_are_corrupt(sandbox, compliance):
    sandbox.faults.corrupt_download_first_n = 1
    info = sandbox.data.log_files("CODEX_LOG")[-1]
    url = path(sandbox, COMPLIANCE_LOG_FILE, log_file_id=info.id)
    bodies = [compliance.get(url, follow_redirects=True).content for _ in range(2)]
    assert hashlib.sha256(bodies[0]).hexdigest() != info.file_sha256
    assert len(bodies[0]) == info.file_size, "same size: only the checksum can tell"
    assert hashlib.sha256(bodies[1]).hexdigest() == info.file_sha256


@pytest.mark.parametrize("endpoint", [USAGE, COMPLIANCE_LOGS, CODEX_TASKS], ids=lambda e: e.name)
def test_an_endless_cursor_repeats_with_has_more(sandbox, analytics, compliance, endpoint):
    http = analytics if endpoint is USAGE else compliance
    rule = PAGING_RULES[endpoint.paging]
    params = {LIMIT_PARAM: 2}
    if endpoint is COMPLIANCE_LOGS:
        params |= {EVENT_TYPE_PARAM: "CODEX_LOG", AFTER: (NOW - timedelta(hours=3)).isoformat()}
    normal = http.get(path(sandbox, endpoint), params=params).json()
    sandbox.faults.endless_cursor = True
    cursors = []
    for _ in range(4):
        body = http.get(path(sandbox, endpoint), params=params).json()
        assert body[rule.has_more_field] is True
        cursors.append(body[rule.cursor_field])
        params[rule.cursor_param] = body[rule.cursor_field]
    assert cursors[1] == cursors[2] == cursors[3]
    assert cursors[1] is not None
    if endpoint.paging != Paging.LAST_END_TIME:
        assert cursors[0] == normal[rule.cursor_field]


def test_the_rate_limiter_is_a_sliding_window_per_route(sandbox, analytics):
    sandbox.faults.rate_limit_per_minute = 5
    sandbox.faults.time_scale = 60  # a one-second minute
    assert statuses(analytics, path(sandbox, USAGE), 5) == [200] * 5
    limited = analytics.get(path(sandbox, USAGE))
    assert limited.status_code == 429
    wait = float(limited.headers["Retry-After"])
    assert 0 < wait <= 1.0
    assert analytics.get(path(sandbox, CODE_REVIEWS)).status_code == 200
    time.sleep(wait + 0.05)
    assert analytics.get(path(sandbox, USAGE)).status_code == 200


def test_the_control_api_sets_faults_and_the_clock_and_resets(sandbox, compliance):
    with httpx.Client(base_url=sandbox.control_url, timeout=10) as control:
        info = control.get("/info").json()
        assert info["base_url"] == sandbox.base_url
        assert info["workspace_id"] == sandbox.workspace_id
        assert control.post("/faults", json={"fail_429_first_n": 1}).json()["fail_429_first_n"] == 1
        assert sandbox.faults.fail_429_first_n == 1
        assert compliance.get(path(sandbox, MAX_EVENT_TIME)).status_code == 429
        assert control.post("/faults", json={"no_such_fault": 1}).status_code == 400
        assert control.post("/faults", json={"fail_5xx_every": -1}).status_code == 400
        assert control.get("/faults").json() == {**Faults().as_dict(), "fail_429_first_n": 1}
        before = compliance.get(path(sandbox, MAX_EVENT_TIME)).json()["max_event_time"]["CODEX_LOG"]
        clock = control.post("/clock", json={"now": (NOW - timedelta(hours=5)).isoformat()}).json()
        assert datetime.fromisoformat(clock["now"]) == NOW - timedelta(hours=5)
        after = compliance.get(path(sandbox, MAX_EVENT_TIME)).json()["max_event_time"]["CODEX_LOG"]
        assert datetime.fromisoformat(after) < NOW - timedelta(hours=5) < datetime.fromisoformat(before)
        advanced = control.post("/clock", json={"advance_seconds": 3600}).json()
        assert datetime.fromisoformat(advanced["now"]) == NOW - timedelta(hours=4)
        assert control.post("/clock", json={"now": "2026-03-04T00:00:00"}).status_code == 400
        stats = control.get("/stats").json()
        assert stats["requests"][MAX_EVENT_TIME.name] == {"200": 2, "429": 1}
        assert stats["responses_429"] == 1
        reset = control.post("/reset").json()
        assert reset["requests_total"] == 0
        assert reset["faults"] == Faults().as_dict()
        assert datetime.fromisoformat(reset["now"]) == NOW
        assert control.get("/nothing").status_code == 404
