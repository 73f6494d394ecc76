"""Deterministic fault injection and a real rate limiter for the sandbox.

A client's retry, paging and integrity code paths only get exercised when the
server misbehaves, and a test that depends on random failures is flaky. So each
fault here is a rule with counters ("the first 2 requests of each route answer
429"), never a coin toss. Faults can be changed while the server runs (from the
test's thread or through ``POST /_sandbox/faults``); any change restarts the
counters, so "the first N" always means "the first N after this setting".
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

RetryAfterFormat = Literal["seconds", "http-date"]
_RETRY_AFTER_FORMATS: tuple[RetryAfterFormat, ...] = ("seconds", "http-date")


@dataclass(eq=False)
class Faults:
    """The faults a sandbox injects. All off by default.

    Counting is per route (the endpoint name in the registry, e.g. ``usage``,
    ``compliance_logs``) and, for downloads, per log file.
    """

    #: The first N requests of each route answer 429 (with ``Retry-After``).
    fail_429_first_n: int = 0
    #: Every k-th request of each route answers 429 (k, 2k, 3k, ...). 0 = off.
    fail_429_every: int = 0
    #: The ``Retry-After`` of injected 429s, in seconds (fractions allowed).
    retry_after: float = 1.0
    #: ``seconds`` (``Retry-After: 1``) or ``http-date`` (``Retry-After: Wed, 25 Nov 2026 ...``).
    retry_after_format: RetryAfterFormat = "seconds"
    #: Every k-th request of each route answers 503, 502, 500 in turn. 0 = off.
    fail_5xx_every: int = 0
    #: Sleep this long before answering each contract request.
    slow_ms: int = 0
    #: Pages hold fewer rows than ``limit`` (about a third) while ``has_more`` is true.
    short_pages: bool = False
    #: The first N downloads of each log file serve bytes whose sha256 does not match the listing.
    corrupt_download_first_n: int = 0
    #: The cursor (``next_page`` / ``last_id`` / ``last_end_time``) stops advancing; ``has_more`` stays true.
    endless_cursor: bool = False
    #: A sliding-window limit of requests per minute per route and owner; 0 = off.
    rate_limit_per_minute: int = 0
    #: Speeds the rate limiter's minute up: 60 means the window lasts one real second. With a
    #: scale other than 1 the limiter's ``Retry-After`` is fractional seconds (``"0.25"``).
    time_scale: float = 1.0
    #: Schema drift: fields the API "adds" to every row of a route, ``{route: {field: value}}``.
    #: Routes: the analytics ones (``usage``, ``usage_workspace``, ``code_reviews``,
    #: ``code_review_responses``) and the compliance lists (``codex_tasks``, ``codex_environments``).
    #: A dotted field (``totals.fooBar``) goes into that nested object, or into every object of
    #: that nested list (``clients.fooBar``); where the container is missing or null it is left out.
    #: What the data accessors return includes the fields, as served.
    extra_row_fields: dict[str, dict[str, Any]] = field(default_factory=dict)

    _lock: threading.RLock = field(init=False, repr=False, compare=False)
    _route_counts: Counter[str] = field(init=False, repr=False, compare=False)
    _download_counts: Counter[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lock", threading.RLock())
        object.__setattr__(self, "_route_counts", Counter())
        object.__setattr__(self, "_download_counts", Counter())
        self._validate()

    def __setattr__(self, name: str, value: Any) -> None:
        lock: threading.RLock | None = self.__dict__.get("_lock")
        if lock is None or name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if name not in _FIELD_NAMES:
            raise AttributeError(f"Faults has no field {name!r}; known: {', '.join(_FIELD_NAMES)}")
        with lock:
            object.__setattr__(self, name, _coerce(name, value))
            self._validate()
            self._route_counts.clear()
            self._download_counts.clear()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The public, settable fields."""
        return _FIELD_NAMES

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-able values."""
        with self._lock:
            return {name: copy.deepcopy(getattr(self, name)) for name in _FIELD_NAMES}

    def copy(self) -> Faults:
        return Faults(**self.as_dict())

    def replace_all(self, values: Mapping[str, Any]) -> None:
        """Set every field: those in ``values``, the rest back to their defaults.

        Raises ``ValueError`` on an unknown field or a bad value, leaving the
        faults unchanged.
        """
        unknown = sorted(set(values) - set(_FIELD_NAMES))
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {', '.join(_FIELD_NAMES)}")
        fresh = Faults(**{k: _coerce(k, v) for k, v in values.items()})
        with self._lock:
            for name in _FIELD_NAMES:
                object.__setattr__(self, name, getattr(fresh, name))
            self._route_counts.clear()
            self._download_counts.clear()

    def count_request(self, route: str) -> int:
        """Count one request of ``route``; return its 1-based number since the last change."""
        with self._lock:
            self._route_counts[route] += 1
            return self._route_counts[route]

    def count_download(self, file_id: str) -> int:
        """Count one download of ``file_id``; return its 1-based number since the last change."""
        with self._lock:
            self._download_counts[file_id] += 1
            return self._download_counts[file_id]

    def _validate(self) -> None:
        for name in (
            "fail_429_first_n",
            "fail_429_every",
            "fail_5xx_every",
            "slow_ms",
            "corrupt_download_first_n",
            "rate_limit_per_minute",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"fault {name} must be >= 0")
        if self.retry_after < 0:
            raise ValueError("fault retry_after must be >= 0")
        if self.time_scale <= 0:
            raise ValueError("fault time_scale must be > 0")
        if self.retry_after_format not in _RETRY_AFTER_FORMATS:
            raise ValueError(f"fault retry_after_format must be one of {_RETRY_AFTER_FORMATS}")
        _check_extra_row_fields(self.extra_row_fields)


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Faults) if not f.name.startswith("_"))
_BOOL_FIELDS = frozenset({"short_pages", "endless_cursor"})
_FLOAT_FIELDS = frozenset({"retry_after", "time_scale"})


def _coerce(name: str, value: Any) -> Any:
    """Turn CLI/JSON input (``"3"``, ``"true"``) into the field's type."""
    if name in _BOOL_FIELDS:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(f"fault {name} must be a boolean, got {value!r}")
            return lowered in {"1", "true", "yes", "on"}
        return bool(value)
    if name in _FLOAT_FIELDS:
        return float(value)
    if name == "retry_after_format":
        return str(value)
    if name == "extra_row_fields":
        if isinstance(value, str):  # from the CLI: --fault 'extra_row_fields={"usage": {"newField": 1}}'
            value = json.loads(value) if value.strip() else {}
        _check_extra_row_fields(value)
        return copy.deepcopy(value)
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"fault {name} must be an integer, got {value!r}")
    return int(value)


