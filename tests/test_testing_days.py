"""The backfill range of the demo and the end-to-end test: whole days, complete logs, still held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from codex_testing.days import complete_days, logical_dates, midnight

from airflow_provider_codex.api.endpoints import COMPLIANCE_RETENTION_DAYS
from airflow_provider_codex.windows import DEFAULT_GRACE


def test_thirty_days_ending_the_day_before_yesterday_and_compliance_as_held(live_sandbox):
    now = datetime.now(UTC)
    within = timedelta(minutes=20)
    days = complete_days(live_sandbox, 30, within=within, now=now)

    assert len(days.analytics) == 30
    assert {b - a for a, b in pairwise(days.analytics)} == {timedelta(days=1)}
    last = days.analytics[-1]
    assert last <= now.date() - timedelta(days=2)
    # the last day's logs are complete: the sandbox has events past its end plus the grace
    landed = min(live_sandbox.data.max_event_time(t) for t in ("CODEX_LOG", "CODEX_SECURITY_LOG"))
    assert midnight(last + timedelta(days=1)) + DEFAULT_GRACE <= landed

    # compliance: the tail of the analytics days that the API still holds when the work ends
    assert days.compliance == days.analytics[-len(days.compliance) :]
    oldest_held = now + within - timedelta(days=COMPLIANCE_RETENTION_DAYS)
    assert midnight(days.compliance[0]) >= oldest_held
    assert midnight(days.compliance[0] - timedelta(days=1)) < oldest_held

    assert logical_dates(days.analytics) == (days.analytics[0] + timedelta(days=1), last + timedelta(days=1))


def test_a_shorter_range_is_all_held():
    from codex_testing.sandbox import running_sandbox

    with running_sandbox(seed=2, users=3, events_per_day=200) as sandbox:
        days = complete_days(sandbox, 5)
    assert len(days.analytics) == 5
    assert days.compliance == days.analytics
