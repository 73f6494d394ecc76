"""What the benchmark runs: sizes of each case, full and quick, where the databases are, and the API facts.

The API facts (routes, page sizes, paging fields, window parameters, the rate
limit) come from the package's registry (:mod:`airflow_provider_codex.api.endpoints`)
and the sandbox's ids and keys from its config: the loaders that do not use the
provider (limit, dlt, HttpOperator) are handed them, never spell them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from codex_testing.sandbox.config import (
    DEFAULT_ANALYTICS_KEY as ANALYTICS_KEY,
)
from codex_testing.sandbox.config import (
    DEFAULT_COMPLIANCE_KEY as COMPLIANCE_KEY,
)
from codex_testing.sandbox.config import (
    DEFAULT_WORKSPACE_ID as WORKSPACE_ID,
)

from airflow_provider_codex.api.endpoints import (
    CODEX_EVENT_TYPES,
    COMPLIANCE_LOG_FILE,
    COMPLIANCE_LOGS,
    DEFAULT_REQUESTS_PER_MINUTE,
    EVENT_TYPE_PARAM,
    LIMIT_PARAM,
    USAGE,
    WINDOW_PARAMS,
    Endpoint,
)

__all__ = [
    "ANALYTICS_KEY",
    "API_REQUESTS_PER_MINUTE",
    "COMPLIANCE_KEY",
    "MAX_PAGE_ROWS",
    "PG_URI",
    "WORKSPACE_ID",
    "Sizes",
    "api_facts",
    "sizes",
]

PG_URI = os.environ.get("CODEX_BENCH_PG_URI", "postgresql://postgres@127.0.0.1:5432/test")
#: The API's rate limit the backfill case imposes (requests per minute per route), as documented.
API_REQUESTS_PER_MINUTE = DEFAULT_REQUESTS_PER_MINUTE
#: The largest analytics page: every loader asks for it.
MAX_PAGE_ROWS: int = USAGE.max_limit or 0


def _route(endpoint: Endpoint) -> str:
    return endpoint.route().format(owner_id=WORKSPACE_ID, log_file_id="{log_file_id}")


def _paging(endpoint: Endpoint) -> dict[str, Any]:
    rule = endpoint.paging_rule
    return {
        "cursor_field": rule.cursor_field,
        "cursor_param": rule.cursor_param,
        "has_more_field": rule.has_more_field,
        "data_field": rule.data_field,
    }


def api_facts() -> dict[str, Any]:
    """What a loader without the provider needs to know about the API, from the registry (JSON-able)."""
    usage_window, logs_window = WINDOW_PARAMS[USAGE.window], WINDOW_PARAMS[COMPLIANCE_LOGS.window]
    assert usage_window is not None
    assert logs_window is not None
    return {
        "workspace_id": WORKSPACE_ID,
        "limit_param": LIMIT_PARAM,
        "usage": {
            "route": _route(USAGE),
            "limit": USAGE.max_limit,
            "window": list(usage_window),
            "paging": _paging(USAGE),
        },
        "logs": {
            "route": _route(COMPLIANCE_LOGS),
            "file_route": _route(COMPLIANCE_LOG_FILE),
            "limit": COMPLIANCE_LOGS.max_limit,
            "window": list(logs_window),
            "paging": _paging(COMPLIANCE_LOGS),
            "event_type_param": EVENT_TYPE_PARAM,
            "event_types": list(CODEX_EVENT_TYPES),
        },
    }


@dataclass(frozen=True)
class Sizes:
    """One run's sizes. ``today`` is the real UTC date: compliance retention is checked against it."""

    name: str
    reps: int
    #: Case 1: users of the workspace and days of the analytics window.
    users: int
    analytics_days: int
    #: Case 2: CODEX_LOG events of an average weekday.
    events_per_day: int
    #: Case 4: days of the backfill, users of its workspace, and how much faster its clock runs.
    backfill_days: int
    backfill_users: int
    time_scale: float
    #: Case 4: the limit the sandbox imposes (requests a minute per route): the API's in the full run;
    #: in the quick run low enough that a few days cross it, so the limiter and the 429 path run.
    backfill_rate_limit: int
    #: Case 3: the size multiplier of the "large" memory run (1x is cases 1 and 2's size).
    memory_factor: int
    databases: tuple[str, ...] = ("sqlite", "postgres")
    today: date = field(default_factory=lambda: datetime.now(UTC).date())

    @property
    def analytics_window(self) -> tuple[date, date]:
        """``[start, end)``: whole days, ending yesterday (today is partial)."""
        end = self.today
        return end - timedelta(days=self.analytics_days), end

    @property
    def compliance_day(self) -> date:
        """The latest weekday whose files (with the 6 h grace) have all landed: at most today - 2."""
        day = self.today - timedelta(days=2)
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        return day

    @property
    def backfill_window(self) -> tuple[date, date]:
        end = self.today
        return end - timedelta(days=self.backfill_days), end


FULL = Sizes(
    name="full",
    reps=3,
    users=20_000,
    analytics_days=30,
    events_per_day=500_000,
    backfill_days=365,
    backfill_users=50,
    time_scale=1.5,
    backfill_rate_limit=API_REQUESTS_PER_MINUTE,
    memory_factor=10,
)
QUICK = replace(
    FULL,
    name="quick",
    reps=1,
    users=300,
    analytics_days=3,
    events_per_day=3_000,
    backfill_days=6,
    backfill_users=20,
    time_scale=60.0,
    backfill_rate_limit=4,
    memory_factor=2,
)


def sizes(quick: bool, reps: int | None = None) -> Sizes:
    chosen = QUICK if quick else FULL
    return replace(chosen, reps=reps) if reps else chosen