#: The routes ``extra_row_fields`` applies to (registry endpoint names).
EXTRA_FIELD_ROUTES: tuple[str, ...] = (
    "usage",
    "usage_workspace",
    "code_reviews",
    "code_review_responses",
    "codex_tasks",
    "codex_environments",
)


def _check_extra_row_fields(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError("fault extra_row_fields must be an object {route: {field: value}}")
    for route, extra in value.items():
        if route not in EXTRA_FIELD_ROUTES:
            raise ValueError(f"fault extra_row_fields: unknown route {route!r}; known: {', '.join(EXTRA_FIELD_ROUTES)}")
        if not isinstance(extra, dict) or not all(isinstance(k, str) and k.strip(".") for k in extra):
            raise ValueError(f"fault extra_row_fields[{route!r}] must be an object of field names to values")
        try:
            json.dumps(extra)
        except (TypeError, ValueError) as bad:
            raise ValueError(f"fault extra_row_fields[{route!r}] must be JSON-able: {bad}") from None


def add_row_fields(row: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``row`` with ``extra``'s fields set (see ``Faults.extra_row_fields``); changes ``row`` in place."""
    for name, value in extra.items():
        container, dot, leaf = name.partition(".")
        if not dot:
            row[name] = copy.deepcopy(value)
            continue
        nested = row.get(container)
        targets = nested if isinstance(nested, list) else [nested]
        for target in targets:
            if isinstance(target, dict):
                target[leaf] = copy.deepcopy(value)
    return row


class RateLimiter:
    """A sliding-window limiter: at most ``per_minute`` accepted requests in any window.

    The window lasts ``60 / time_scale`` real seconds. A refused request is not
    counted, as a real service would not count it against the budget.
    """

    def __init__(self) -> None:
        self._accepted: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, per_minute: int, time_scale: float) -> float | None:
        """Record a request; return ``None`` if allowed, else the seconds to wait."""
        window = 60.0 / time_scale
        now = time.monotonic()
        with self._lock:
            times = self._accepted.setdefault(key, deque())
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= per_minute:
                return max(0.001, times[0] + window - now)
            times.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._accepted.clear()
