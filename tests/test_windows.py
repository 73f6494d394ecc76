"""Windows are whole UTC days, from explicit bounds, the data interval or the logical date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pendulum
import pytest

from airflow_provider_codex.api.errors import CodexRetentionError
from airflow_provider_codex.windows import Window, WindowError, check_retention, window_from_context

D = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731


def test_empty_interval_gives_the_day_ending_at_the_logical_date():
    # Airflow 3's CronTriggerTimetable: data_interval_start == data_interval_end == logical_date.
    at = pendulum.datetime(2026, 11, 25, tz="UTC")
    window = window_from_context({"data_interval_start": at, "data_interval_end": at, "logical_date": at})
    assert window.days == [date(2026, 11, 24)]


def test_interval_timetable_windows_are_used_as_they_are():
    ctx = {"data_interval_start": D(2026, 10, 1), "data_interval_end": D(2026, 11, 1), "logical_date": D(2026, 10, 1)}
    window = window_from_context(ctx)
    assert window.day_count == 31
    assert window.days[0] == date(2026, 10, 1)
    assert window.days[-1] == date(2026, 10, 31)


def test_explicit_bounds_override_the_run_and_accept_strings():
    ctx = {"data_interval_start": D(2026, 10, 1), "data_interval_end": D(2026, 10, 2)}
    window = window_from_context(ctx, start="2026-11-01", end="2026-11-03T00:00:00Z")
    assert window.days == [date(2026, 11, 1), date(2026, 11, 2)]


def test_lookback_widens_backwards():
    at = D(2026, 11, 25)
    window = window_from_context(
        {"logical_date": at, "data_interval_start": at, "data_interval_end": at}, lookback_days=3
    )
    assert window.days == [date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23), date(2026, 11, 24)]


@pytest.mark.parametrize(
    ("ctx", "kwargs", "message"),
    [
        ({"logical_date": D(2026, 11, 25, 2, 30)}, {}, "not 00:00 UTC"),
        (
            {"data_interval_start": D(2026, 11, 25, 1), "data_interval_end": D(2026, 11, 25, 2)},
            {},
            "not whole UTC days",
        ),
        ({}, {"start": "2026-11-01T12:00:00Z", "end": "2026-11-02"}, "not 00:00 UTC"),
        ({}, {"start": "2026-11-02", "end": "2026-11-01"}, "empty window"),
        ({}, {"start": "2026-11-02"}, "both start and end"),
        ({}, {"start": "yesterday-ish", "end": "2026-11-02"}, "not a date"),
        ({}, {}, "pass start/end"),
    ],
)
def test_windows_that_are_not_whole_days_are_clear_errors(ctx, kwargs, message):
    with pytest.raises(WindowError, match=message):
        window_from_context(ctx, **kwargs)


def test_midnight_in_another_zone_is_not_a_utc_day():
    paris = timezone(timedelta(hours=1))
    with pytest.raises(WindowError, match="not 00:00 UTC"):
        Window(datetime(2026, 11, 1, tzinfo=paris), datetime(2026, 11, 2, tzinfo=paris))


def test_chunks_cover_the_window_without_gaps():
    window = Window.of_days(date(2026, 1, 1), date(2026, 3, 15))
    chunks = list(window.chunks(31))
    assert [c.day_count for c in chunks] == [31, 31, 12]
    assert [day for c in chunks for day in c.days] == window.days


def test_retention_names_the_earliest_day_still_held():
    now = D(2026, 11, 25, 10)
    check_retention(Window.of_days(date(2026, 10, 27), date(2026, 10, 27)), now=now)
    with pytest.raises(CodexRetentionError, match="earliest day the API still holds is 2026-10-27"):
        check_retention(Window.of_days(date(2026, 10, 26), date(2026, 10, 27)), now=now)
