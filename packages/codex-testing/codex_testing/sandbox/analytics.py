"""Synthetic Analytics API rows: usage per user per day, the workspace sum, code reviews.

Shapes follow ``shared/codex-api.md``. What the data deliberately contains, so
loaders meet it here before they meet it in production:

* a deterministic subset of users is active each day (fewer on weekends); about
  3% of days are quiet (no rows at all, on every analytics route);
* null emails, ``models`` / ``code_attribution`` absent or null, null token
  counters, the surfaces ``CODEX_UNKNOWN_DEFAULT`` and ``CODEX_FUTURE_SURFACE``
  (a value no client knows), the model ``other``;
* the day "now" is in is partial: only users whose first activity of the day is
  before "now" have a row, and code review counts are scaled to the elapsed part.

Money and credits are decimals with a fixed number of places (credits 2,
``estimated_cost_usd`` and ``cost_usd`` 4) so sums are exact in decimal
arithmetic; floats in JSON are the nearest doubles.

**How the workspace row (``group=workspace``) adds up.** It is computed from
the day's user rows exactly as served (after the partial-day cut):

* ``totals.threads``, ``totals.turns``: integer sums; ``totals.credits``,
  ``cost_usd``, ``estimated_cost_usd``: exact decimal sums;
* ``clients``: one entry per ``client_id`` (sorted), each counter summed over
  the user rows' entries of that client;
* ``models``: one entry per (``model``, ``speed``) (sorted), credits summed over
  the user rows whose ``models`` is a list; ``null`` when no user row has one;
* ``code_attribution``: line counts summed over the user rows where it is an
  object; ``null`` when none is;
* nulls: a sum skips null values; it is null only when every value summed is
  null (no information at all). A token counter that is null for some users
  therefore sums the users who reported it.

A day with no user row has no workspace row either.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from airflow_provider_codex import _json
from airflow_provider_codex.api.endpoints import (
    CODE_REVIEW_RESPONSES,
    CODE_REVIEWS,
    USAGE,
    USAGE_WORKSPACE,
)

from ._cache import LruCache
from ._synth import FUTURE_CLIENT_ID, MODELS, OTHER_MODEL, SPEEDS, UNKNOWN_CLIENT_ID, User, rng
from .clock import day_start
from .config import SandboxConfig

DAY_SECONDS = 86_400
#: The analytics routes the sandbox serves, by registry endpoint name.
ANALYTICS_ROUTES: tuple[str, ...] = (USAGE.name, USAGE_WORKSPACE.name, CODE_REVIEWS.name, CODE_REVIEW_RESPONSES.name)
TOKEN_FIELDS: tuple[str, ...] = (
    "uncached_text_input_tokens",
    "cached_text_input_tokens",
    "text_output_tokens",
    "text_total_tokens",
)
_API_BILLED = frozenset({"CODEX_SDK", "CODEX_EXEC"})


@dataclass(frozen=True, slots=True)
class UsageDay:
    """One full day of user rows: serialised once, cut at "now" when served."""

    first_seen: tuple[int, ...]  # each row's first activity, seconds after 00:00
    rows: tuple[bytes, ...]
    nbytes: int


def is_quiet_day(seed: int, day: date) -> bool:
    """About 3% of days have no analytics rows at all."""
    return rng(seed, "quiet-analytics", day.isoformat()).random() < 0.03


def _activity_factor(day: date) -> float:
    return 0.3 if day.weekday() >= 5 else 1.0


def _usage_row(r: random.Random, user: User, start: int) -> dict[str, Any]:
    rand = r.random  # a + int(rand() * n) instead of randint: generation speed sets cold throughput

    n_clients = 1 + (rand() < 0.35) + (rand() < 0.1)
    client_ids = list(user.clients[:n_clients])
    odd = rand()
    if odd < 0.01:
        client_ids[-1] = FUTURE_CLIENT_ID
    elif odd < 0.03:
        client_ids[-1] = UNKNOWN_CLIENT_ID
    clients = []
    threads_total = turns_total = cents_total = 0
    for client_id in client_ids:
        threads = 1 + int(rand() * 6)
        turns = threads * (1 + int(rand() * 12))
        cents = turns * (10 + int(rand() * 191))
        threads_total += threads
        turns_total += turns
        cents_total += cents
        uncached: int | None = turns * (200 + int(rand() * 4801))
        cached: int | None = turns * int(rand() * 8001)
        output: int | None = turns * (50 + int(rand() * 1451))
        tokens = rand()
        if tokens < 0.04:
            uncached = cached = output = None
        elif tokens < 0.08:
            cached = None
        total = None if uncached is None or cached is None or output is None else uncached + cached + output
        clients.append(
            {
                "client_id": client_id,
                "threads": threads,
                "turns": turns,
                "credits": cents / 100,
                "uncached_text_input_tokens": uncached,
                "cached_text_input_tokens": cached,
                "text_output_tokens": output,
                "text_total_tokens": total,
            }
        )
    cost = 1 + int(rand() * 50_000) if any(c in _API_BILLED for c in client_ids) else 0
    row: dict[str, Any] = {
        "object": "codex.usage",
        "start_time": start,
        "end_time": start + DAY_SECONDS,
        "user_id": user.user_id,
        "actor": {"type": "ACCOUNT_USER", "user_id": user.user_id, "email": user.email},
        "totals": {
            "threads": threads_total,
            "turns": turns_total,
            "credits": cents_total / 100,
            "cost_usd": cost / 10_000,
            "estimated_cost_usd": cents_total * 4 / 10_000,
        },
        "clients": clients,
    }
    models = rand()
    if models < 0.9:
        first = OTHER_MODEL if rand() < 0.04 else user.model
        if rand() < 0.3:
            second = MODELS[int(rand() * len(MODELS))]
            if second == first:
                second = OTHER_MODEL if first != OTHER_MODEL else MODELS[0]
            share = int(rand() * (cents_total + 1))
            row["models"] = [
                {"model": first, "speed": SPEEDS[0], "credits": (cents_total - share) / 100},
                {"model": second, "speed": SPEEDS[rand() < 0.5], "credits": share / 100},
            ]
        else:
            row["models"] = [{"model": first, "speed": SPEEDS[rand() < 0.3], "credits": cents_total / 100}]
    elif models < 0.95:
        row["models"] = None
    attribution = rand()
    if attribution < 0.7:
        row["code_attribution"] = {
            "lines_added": int(rand() * 41) * turns_total,
            "lines_removed": int(rand() * 16) * turns_total,
        }
    elif attribution < 0.8:
        row["code_attribution"] = None
    return row


def generate_usage_day(seed: int, users: Sequence[User], day: date) -> UsageDay:
    """All user rows of ``day`` (the whole day), ordered by ``user_id``."""
    if is_quiet_day(seed, day):
        return UsageDay((), (), 0)
    r = rng(seed, "usage-day", day.isoformat())
    factor = _activity_factor(day)
    start = int(day_start(day).timestamp())
    first_seen: list[int] = []
    rows: list[bytes] = []
    for user in users:
        if r.random() >= user.propensity * factor:
            continue
        first_seen.append(int(r.triangular(0, DAY_SECONDS - 1, 14 * 3600)))
        rows.append(_json.dumps(_usage_row(r, user, start)))
    return UsageDay(tuple(first_seen), tuple(rows), sum(map(len, rows)) + 16 * len(rows))


def _dec(value: float | int) -> Decimal:
    return Decimal(repr(value))


def _nsum(values: Iterable[Any]) -> Any:
    """Sum of the non-null values; null when every value is null (or there is none)."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, int) for v in present):
        return sum(present)
    return float(sum((_dec(v) for v in present), Decimal(0)))


