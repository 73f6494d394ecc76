"""The arithmetic coverage and the retention guard rest on, at its edges (pendulum times, no database).

A compliance day D is held whole until D 00:00 UTC + 30 days, the moment a
load's retention check starts refusing it; the margin's edge is included in
``EXPIRING``. The backfill command's logical dates map back, through the
window rule the loads use, to exactly the missing days.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_codex.api.errors import CodexRetentionError
from airflow_provider_codex.coverage import (
    Coverage,
    DatasetCoverage,
    DayCoverage,
    DayStatus,
    Evidence,
    day_runs,
    day_status,
    format_days,
    read_storage_coverage,
)
from airflow_provider_codex.datasets import Source
from airflow_provider_codex.sinks import StorageSink
from airflow_provider_codex.transfers.codex_retention_guard import backfill_command, duration_from, guard_message
from airflow_provider_codex.windows import Window, check_retention, window_from_context

DAY = date(2026, 11, 1)
EXPIRY = pendulum.datetime(2026, 12, 1, tz="UTC")  # 30 days after the day's start
WEEK = timedelta(days=7)
TICK = timedelta(microseconds=1)


def status(now: datetime, *, loaded: bool = False, retained: bool = True, margin: timedelta = WEEK) -> DayStatus:
    return day_status(DAY, loaded, now, retained=retained, margin=margin)[0]


def test_a_day_is_held_up_to_its_expiry_included_and_lost_right_after():
    assert day_status(DAY, False, EXPIRY, retained=True)[1] == EXPIRY
    assert status(EXPIRY) is DayStatus.EXPIRING
    assert status(EXPIRY + TICK) is DayStatus.LOST
    assert status(EXPIRY.add(days=400)) is DayStatus.LOST
    # the load's own retention check agrees at both sides of the edge
    check_retention(Window.of_days(DAY, DAY), now=EXPIRY)
    with pytest.raises(CodexRetentionError):
        check_retention(Window.of_days(DAY, DAY), now=EXPIRY + TICK)


def test_the_margin_edge_is_expiring_and_just_before_it_missing():
    assert status(EXPIRY - WEEK) is DayStatus.EXPIRING
    assert status(EXPIRY - WEEK - TICK) is DayStatus.MISSING
    assert status(EXPIRY - timedelta(hours=36), margin=timedelta(hours=36)) is DayStatus.EXPIRING
    assert status(EXPIRY - timedelta(hours=37), margin=timedelta(hours=36)) is DayStatus.MISSING
    assert status(EXPIRY, margin=timedelta(0)) is DayStatus.EXPIRING  # zero margin: only the last moment
    assert status(EXPIRY - TICK, margin=timedelta(0)) is DayStatus.MISSING
    with pytest.raises(ValueError, match="margin"):
        status(EXPIRY, margin=-TICK)


def test_any_time_zone_gives_the_same_status():
    paris = pendulum.datetime(2026, 12, 1, 0, 30, tz="Europe/Paris")  # 23:30 UTC the day before expiry
    assert status(paris) is DayStatus.EXPIRING
    assert status(paris, margin=timedelta(minutes=29)) is DayStatus.MISSING
    assert status(pendulum.datetime(2026, 12, 1, 1, 0, 1, tz="Europe/Paris")) is DayStatus.LOST


def test_loaded_days_and_days_without_retention():
    assert status(EXPIRY.add(days=3), loaded=True) is DayStatus.LOADED  # loaded in time: safe for good
    assert day_status(DAY, True, EXPIRY, retained=True)[1] == EXPIRY
    assert status(EXPIRY.add(days=3), retained=False) is DayStatus.MISSING
    assert day_status(DAY, False, EXPIRY, retained=False)[1] is None


def test_days_group_into_runs():
    days = [date(2026, 11, 9), date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 3)]
    assert day_runs(days) == [(date(2026, 11, 2), date(2026, 11, 4)), (date(2026, 11, 9), date(2026, 11, 9))]
    assert format_days(days) == "2026-11-02..2026-11-04, 2026-11-09"
    assert day_runs([]) == []


@pytest.mark.parametrize(
    ("first", "last"), [(date(2026, 11, 2), date(2026, 11, 4)), (date(2026, 11, 30), date(2026, 11, 30))]
)
def test_the_backfill_command_loads_exactly_the_days(first: date, last: date):
    """Each run of the example compliance DAG (``@daily``: an empty data interval) loads the day before it."""
    words = backfill_command("codex_compliance_daily", first, last).split()
    assert words[:5] == ["airflow", "backfill", "create", "--dag-id", "codex_compliance_daily"]
    start = date.fromisoformat(words[words.index("--from-date") + 1])
    end = date.fromisoformat(words[words.index("--to-date") + 1])  # included, as the CLI has it
    assert words[words.index("--reprocess-behavior") + 1] == "completed"
    loaded: list[date] = []
    for i in range((end - start).days + 1):
        logical = pendulum.datetime(start.year, start.month, start.day, tz="UTC").add(days=i)
        context = {"logical_date": logical, "data_interval_start": logical, "data_interval_end": logical}
        loaded += window_from_context(context).days
    assert loaded == [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_durations_are_days_or_iso_8601():
    assert duration_from(7, "margin") == WEEK
    assert duration_from(" 7 ", "margin") == WEEK
    assert duration_from("P7D", "margin") == WEEK
    assert duration_from("PT36H", "margin") == timedelta(hours=36)
    assert duration_from(WEEK, "margin") == WEEK
    for bad in ("soon", "-1", -1, True, None, "P"):
        with pytest.raises(AirflowFailException, match="margin must be a duration"):
            duration_from(bad, "margin")


def _coverage(now: datetime, *days: tuple[date, DayStatus]) -> Coverage:
    rows = tuple(
        DayCoverage(d, s, None, None, pendulum.datetime(d.year, d.month, d.day, tz="UTC").add(days=30), Evidence.NONE)
        for d, s in days
    )
    return Coverage(
        "ws", days[0][0], days[-1][0], now, (DatasetCoverage("compliance_events", Source.COMPLIANCE_LOGS, rows),)
    )


def test_a_lost_day_fails_the_guard_once_then_is_only_noted():
    lost = date(2026, 11, 1)
    just_after = EXPIRY.add(hours=5)
    message = guard_message(_coverage(just_after, (lost, DayStatus.LOST)), "compliance_events", "dag", just_after)
    assert message is not None and "LOST" in message and "2026-11-01" in message and "backfill create" not in message
    next_day = EXPIRY.add(days=1, hours=5)  # the daily DAG's next run
    assert guard_message(_coverage(next_day, (lost, DayStatus.LOST)), "compliance_events", "dag", next_day) is None
    # a missing day far from expiry never fails it
    assert (
        guard_message(_coverage(EXPIRY, (date(2026, 11, 20), DayStatus.MISSING)), "compliance_events", "d", EXPIRY)
        is None
    )


def test_a_report_refuses_a_naive_now_and_a_backwards_range(tmp_path: Path) -> None:
    sink = StorageSink(f"file://{tmp_path}")
    with pytest.raises(ValueError, match="timezone-aware"):
        read_storage_coverage(sink, "ws", DAY, DAY, now=datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="ends"):
        read_storage_coverage(sink, "ws", DAY, DAY - timedelta(days=1), now=EXPIRY)
    empty = read_storage_coverage(sink, "ws", DAY, DAY + timedelta(days=1), now=EXPIRY, datasets=["compliance_events"])
    assert [d.status for d in empty.dataset("compliance_events").days] == [DayStatus.EXPIRING, DayStatus.EXPIRING]
