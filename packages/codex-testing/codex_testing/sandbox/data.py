"""All data a sandbox serves, and the accessors tests use to check what was loaded.

:class:`SandboxData` is what the HTTP server reads from, so comparing a loader's
output with these accessors compares it with what was served. Everything is a
pure function of the :class:`~.config.SandboxConfig` and of "now" (the
:class:`~.clock.SandboxClock`): same config and clock, same answers, in any
request order. Accessors return fresh objects (parsed from the served bytes):
callers may mutate them.

See :mod:`.analytics` for the analytics rows (and how workspace rows add up)
and :mod:`.compliance` for the log files and events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow_provider_codex import _json
from airflow_provider_codex.api.endpoints import (
    CODE_REVIEW_RESPONSES,
    CODE_REVIEWS,
    CODEX_ENVIRONMENTS,
    CODEX_EVENT_TYPES,
    CODEX_TASKS,
    USAGE,
    USAGE_WORKSPACE,
)

from . import catalog
from ._synth import User, make_users
from .analytics import AnalyticsStore
from .clock import SandboxClock, day_start
from .compliance import MAX_LATENESS_SECONDS, ComplianceStore, LogFileInfo
from .config import SandboxConfig
from .faults import Faults, add_row_fields

__all__ = ["LogFileInfo", "SandboxData"]

#: Days in the analytics window when ``start_time`` and ``end_time`` are omitted [reference].
DEFAULT_WINDOW_DAYS = 30


def _first_day_at_or_after(ts: float) -> date:
    day = datetime.fromtimestamp(ts, UTC).date()
    return day if day_start(day).timestamp() >= ts else day + timedelta(days=1)


def _last_day_before(ts: float) -> date:
    day = datetime.fromtimestamp(ts, UTC).date()
    return day if day_start(day).timestamp() < ts else day - timedelta(days=1)


class SandboxData:
    """The synthetic data of one sandbox (thread-safe)."""

    def __init__(self, config: SandboxConfig, clock: SandboxClock | None = None, faults: Faults | None = None) -> None:
        self.config = config
        self.clock = clock if clock is not None else SandboxClock(config.today, config.now)
        #: The live faults whose ``extra_row_fields`` the served rows carry (``None``: none).
        self.faults = faults
        self.users: list[User] = make_users(config.seed, config.users)
        self._analytics = AnalyticsStore(config, self.users, config.cache_bytes // 2)
        self._compliance = ComplianceStore(
            config.seed, self.users, config.events_per_day, config.max_log_file_bytes, config.cache_bytes // 2
        )
        self._environments = catalog.environments(config.seed, self.users, config.today)
        self._tasks = catalog.tasks(config.seed, self.users, config.today, self._environments)

    # -- analytics -------------------------------------------------------------------------

    @property
    def analytics_history_start(self) -> date:
        """The first day that can have analytics rows."""
        return self._analytics.history_start

    def usage_rows(self, day: date, group: str | None = None) -> list[dict[str, Any]]:
        """The ``/usage`` rows of ``day`` as served now: per user, or ``group="workspace"``."""
        if group is None:
            return self.analytics_rows(USAGE.name, day)
        if group in USAGE_WORKSPACE.fixed_params.values():
            return self.analytics_rows(USAGE_WORKSPACE.name, day)
        raise ValueError(f"unknown usage group {group!r}")

    def code_review_rows(self, day: date) -> list[dict[str, Any]]:
        """The ``/code_reviews`` rows of ``day`` (one, or none on a quiet or future day)."""
        return self.analytics_rows(CODE_REVIEWS.name, day)

    def code_review_response_rows(self, day: date) -> list[dict[str, Any]]:
        """The ``/code_review_responses`` rows of ``day``."""
        return self.analytics_rows(CODE_REVIEW_RESPONSES.name, day)

    def analytics_rows(self, route: str, day: date) -> list[dict[str, Any]]:
        """The rows of ``day`` of an analytics route, by registry endpoint name."""
        return [_json.loads(row) for row in self.analytics_row_bytes(route, day)]

    def analytics_row_bytes(self, route: str, day: date) -> Sequence[bytes]:
        """Like :meth:`analytics_rows`, serialised exactly as served."""
        return self._with_extra_fields(route, self._analytics.row_bytes(route, day, self.clock.now()))

    def _extra_fields(self, route: str) -> dict[str, Any] | None:
        if self.faults is None:
            return None
        return self.faults.as_dict()["extra_row_fields"].get(route) or None

    def _with_extra_fields(self, route: str, rows: Sequence[bytes]) -> Sequence[bytes]:
        """``rows`` as served: with the ``extra_row_fields`` of the live faults, if any."""
        extra = self._extra_fields(route)
        if not extra:
            return rows
        return [_json.dumps(add_row_fields(_json.loads(row), extra)) for row in rows]

    def default_analytics_window(self) -> tuple[int, int]:
        """``(start_time, end_time)`` when a request gives neither: the last 30 days ending today."""
        today = self.clock.current_day()
        start = day_start(today - timedelta(days=DEFAULT_WINDOW_DAYS - 1))
        return int(start.timestamp()), int(day_start(today + timedelta(days=1)).timestamp())

    def analytics_window(
        self, route: str, start_ts: int, end_ts: int, offset: int, limit: int
    ) -> tuple[list[bytes], bool]:
        """Rows ``offset .. offset+limit`` of the rows whose ``start_time`` is in ``[start_ts, end_ts)``.

        Rows are ordered by (day, ``user_id``). Returns the rows and whether more follow.
        """
        now = self.clock.now()
        day = max(_first_day_at_or_after(start_ts), self._analytics.history_start)
        last = min(_last_day_before(end_ts), self.clock.current_day())
        rows: list[bytes] = []
        skip = offset
        while day <= last and len(rows) <= limit:
            count = self._analytics.row_count(route, day, now)
            if skip >= count:
                skip -= count
            else:
                day_rows = self._analytics.row_bytes(route, day, now)
                rows.extend(day_rows[skip : skip + limit + 1 - len(rows)])
                skip = 0
            day += timedelta(days=1)
        return list(self._with_extra_fields(route, rows[:limit])), len(rows) > limit

    # -- compliance ------------------------------------------------------------------------

    def _type_index(self, event_type: str) -> int:
        try:
            return CODEX_EVENT_TYPES.index(event_type)
        except ValueError:
            raise ValueError(f"the sandbox serves event types {CODEX_EVENT_TYPES}, not {event_type!r}") from None

    def _retention_floor(self, now: datetime) -> float:
        """Files must end after this: within retention, and not before the workspace's history starts."""
        return max(
            now.timestamp() - self.config.retention_days * 86_400, day_start(self._analytics.history_start).timestamp()
        )

    def log_files(
        self, event_type: str, *, after: datetime | None = None, before: datetime | None = None
    ) -> list[LogFileInfo]:
        """The log files of ``event_type`` that exist now, by ``end_time``; ``after < end_time < before``."""
        now = self.clock.now()
        low = self._retention_floor(now)
        if after is not None:
            low = max(low, after.timestamp())
        until = now.timestamp()
        if before is not None:
            until = min(until, math.ceil(before.timestamp()) - 1)
        return list(self._compliance.files([self._type_index(event_type)], low, until))

    def list_log_files(
        self, event_types: Sequence[str], after: datetime, before: datetime | None, limit: int
    ) -> tuple[list[LogFileInfo], bool]:
        """One ``/logs`` page: up to ``limit`` files and whether more follow. Unknown types have none."""
        indexes = [CODEX_EVENT_TYPES.index(t) for t in event_types if t in CODEX_EVENT_TYPES]
        if not indexes:
            return [], False
        now = self.clock.now()
        low = max(self._retention_floor(now), after.timestamp())
        until = now.timestamp()
        if before is not None:
            until = min(until, math.ceil(before.timestamp()) - 1)
        page: list[LogFileInfo] = []
        for info in self._compliance.files(indexes, low, until):
            page.append(info)
            if len(page) > limit:
                break
        return page[:limit], len(page) > limit

    def log_file(self, file_id: str) -> LogFileInfo | None:
        """The file ``file_id`` names if it exists now, else ``None``."""
        key = self._compliance.key_of(file_id)
        if key is None:
            return None
        now = self.clock.now()
        end = self._compliance.end_time(key)
        if not self._retention_floor(now) < end <= now.timestamp():
            return None
        return self._compliance.info(key)

    def log_file_bytes(self, file_id: str) -> bytes:
        """The JSONL bytes of a file (whether or not it exists now). ``KeyError`` for a bad id."""
        key = self._compliance.key_of(file_id)
        if key is None:
            raise KeyError(file_id)
        return self._compliance.file_bytes(key)

    def events(self, event_type: str, day: date, *, files_before: datetime | None = None) -> list[dict[str, Any]]:
        """The events of ``event_type`` whose ``timestamp`` is on ``day``, deduplicated on ``event_id``.

        Only events in files that exist now count (and, with ``files_before``,
        files whose ``end_time`` is before it, as a load with ``before`` sees
        them). Ordered by (``timestamp``, ``event_id``).
        """
        start = day_start(day)
        latest_file_end = start + timedelta(days=2, seconds=MAX_LATENESS_SECONDS)
        if files_before is not None:
            latest_file_end = min(latest_file_end, files_before)
        prefix = day.isoformat()
        seen: dict[str, dict[str, Any]] = {}
        for info in self.log_files(event_type, after=start, before=latest_file_end):
            for line in self.log_file_bytes(info.id).splitlines():
                event = _json.loads(line)
                if str(event["timestamp"]).startswith(prefix):
                    seen.setdefault(event["event_id"], event)
        return sorted(seen.values(), key=lambda e: (e["timestamp"], e["event_id"]))

    def max_event_time(self, event_type: str) -> datetime | None:
        """The latest ``timestamp`` among events in files that exist now (``None`` when none)."""
        if event_type not in CODEX_EVENT_TYPES:
            return None
        now = self.clock.now()
        best: datetime | None = None
        for info in self._compliance.files_descending(
            self._type_index(event_type), self._retention_floor(now), now.timestamp()
        ):
            if best is not None and info.end_time <= best:
                break
            if info.max_event_time is not None and (best is None or info.max_event_time > best):
                best = info.max_event_time
        return best

    # -- other compliance lists ------------------------------------------------------------

    def tasks(self) -> list[dict[str, Any]]:
        """All ``codex_tasks`` records, sorted by ``id``."""
        return self._records(CODEX_TASKS.name, self._tasks)

    def environments(self) -> list[dict[str, Any]]:
        """All ``codex_environments`` records, sorted by ``id``."""
        return self._records(CODEX_ENVIRONMENTS.name, self._environments)

    def _records(self, route: str, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        extra = self._extra_fields(route)
        return [add_row_fields(dict(r), extra) if extra else dict(r) for r in records]
