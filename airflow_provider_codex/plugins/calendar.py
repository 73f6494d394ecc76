"""The coverage calendar as the page draws it: one row per dataset, one cell per day, counts and dates only.

It is a plain view model of :class:`~airflow_provider_codex.coverage.Coverage`
(no HTML here: the template escapes every value), so what the page shows can
be checked without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from airflow_provider_codex.coverage import Coverage, DatasetCoverage, DayCoverage, DayStatus

#: What each status is called on the page (the cell's CSS class is the status's value).
STATUS_LABELS = {
    DayStatus.LOADED: "loaded",
    DayStatus.MISSING: "missing",
    DayStatus.EXPIRING: "missing, expiring soon",
    DayStatus.LOST: "missing, past retention",
}


@dataclass(frozen=True)
class Cell:
    day: date
    status: str
    title: str


@dataclass(frozen=True)
class CalendarRow:
    dataset: str
    cells: tuple[Cell, ...]
    loaded: int
    missing: int
    expiring: int
    lost: int
    last_loaded_at: datetime | None


def _minute(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"


def cell_title(day: DayCoverage, now: datetime) -> str:
    """The cell's tooltip: the day, its status, its row count or when it expires."""
    parts = [day.day.isoformat(), STATUS_LABELS[day.status]]
    if day.status is DayStatus.LOADED:
        parts.append(f"{day.rows or 0} rows, loaded {_minute(day.last_loaded_at)}")
    left = day.time_left(now)
    if day.status in (DayStatus.MISSING, DayStatus.EXPIRING) and left is not None:
        parts.append(f"the API holds it {left.days} more days")
    return " · ".join(parts)


def calendar_row(dataset: DatasetCoverage, now: datetime) -> CalendarRow:
    def count(status: DayStatus) -> int:
        return len(dataset.with_status(status))

    return CalendarRow(
        dataset=dataset.dataset,
        cells=tuple(Cell(d.day, d.status.value, cell_title(d, now)) for d in dataset.days),
        loaded=count(DayStatus.LOADED),
        missing=count(DayStatus.MISSING),
        expiring=count(DayStatus.EXPIRING),
        lost=count(DayStatus.LOST),
        last_loaded_at=dataset.last_loaded_at,
    )


def calendar(coverage: Coverage, now: datetime) -> list[CalendarRow]:
    """One :class:`CalendarRow` per dataset of the coverage, in its order."""
    return [calendar_row(dataset, now) for dataset in coverage.datasets]