def workspace_row(user_rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``group=workspace`` row of a day: the sum of its user rows (see the module docstring)."""
    if not user_rows:
        return None
    by_client: dict[str, list[dict[str, Any]]] = {}
    by_model: dict[tuple[str, str], list[float]] = {}
    any_models = False
    attributions: list[dict[str, Any]] = []
    for row in user_rows:
        for client in row["clients"]:
            by_client.setdefault(client["client_id"], []).append(client)
        models = row.get("models")
        if isinstance(models, list):
            any_models = True
            for m in models:
                by_model.setdefault((m["model"], m["speed"]), []).append(m["credits"])
        attribution = row.get("code_attribution")
        if isinstance(attribution, dict):
            attributions.append(attribution)
    totals = [row["totals"] for row in user_rows]
    return {
        "object": user_rows[0]["object"],
        "start_time": user_rows[0]["start_time"],
        "end_time": user_rows[0]["end_time"],
        "user_id": None,
        "actor": None,
        "totals": {
            name: _nsum(t[name] for t in totals)
            for name in ("threads", "turns", "credits", "cost_usd", "estimated_cost_usd")
        },
        "clients": [
            {
                "client_id": client_id,
                **{name: _nsum(c[name] for c in entries) for name in ("threads", "turns", "credits", *TOKEN_FIELDS)},
            }
            for client_id, entries in sorted(by_client.items())
        ],
        "models": [
            {"model": model, "speed": speed, "credits": _nsum(credits)}
            for (model, speed), credits in sorted(by_model.items())
        ]
        if any_models
        else None,
        "code_attribution": {
            name: _nsum(a.get(name) for a in attributions) for name in ("lines_added", "lines_removed")
        }
        if attributions
        else None,
    }


def code_review_row(seed: int, users: int, day: date, fraction: float) -> dict[str, Any]:
    """The ``code_reviews`` row of ``day``, counts scaled to the elapsed ``fraction`` of it."""
    r = rng(seed, "code-reviews", day.isoformat())
    scale = max(1.0, users / 10) * _activity_factor(day)

    def count(low: int, high: int) -> int:
        return int(r.randint(low, high) * scale * fraction)

    p0, p1, p2 = count(0, 2), count(1, 8), count(2, 20)
    start = int(day_start(day).timestamp())
    return {
        "object": "codex.code_review",
        "start_time": start,
        "end_time": start + DAY_SECONDS,
        "pull_request_reviews": count(3, 30),
        "comments": p0 + p1 + p2,
        "comment_details": {"p0": p0, "p1": p1, "p2": p2},
    }


def code_review_response_row(seed: int, users: int, day: date, fraction: float) -> dict[str, Any]:
    """The ``code_review_responses`` row of ``day`` (PRs merged that day), scaled like reviews."""
    r = rng(seed, "code-review-responses", day.isoformat())
    scale = max(1.0, users / 10) * _activity_factor(day) * fraction
    comments = int(r.randint(2, 40) * scale)
    engaged = int(comments * r.uniform(0.3, 0.9))
    upvoted = int(engaged * r.uniform(0.1, 0.5))
    downvoted = int((engaged - upvoted) * r.uniform(0.0, 0.3))
    reacted_other = int((engaged - upvoted - downvoted) * r.uniform(0.0, 0.3))
    replied = int(engaged * r.uniform(0.1, 0.6))
    upvotes, downvotes, other = upvoted + int(r.randint(0, 3) * scale), downvoted, reacted_other
    start = int(day_start(day).timestamp())
    return {
        "object": "codex.code_review_response",
        "start_time": start,
        "end_time": start + DAY_SECONDS,
        "pull_request_reviews": int(r.randint(2, 25) * scale),
        "comments": comments,
        "replies": replied + int(r.randint(0, 4) * scale),
        "reactions": upvotes + downvotes + other,
        "reaction_details": {"upvotes": upvotes, "downvotes": downvotes, "other": other},
        "comment_response_details": {
            "engaged": engaged,
            "reacted": upvoted + downvoted + reacted_other,
            "upvoted": upvoted,
            "downvoted": downvoted,
            "reacted_other": reacted_other,
            "replied": replied,
        },
    }


class AnalyticsStore:
    """Serves the analytics rows of a day, as bytes, as of a given "now"."""

    def __init__(self, config: SandboxConfig, users: Sequence[User], cache_bytes: int) -> None:
        self._config = config
        self._users = users
        self._usage: LruCache[date, UsageDay] = LruCache(cache_bytes, lambda d: d.nbytes)
        self._workspace: LruCache[tuple[date, int], tuple[bytes, ...]] = LruCache(
            max(1, cache_bytes // 16), lambda rows: sum(map(len, rows))
        )
        self._full_counts: dict[date, int] = {}
        self.history_start = config.today - timedelta(days=config.analytics_history_days - 1)

    def elapsed(self, day: date, now: datetime) -> int:
        """Seconds of ``day`` before ``now``: 0 (not begun) .. 86400 (complete)."""
        return max(0, min(DAY_SECONDS, int((now - day_start(day)).total_seconds())))

    def exists(self, day: date, now: datetime) -> bool:
        """Whether ``day`` can have rows: within the history and begun by ``now``."""
        return day >= self.history_start and self.elapsed(day, now) > 0

    def _usage_day(self, day: date) -> UsageDay:
        return self._usage.get_or_create(day, lambda: generate_usage_day(self._config.seed, self._users, day))

    def _user_rows(self, day: date, cutoff: int) -> Sequence[bytes]:
        usage = self._usage_day(day)
        if cutoff >= DAY_SECONDS:
            return usage.rows
        return [row for row, seen in zip(usage.rows, usage.first_seen, strict=True) if seen < cutoff]

    def row_bytes(self, route: str, day: date, now: datetime) -> Sequence[bytes]:
        """The rows ``route`` serves for ``day``, serialised, in order."""
        if not self.exists(day, now) or is_quiet_day(self._config.seed, day):
            return ()
        cutoff = self.elapsed(day, now)
        if route == USAGE.name:
            return self._user_rows(day, cutoff)
        if route == USAGE_WORKSPACE.name:
            return self._workspace.get_or_create((day, cutoff), lambda: self._workspace_rows(day, cutoff))
        fraction = cutoff / DAY_SECONDS
        if route == CODE_REVIEWS.name:
            return (_json.dumps(code_review_row(self._config.seed, self._config.users, day, fraction)),)
        if route == CODE_REVIEW_RESPONSES.name:
            return (_json.dumps(code_review_response_row(self._config.seed, self._config.users, day, fraction)),)
        raise KeyError(f"not an analytics route: {route!r}")

    def _workspace_rows(self, day: date, cutoff: int) -> tuple[bytes, ...]:
        row = workspace_row([_json.loads(b) for b in self._user_rows(day, cutoff)])
        return () if row is None else (_json.dumps(row),)

    def row_count(self, route: str, day: date, now: datetime) -> int:
        """``len(row_bytes(...))``, remembered for complete days of user rows."""
        if route == USAGE.name and self.exists(day, now) and self.elapsed(day, now) >= DAY_SECONDS:
            count = self._full_counts.get(day)
            if count is None:
                count = self._full_counts[day] = len(self.row_bytes(route, day, now))
            return count
        return len(self.row_bytes(route, day, now))
