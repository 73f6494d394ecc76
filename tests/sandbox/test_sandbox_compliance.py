"""Compliance routes over real HTTP: log listing, signed downloads, events, lists."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from codex_testing.sandbox.clock import day_start
from sandbox_helpers import AFTER, BEFORE, NOW, TODAY, client, collect, path

from airflow_provider_codex.api.endpoints import (
    CODEX_ENVIRONMENTS,
    CODEX_EVENT_TYPES,
    CODEX_TASKS,
    COMPLIANCE_LOG_FILE,
    COMPLIANCE_LOGS,
    EVENT_TYPE_PARAM,
    LIMIT_PARAM,
    MAX_EVENT_TIME,
    PAGING_RULES,
    Owner,
    Paging,
)

RULE = PAGING_RULES[Paging.LAST_END_TIME]


def iso(moment: datetime) -> str:
    return moment.isoformat()


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


_PLAIN = httpx.Client(timeout=30)  # holds no key; one for the module (a client costs ~30 ms to make)


def download(sandbox, http: httpx.Client, file_id: str, owner: Owner = Owner.WORKSPACE) -> bytes:
    """GET /logs/{id}, then follow the 307 by hand with a client that holds no key."""
    response = http.get(path(sandbox, COMPLIANCE_LOG_FILE, owner, log_file_id=file_id))
    assert response.status_code == 307, response.text
    fetched = _PLAIN.get(response.headers["Location"])
    assert fetched.status_code == 200, fetched.text
    return fetched.content


def test_listing_pages_through_after_and_before_in_end_time_order(sandbox, compliance):
    after, before = NOW - timedelta(days=3), NOW - timedelta(days=1, hours=5)
    files, pages = collect(
        compliance,
        path(sandbox, COMPLIANCE_LOGS),
        COMPLIANCE_LOGS,
        {EVENT_TYPE_PARAM: list(CODEX_EVENT_TYPES), AFTER: iso(after), BEFORE: iso(before), LIMIT_PARAM: 7},
    )
    expected = sorted(
        (f for t in CODEX_EVENT_TYPES for f in sandbox.data.log_files(t, after=after, before=before)),
        key=lambda f: f.end_time,
    )
    assert files == [f.listing() for f in expected]
    assert pages == len(files) // 7 + 1
    ends = [parse(f["end_time"]) for f in files]
    assert ends == sorted(set(ends)), "end times are unique and ascending"
    assert all(after < end < before for end in ends)
    assert {f["event_type"] for f in files} == set(CODEX_EVENT_TYPES)
    for f in files:
        assert f["id"].startswith("lf_")
        assert f["file_name"].endswith(".jsonl")
    one_type, _ = collect(
        compliance,
        path(sandbox, COMPLIANCE_LOGS),
        COMPLIANCE_LOGS,
        {EVENT_TYPE_PARAM: "CODEX_SECURITY_LOG", AFTER: iso(after), BEFORE: iso(before)},
    )
    assert one_type == [f for f in files if f["event_type"] == "CODEX_SECURITY_LOG"]
    other = compliance.get(path(sandbox, COMPLIANCE_LOGS), params={EVENT_TYPE_PARAM: "AUDIT_LOG", AFTER: iso(after)})
    assert other.json() == {RULE.data_field: [], RULE.has_more_field: False, RULE.cursor_field: None}


def test_listing_follows_retention_and_the_clock(sandbox, compliance):
    params = {EVENT_TYPE_PARAM: "CODEX_LOG", AFTER: iso(NOW - timedelta(days=90)), LIMIT_PARAM: 100}
    first = compliance.get(path(sandbox, COMPLIANCE_LOGS), params=params).json()[RULE.data_field]
    oldest = parse(first[0]["end_time"])
    assert NOW - timedelta(days=sandbox.config.retention_days) < oldest < NOW - timedelta(days=29, hours=20)
    newest = compliance.get(
        path(sandbox, COMPLIANCE_LOGS), params={**params, AFTER: iso(NOW - timedelta(hours=6))}
    ).json()[RULE.data_field]
    assert newest
    assert parse(newest[-1]["end_time"]) <= NOW
    sandbox.set_clock(NOW - timedelta(hours=3))
    earlier = compliance.get(
        path(sandbox, COMPLIANCE_LOGS), params={**params, AFTER: iso(NOW - timedelta(hours=6))}
    ).json()[RULE.data_field]
    assert earlier == [f for f in newest if parse(f["end_time"]) <= NOW - timedelta(hours=3)]
    assert len(earlier) < len(newest)
    gone = compliance.get(path(sandbox, COMPLIANCE_LOG_FILE, log_file_id=newest[-1]["id"]))
    assert gone.status_code == 404


def test_download_is_a_307_to_another_port_that_never_sees_the_key(sandbox, compliance):
    listing = sandbox.data.log_files("CODEX_LOG", after=NOW - timedelta(days=1))[:3]
    redirect = compliance.get(path(sandbox, COMPLIANCE_LOG_FILE, log_file_id=listing[0].id))
    assert redirect.status_code == 307
    location = urlsplit(redirect.headers["Location"])
    api = urlsplit(sandbox.base_url)
    assert location.hostname == "127.0.0.1"
    assert location.port != api.port
    assert "signature=" in location.query
    assert "expires=" in location.query
    for info in listing:
        body = download(sandbox, compliance, info.id)
        assert len(body) == info.file_size
        assert hashlib.sha256(body).hexdigest() == info.file_sha256
        assert body == sandbox.data.log_file_bytes(info.id)
    # httpx drops the key on a cross-origin redirect; the download host records what arrived.
    followed = compliance.get(path(sandbox, COMPLIANCE_LOG_FILE, log_file_id=listing[0].id), follow_redirects=True)
    assert hashlib.sha256(followed.content).hexdigest() == listing[0].file_sha256
    stats = sandbox.stats()
    assert len(stats["download_requests"]) == len(listing) + 1
    assert "authorization" not in stats["download_header_names"]
    assert "host" in stats["download_header_names"]
    # A client that leaks the key is refused there, and it shows in the record.
    with httpx.Client(timeout=30) as leaky:
        leaked = leaky.get(redirect.headers["Location"], headers={"Authorization": f"Bearer {sandbox.compliance_key}"})
    assert leaked.status_code == 400
    assert "authorization" in sandbox.stats()["download_header_names"]


def test_forged_or_expired_signatures_are_403(sandbox, compliance):
    info = sandbox.data.log_files("CODEX_LOG")[-1]
    location = compliance.get(path(sandbox, COMPLIANCE_LOG_FILE, log_file_id=info.id)).headers["Location"]
    forged = location[:-1] + ("0" if location[-1] != "0" else "1")
    other_file = location.replace(info.id, sandbox.data.log_files("CODEX_LOG")[-2].id)
    with httpx.Client(timeout=30) as plain:
        assert plain.get(location).status_code == 200
        assert plain.get(forged).status_code == 403
        assert plain.get(other_file).status_code == 403
        assert plain.get(location.split("?")[0]).status_code == 403
        sandbox.server.signer.ttl_seconds = -5
        expired = compliance.get(path(sandbox, COMPLIANCE_LOG_FILE, log_file_id=info.id)).headers["Location"]
        response = plain.get(expired)
    assert response.status_code == 403
    assert b"expired" in response.content


def test_a_days_events_come_from_several_files_with_duplicates_and_late_arrivals(sandbox, compliance):
    day = TODAY - timedelta(days=2)
    start, end = day_start(day), day_start(day + timedelta(days=1))
    before = end + timedelta(hours=6)
    files, _ = collect(
        compliance,
        path(sandbox, COMPLIANCE_LOGS),
        COMPLIANCE_LOGS,
        {EVENT_TYPE_PARAM: "CODEX_LOG", AFTER: iso(start), BEFORE: iso(before)},
    )
    seen: Counter[str] = Counter()
    events: dict[str, dict] = {}
    late = two_day_files = 0
    for f in files:
        lines = download(sandbox, compliance, f["id"]).decode().splitlines()
        assert len(lines) == sandbox.data.log_file(f["id"]).event_count
        stamps = set()
        for line in lines:
            event = json.loads(line)
            assert event["type"] == "CODEX_LOG"
            stamp = parse(event["timestamp"])
            assert stamp < parse(f["end_time"])
            stamps.add(stamp.date())
            if stamp.date() == day:
                seen[event["event_id"]] += 1
                events[event["event_id"]] = event
                late += parse(f["end_time"]).date() > day
        two_day_files += len(stamps) > 1
    assert any(count > 1 for count in seen.values()), "some events are delivered twice"
    assert late > 0, "some events of the day land in a file of the next day"
    assert two_day_files > 0
    served = sandbox.data.events("CODEX_LOG", day, files_before=before)
    assert sorted(events.values(), key=lambda e: (e["timestamp"], e["event_id"])) == served
    assert len(served) > 100
    every_file = sandbox.data.events("CODEX_LOG", day)
    assert {e["event_id"] for e in served} <= {e["event_id"] for e in every_file}
    kinds = Counter(e["event_type"] for e in served)
    assert {"PROMPT_SENT", "PROMPT_RESPONSE_RECEIVED", "TOOL_DECISION"} <= set(kinds)
    assert any(e["event_details"]["token_usage"] for e in served)
    assert any(e["actor"]["type"] == "API_KEY" for e in served)


def test_max_event_time_follows_the_files(sandbox, compliance):
    url = path(sandbox, MAX_EVENT_TIME)
    body = compliance.get(url, params={EVENT_TYPE_PARAM: list(CODEX_EVENT_TYPES)}).json()["max_event_time"]
    assert set(body) == set(CODEX_EVENT_TYPES)
    for event_type in CODEX_EVENT_TYPES:
        recent = sandbox.data.log_files(event_type, after=NOW - timedelta(hours=12))
        latest = max(
            parse(json.loads(line)["timestamp"])
            for f in recent
            for line in sandbox.data.log_file_bytes(f.id).splitlines()
        )
        assert parse(body[event_type]) == latest
        assert latest > NOW - timedelta(hours=6)
    sandbox.set_clock(NOW - timedelta(hours=10))
    earlier = compliance.get(url, params={EVENT_TYPE_PARAM: "CODEX_LOG"}).json()["max_event_time"]
    assert set(earlier) == {"CODEX_LOG"}
    assert parse(earlier["CODEX_LOG"]) < NOW - timedelta(hours=10)
    assert parse(earlier["CODEX_LOG"]) < parse(body["CODEX_LOG"])
    sandbox.set_clock(NOW - timedelta(days=400))
    assert compliance.get(url, params={EVENT_TYPE_PARAM: "CODEX_LOG"}).json() == {"max_event_time": {"CODEX_LOG": None}}


def test_organization_routes_serve_the_same_compliance_data(sandbox, compliance):
    params = {EVENT_TYPE_PARAM: list(CODEX_EVENT_TYPES), AFTER: iso(NOW - timedelta(hours=8))}
    by_workspace = compliance.get(path(sandbox, COMPLIANCE_LOGS), params=params).json()
    by_org = compliance.get(path(sandbox, COMPLIANCE_LOGS, Owner.ORGANIZATION), params=params).json()
    assert by_org == by_workspace
    assert by_org[RULE.data_field]
    first = by_org[RULE.data_field][0]
    body = download(sandbox, compliance, first["id"], Owner.ORGANIZATION)
    assert hashlib.sha256(body).hexdigest() == first["file_sha256"]
    assert (
        compliance.get(path(sandbox, MAX_EVENT_TIME, Owner.ORGANIZATION)).json()
        == compliance.get(path(sandbox, MAX_EVENT_TIME)).json()
    )


def test_tasks_and_environments_page_by_last_id(sandbox, compliance):
    for endpoint, expected in ((CODEX_TASKS, sandbox.data.tasks()), (CODEX_ENVIRONMENTS, sandbox.data.environments())):
        records, pages = collect(compliance, path(sandbox, endpoint), endpoint, {LIMIT_PARAM: 7})
        assert records == expected
        assert pages == len(expected) // 7 + 1
        assert len({r["id"] for r in records}) == len(records) > 10
        rule = PAGING_RULES[endpoint.paging]
        page = compliance.get(path(sandbox, endpoint), params={LIMIT_PARAM: 7}).json()
        assert page["object"] == "list"
        assert page[rule.cursor_field] == page[rule.data_field][-1]["id"]
        last = compliance.get(path(sandbox, endpoint), params={rule.cursor_param: expected[-1]["id"]}).json()
        assert last[rule.data_field] == []
        assert last[rule.has_more_field] is False
    with client(sandbox, sandbox.compliance_key) as http:
        env_ids = {e["id"] for e in sandbox.data.environments()}
        assert {t["environment_id"] for t in sandbox.data.tasks()} <= env_ids
        assert http.get(path(sandbox, CODEX_TASKS)).status_code == 200
