"""What one load did and where a paused one resumes: small, JSON-able, fit for XCom and trigger kwargs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any

from airflow_provider_codex.api.core import ClientStats
from airflow_provider_codex.sinks import ReplaceResult
from airflow_provider_codex.windows import ONE_DAY, Window

log = logging.getLogger(__name__)


@dataclass
class Checkpoint:
    """Where a paused load resumes: JSON-able, so it can travel in a trigger's kwargs.

    ``cursor`` is the page to fetch next (``None``: the first page);
    ``stage`` is the :class:`~.sinks.Stage` (as JSON) holding the pages of
    the parts before, which the last part swaps in.
    """

    retry_after: float
    cursor: str | None = None
    stage: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Checkpoint | None:
        """The checkpoint, or ``None`` for one of another version (it cannot resume: the load starts over)."""
        known = {f.name for f in fields(cls)}
        if not set(value) <= known or "retry_after" not in value:
            return None
        return cls(**value)


@dataclass
class LoadSummary:
    """What one load did: small enough for XCom, never the data itself.

    A load paused on a long rate limit (:func:`load_dataset` with
    ``pause_on_rate_limit``) carries its :class:`Checkpoint` in ``paused``;
    ``to_state``/``from_state`` carry the counts so far across the pause.
    """

    dataset: str
    window: Window
    rows: dict[str, dict[date, int]] = field(default_factory=dict)
    pages: int = 0
    files: int = 0
    duplicates_skipped: int = 0
    client: dict[str, Any] = field(default_factory=dict)
    pauses: int = 0
    paused: Checkpoint | None = None
    #: Rows the API sent for days outside the window, per day: dropped, and said so.
    outside_window: dict[date, int] = field(default_factory=dict)
    #: The window's days that had not ended when the load ran: their rows are incomplete.
    unfinished_days: list[date] = field(default_factory=list)

    def add(self, results: dict[str, ReplaceResult]) -> None:
        for table, result in results.items():
            per_day = self.rows.setdefault(table, {})
            for day, count in result.inserted.items():
                per_day[day] = per_day.get(day, 0) + count
            self.duplicates_skipped += result.duplicates_skipped

    def add_client_stats(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Add what a client did between two snapshots of its stats to the load's counters."""
        for key, value in after.items():
            if isinstance(value, dict):
                merged = self.client.setdefault(key, {})
                for k, v in value.items():
                    merged[k] = merged.get(k, 0) + v - before.get(key, {}).get(k, 0)
            else:
                self.client[key] = self.client.get(key, 0) + value - before.get(key, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "start": self.window.start.date().isoformat(),
            "end": self.window.end.date().isoformat(),
            "days": self.window.day_count,
            "rows": {t: {d.isoformat(): n for d, n in sorted(days.items())} for t, days in self.rows.items()},
            "total_rows": sum(n for days in self.rows.values() for n in days.values()),
            "pages": self.pages,
            "files": self.files,
            "duplicates_skipped": self.duplicates_skipped,
            "pauses": self.pauses,
            "rows_outside_window": {d.isoformat(): n for d, n in sorted(self.outside_window.items())},
            "unfinished_days": [d.isoformat() for d in self.unfinished_days],
            **self.client,
        }

    def to_state(self) -> dict[str, Any]:
        """The JSON-able state of a paused load (its summary so far and its checkpoint)."""
        return {**self.as_dict(), "checkpoint": asdict(self.paused) if self.paused else None}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> tuple[LoadSummary, Checkpoint | None]:
        """The summary so far and the checkpoint; a fresh summary when the checkpoint cannot resume."""
        window = Window.of_days(date.fromisoformat(state["start"]), date.fromisoformat(state["end"]) - ONE_DAY)
        summary = cls(state["dataset"], window)
        checkpoint = state.get("checkpoint")
        resume = Checkpoint.from_json(checkpoint) if checkpoint else None
        if checkpoint and resume is None:
            log.warning(
                "%s: the paused load's checkpoint is of another version: the window starts over", summary.dataset
            )
            return summary, None
        summary.rows = {t: {date.fromisoformat(d): n for d, n in days.items()} for t, days in state["rows"].items()}
        summary.pages, summary.files = state["pages"], state["files"]
        summary.duplicates_skipped, summary.pauses = state["duplicates_skipped"], state["pauses"]
        summary.outside_window = {date.fromisoformat(d): n for d, n in state.get("rows_outside_window", {}).items()}
        summary.unfinished_days = [date.fromisoformat(d) for d in state.get("unfinished_days", [])]
        summary.client = {k: state[k] for k in ClientStats().as_dict() if k in state}
        return summary, resume
