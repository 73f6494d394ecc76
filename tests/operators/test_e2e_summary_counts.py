"""The XCom summary counts what really happened: requests, retries, files, duplicates dropped."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from codex_e2e import GRACE, days_of, midnight, run_dag


def test_requests_and_retries_match_the_server(sandbox, make_destination, use_sandbox, test_dags):
    """Two 429s (honoured Retry-After) then a page: the summary and the sandbox agree."""
    use_sandbox(sandbox)
    dest = make_destination("sqlite")
    sandbox.faults.replace_all({"fail_429_first_n": 2, "retry_after": 0.05})
    run = run_dag(test_dags, "load_sql_code_reviews", start="2026-02-12", end="2026-02-14", sql_conn_id=dest.conn_id)
    assert run.state == "success"
    summary = run.summary()
    served = sandbox.stats()["requests"]["code_reviews"]
    assert served == {"429": 2, "200": 1}
    assert summary["requests"] == 3 and summary["retries"] == 2 and summary["rate_limited"] == 2
    assert summary["by_status"] == served
    assert summary["rows"] == {"codex_code_reviews_daily": {"2026-02-12": 1, "2026-02-13": 1}}


def test_compliance_files_and_duplicates_match_the_log_files(live_sandbox, make_destination, use_sandbox, test_dags):
    """``files`` is every file listed for the window and its grace; ``duplicates_skipped`` the
    repeated copies (at-least-once delivery) of the window's events in them."""
    use_sandbox(live_sandbox)
    dest = make_destination("sqlite")
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=6), today - timedelta(days=3)
    listed = [
        f
        for event_type in ("CODEX_LOG", "CODEX_SECURITY_LOG")
        for f in live_sandbox.data.log_files(event_type, after=midnight(start), before=midnight(end) + GRACE)
    ]
    days = {d.isoformat() for d in days_of(start, end)}
    copies = Counter(
        event["event_id"]
        for f in listed
        for event in map(json.loads, live_sandbox.data.log_file_bytes(f.id).splitlines())
        if event["timestamp"][:10] in days
    )
    assert sum(n - 1 for n in copies.values()) > 0, "no duplicate in the window: the check would prove nothing"

    run = run_dag(
        test_dags, "load_sql_compliance_events", start=start.isoformat(), end=end.isoformat(), sql_conn_id=dest.conn_id
    )
    assert run.state == "success"
    summary = run.summary()
    assert summary["files"] == len(listed)
    assert summary["duplicates_skipped"] == sum(n - 1 for n in copies.values())
    assert summary["total_rows"] == len(copies)
    stats = live_sandbox.stats()
    api_requests = sum(sum(s.values()) for s in stats["requests"].values())
    downloads = sum(stats["downloads"].values())  # the signed-URL host, counted apart by the sandbox
    assert downloads == len(listed) and api_requests == len(listed) + 1  # + 1 listing page
    assert summary["requests"] == api_requests + downloads and summary["retries"] == 0
