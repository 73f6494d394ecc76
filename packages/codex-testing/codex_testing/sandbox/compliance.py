"""Synthetic Compliance API data: Codex events grouped into JSONL log files.

**Files.** Each event type has its own sequence of files. Each file covers a
time slice ``(start, end]`` of *landing* times (when the service wrote the
event): a day is cut into ``n`` slices of jittered length, so a slice can
straddle midnight and a file can hold events of two days. ``n`` is chosen from
``events_per_day`` so that files stay well under ``max_log_file_bytes`` (a
file is also truncated there, as a last resort). Empty slices have no file.

**End times are unique across all event types**, so ``after=<last_end_time>``
pages without ties: ``end_time`` is a whole second whose value modulo the
number of Codex event types is the index of the type.

**Events.** Each file owns its events; an event lands a short delay after its
``timestamp``, except 2% *late* events that land 30 min to 4 h later, so an
event of day D can be in a file whose ``end_time`` is on day D+1. About 1% of
events are *duplicated*: they appear again in the next file (at-least-once
delivery). Deduplicate on ``event_id``.

**Time.** A file exists when its ``end_time`` is at or before "now", after
"now" minus ``retention_days``, and after the start of the workspace's history
(the first analytics day). A file's bytes never depend on "now".
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow_provider_codex import _json
from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES

from ._cache import LruCache
from ._synth import (
    FUTURE_CLIENT_ID,
    OTHER_MODEL,
    User,
    iso_ms,
    iso_s,
    response_text,
    rng,
    stable_hex,
    stable_int,
    text,
)
from .clock import day_start

DAY_SECONDS = 86_400
#: The longest delay between an event's timestamp and the file it lands in.
MAX_LATENESS_SECONDS = 4 * 3600
_LATE_SHARE = 0.02
_DUPLICATE_SHARE = 0.01
_SECURITY_SHARE = 0.02
_HOUR_WEIGHTS = tuple(0.25 + math.exp(-((((h + 0.5) - 14.5) / 4.5) ** 2)) for h in range(24))
_HOUR_SHARE = tuple(w / sum(_HOUR_WEIGHTS) for w in _HOUR_WEIGHTS)

_CODEX_EVENT_KINDS = (
    "PROMPT_SENT",
    "PROMPT_RESPONSE_RECEIVED",
    "TOOL_CALL_COMPLETED",
    "TOOL_CALL_FAILED",
    "TOOL_DECISION",
)
_CODEX_EVENT_WEIGHTS = (0.3, 0.3, 0.24, 0.05, 0.11)
_SECURITY_EVENT_KINDS = (
    "SANDBOX_ESCALATION_REQUESTED",
    "NETWORK_REQUEST_BLOCKED",
    "SECRET_SCAN_MATCH",
    "APPROVAL_POLICY_CHANGED",
)
_LOG_CLIENTS = ("CODEX_CLI", "CODEX_IDE_VSCODE", "CODEX_WEB", "CODEX_GITHUB", "CODEX_EXEC")
_COMMANDS = (
    "pytest -q tests/",
    "git diff --stat",
    "rg -n 'def load' src/",
    "npm test -- --watch=false",
    "cat pyproject.toml",
    "ls -la",
    "curl https://example.com/api",
    "python -m mypy .",
)


@dataclass(frozen=True, slots=True)
class FileKey:
    """Which file: event type (index in ``CODEX_EVENT_TYPES``), day of its ``end_time`` slot, slot."""

    type_index: int
    day: date
    slot: int


@dataclass(frozen=True)
class LogFileInfo:
    """One log file as the listing describes it, plus facts tests can use."""

    id: str
    event_type: str
    start_time: datetime  # exclusive: events landing after this ...
    end_time: datetime  # ... and at or before this
    file_name: str
    file_size: int
    file_sha256: str
    event_count: int  # lines, duplicates included
    max_event_time: datetime | None

    def listing(self) -> dict[str, Any]:
        """The object ``GET /logs`` answers for this file."""
        return {
            "id": self.id,
            "event_type": self.event_type,
            "end_time": iso_s(self.end_time),
            "file_name": self.file_name,
            "file_size": self.file_size,
            "file_sha256": self.file_sha256,
        }


@dataclass(frozen=True, slots=True)
class _Plan:
    """A file's own events before their content: landing times (ms) and which repeat in the next file."""

    landings: tuple[int, ...]
    duplicated: tuple[int, ...]


def _codex_event(r: random.Random, event_id: str, ts_ms: int, user: User, session: str) -> dict[str, Any]:
    kind = r.choices(_CODEX_EVENT_KINDS, _CODEX_EVENT_WEIGHTS)[0]
    token_usage = None
    if kind == "PROMPT_RESPONSE_RECEIVED":
        token_usage = {
            "input_tokens": r.randint(500, 60_000),
            "output_tokens": r.randint(20, 4000),
            "cached_input_tokens": r.randint(0, 50_000),
            "reasoning_output_tokens": None if r.random() < 0.1 else r.randint(0, 3000),
        }
    tool = kind.startswith("TOOL_")
    return {
        "event_id": event_id,
        "type": "CODEX_LOG",
        "timestamp": iso_ms(ts_ms),
        **_envelope(r, user),
        "event_type": kind,
        "client_id": FUTURE_CLIENT_ID if r.random() < 0.005 else r.choice(_LOG_CLIENTS),
        "event_details": {
            "session_id": session,
            "model": OTHER_MODEL if r.random() < 0.03 else user.model,
            "token_usage": token_usage,
            "decision": r.choice(("approved", "denied", "approved_for_session")) if kind == "TOOL_DECISION" else None,
        },
        "prompt_text": text(r, 8, 250) if kind == "PROMPT_SENT" else None,
        "response_text": response_text(r, 20, 400) if kind == "PROMPT_RESPONSE_RECEIVED" else None,
        "tool_input": _json.dumps({"command": r.choice(_COMMANDS), "workdir": "/workspace/repo"}).decode()
        if tool
        else None,
    }


def _security_event(r: random.Random, event_id: str, ts_ms: int, user: User, session: str) -> dict[str, Any]:
    kind = r.choice(_SECURITY_EVENT_KINDS)
    return {
        "event_id": event_id,
        "type": "CODEX_SECURITY_LOG",
        "timestamp": iso_ms(ts_ms),
        **_envelope(r, user),
        "event_type": kind,
        "client_id": r.choice(_LOG_CLIENTS),
        "event_details": {
            "session_id": session,
            "severity": r.choice(("low", "medium", "high")),
            "rule": f"codex.{kind.lower()}",
            "action": r.choice(("blocked", "allowed", "flagged")),
            "target": r.choice(_COMMANDS),
        },
    }


def _envelope(r: random.Random, user: User) -> dict[str, Any]:
    actor = r.random()
    if actor < 0.9:
        actor_type, principal = "ACCOUNT_USER", {"id": user.user_id, "type": "USER"}
        who = {"type": actor_type, "user_id": user.user_id, "user_email": user.email}
    elif actor < 0.97:
        key_id = "key_" + stable_hex(16, "api-key", user.user_id)
        principal = {"id": key_id, "type": "API_KEY"}
        who = {"type": "API_KEY", "user_id": None, "user_email": None}
    else:
        principal = {"id": user.user_id, "type": "USER"}
        who = {
            "type": "EXTERNAL_COLLABORATION_USER",
            "user_id": user.user_id,
            "user_email": f"guest{r.randrange(100)}@partner.example",
        }
    return {
        "principal": principal,
        "actor": who,
        "request_metadata": {"client_ip": user.ip, "client_user_agent": user.user_agent},
    }


class ComplianceStore:
    """Lists, builds and caches log files; finds events."""

    def __init__(
        self, seed: int, users: Sequence[User], events_per_day: int, max_file_bytes: int, cache_bytes: int
    ) -> None:
        self._seed = seed
        self._users = users
        self._events_per_day = events_per_day
        self._max_file_bytes = max_file_bytes
        self._bytes: LruCache[FileKey, bytes] = LruCache(cache_bytes, len)
        self._info: dict[FileKey, LogFileInfo | None] = {}
        self._plans: LruCache[FileKey, _Plan] = LruCache(1 << 20, lambda p: len(p.landings) + 1)
        self._ends: dict[tuple[int, date], tuple[int, ...]] = {}
        self._lock = threading.Lock()
        self._mean_event_bytes = tuple(self._measure_event_bytes(t) for t in range(len(CODEX_EVENT_TYPES)))
        self._slots = tuple(self._slots_per_day(t) for t in range(len(CODEX_EVENT_TYPES)))

    # -- the schedule of files ---------------------------------------------------------------

    def _daily_base(self, type_index: int) -> float:
        share = 1.0 if CODEX_EVENT_TYPES[type_index] == "CODEX_LOG" else _SECURITY_SHARE
        return self._events_per_day * share

    def _measure_event_bytes(self, type_index: int) -> float:
        sizes = [len(self._event(FileKey(type_index, date(2000, 1, 1), 0), j, 946_684_800_000)[2]) for j in range(200)]
        return sum(sizes) / len(sizes)

    def _slots_per_day(self, type_index: int) -> int:
        minimum = 24 if CODEX_EVENT_TYPES[type_index] == "CODEX_LOG" else 8
        peak_bytes_per_day = (
            self._daily_base(type_index) * 1.2 * max(_HOUR_SHARE) * 24 * self._mean_event_bytes[type_index]
        )
        # The expected file of the busiest hour is 60% of the cap; longer slots (up to 1.6x) and
        # busier days are cut by the cap on the count of events (and, last, by truncation).
        needed = math.ceil(peak_bytes_per_day / (self._max_file_bytes * 0.6))
        return max(minimum, min(1440, needed))

    def _day_ends(self, type_index: int, day: date) -> tuple[int, ...]:
        """The ``end_time`` (Unix s) of each slot of ``day``; unique across types, increasing."""
        key = (type_index, day)
        ends = self._ends.get(key)
        if ends is None:
            slots = self._slots[type_index]
            step = DAY_SECONDS / slots
            r = rng(self._seed, "slots", type_index, day.isoformat())
            base = int(day_start(day).timestamp())
            n_types = len(CODEX_EVENT_TYPES)
            values = []
            for slot in range(slots):
                moment = base + round((slot + 1) * step + r.uniform(-0.3, 0.3) * step)
                values.append(moment - moment % n_types + type_index)
            ends = self._ends[key] = tuple(values)
        return ends

    def end_time(self, key: FileKey) -> int:
        return self._day_ends(key.type_index, key.day)[key.slot]

    def previous(self, key: FileKey) -> FileKey:
        if key.slot > 0:
            return FileKey(key.type_index, key.day, key.slot - 1)
        return FileKey(key.type_index, key.day - timedelta(days=1), self._slots[key.type_index] - 1)

    def start_time(self, key: FileKey) -> int:
        return self.end_time(self.previous(key))

    def candidates(self, type_index: int, after: float, until: float) -> Iterator[tuple[int, FileKey]]:
        """``(end_time, key)`` of the slots with ``after < end_time <= until``, in order."""
        if until <= after:
            return
        first = datetime.fromtimestamp(after, UTC).date() - timedelta(days=1)
        last = datetime.fromtimestamp(until, UTC).date()
        day = first
        while day <= last:
            for slot, end in enumerate(self._day_ends(type_index, day)):
                if after < end <= until:
                    yield end, FileKey(type_index, day, slot)
            day += timedelta(days=1)

    # -- ids ---------------------------------------------------------------------------------

    def file_id(self, key: FileKey) -> str:
        payload = f"{key.type_index:x}{key.day.toordinal():06x}{key.slot:03x}"
        return "lf_" + payload + stable_hex(14, self._seed, "file-id", payload)

    def key_of(self, file_id: str) -> FileKey | None:
        """The file an id names, or ``None`` when the id was not made by this sandbox."""
        payload = file_id[3:13]
        if not file_id.startswith("lf_") or len(file_id) != 27 or self.file_id_tag(payload) != file_id[13:]:
            return None
        try:
            type_index, ordinal, slot = int(payload[0], 16), int(payload[1:7], 16), int(payload[7:], 16)
            key = FileKey(type_index, date.fromordinal(ordinal), slot)
        except ValueError:
            return None
        if type_index >= len(CODEX_EVENT_TYPES) or slot >= self._slots[type_index]:
            return None
        return key

    def file_id_tag(self, payload: str) -> str:
        return stable_hex(14, self._seed, "file-id", payload)

    # -- content -----------------------------------------------------------------------------

    def _plan(self, key: FileKey) -> _Plan:
        return self._plans.get_or_create(key, lambda: self._make_plan(key))

    def _make_plan(self, key: FileKey) -> _Plan:
        start, end = self.start_time(key), self.end_time(key)
        r = rng(self._seed, "file", key.type_index, key.day.isoformat(), key.slot)
        middle = datetime.fromtimestamp((start + end) / 2, UTC)
        day_r = rng(self._seed, "compliance-day", middle.date().isoformat())
        day_factor = 0.0 if day_r.random() < 0.02 else day_r.uniform(0.85, 1.15)
        if middle.weekday() >= 5:
            day_factor *= 0.35
        expected = self._daily_base(key.type_index) * day_factor * _HOUR_SHARE[middle.hour] * (end - start) / 3600
        count = round(expected * r.uniform(0.8, 1.2))
        cap = int(self._max_file_bytes / (self._mean_event_bytes[key.type_index] * 1.1))
        count = min(count, cap)
        landings = sorted(r.randrange(start * 1000 + 1, end * 1000 + 1) for _ in range(count))
        duplicated = tuple(j for j in range(count) if r.random() < _DUPLICATE_SHARE)
        return _Plan(tuple(landings), duplicated)

    def _event(self, key: FileKey, index: int, landing_ms: int) -> tuple[str, int, bytes]:
        """Event ``index`` of file ``key``: ``(event_id, timestamp ms, JSON line)``."""
        base = self._event_base(key)
        r = random.Random(base + index)
        late = r.random() < _LATE_SHARE
        delay = (
            30 * 60_000 + int(r.random() * (MAX_LATENESS_SECONDS * 1000 - 30 * 60_000))
            if late
            else 50 + int(r.random() * 90_000)
        )
        ts_ms = landing_ms - delay
        event_id = f"evt_{base:016x}{index:08x}"
        user_index = int(r.random() * len(self._users))
        user = self._users[user_index]
        session_number = (user_index << 24) ^ (ts_ms // 3_600_000 << 2) ^ int(r.random() * 3)
        session = f"sess_{(session_number * 0x9E3779B97F4A7C15 + self._seed) & 0xFFFFFFFFFFFFFFFF:016x}"
        make = _codex_event if CODEX_EVENT_TYPES[key.type_index] == "CODEX_LOG" else _security_event
        return event_id, ts_ms, _json.dumps(make(r, event_id, ts_ms, user, session))

    def _event_base(self, key: FileKey) -> int:
        """A per-file 64-bit number: event ``i`` of the file is seeded with ``base + i``."""
        return stable_int(self._seed, "events", key.type_index, key.day.toordinal(), key.slot)

    def _build(self, key: FileKey) -> tuple[bytes, int, int | None]:
        """The file's bytes, its line count and its latest event timestamp (ms)."""
        previous = self.previous(key)
        previous_plan = self._plan(previous)
        own = self._plan(key)
        wanted = [(previous, j, previous_plan.landings[j]) for j in previous_plan.duplicated]
        wanted += [(key, j, landing) for j, landing in enumerate(own.landings)]
        parts: list[bytes] = []
        size = 0
        latest: int | None = None
        for source, index, landing in wanted:
            _, ts_ms, line = self._event(source, index, landing)
            if size + len(line) + 1 > self._max_file_bytes:
                break
            parts.append(line)
            parts.append(b"\n")
            size += len(line) + 1
            latest = ts_ms if latest is None else max(latest, ts_ms)
        return b"".join(parts), len(parts) // 2, latest

    def file_bytes(self, key: FileKey) -> bytes:
        return self._bytes.get_or_create(key, lambda: self._build(key)[0])

    def info(self, key: FileKey) -> LogFileInfo | None:
        """The listing of ``key``, or ``None`` when that slot has no events (no file)."""
        with self._lock:
            if key in self._info:
                return self._info[key]
        if not self._plan(key).landings and not self._plan(self.previous(key)).duplicated:
            info = None
        else:
            body, lines, latest = self._build(key)
            self._bytes.get_or_create(key, lambda: body)
            end = datetime.fromtimestamp(self.end_time(key), UTC)
            file_id = self.file_id(key)
            event_type = CODEX_EVENT_TYPES[key.type_index]
            info = LogFileInfo(
                id=file_id,
                event_type=event_type,
                start_time=datetime.fromtimestamp(self.start_time(key), UTC),
                end_time=end,
                file_name=f"{event_type.lower()}_{end:%Y%m%dT%H%M%SZ}_{file_id[-8:]}.jsonl",
                file_size=len(body),
                file_sha256=hashlib.sha256(body).hexdigest(),
                event_count=lines,
                max_event_time=None
                if latest is None
                else datetime.fromtimestamp(latest // 1000, UTC) + timedelta(milliseconds=latest % 1000),
            )
        with self._lock:
            self._info[key] = info
        return info

    # -- queries -----------------------------------------------------------------------------

    def files(self, type_indexes: Sequence[int], after: float, until: float) -> Iterator[LogFileInfo]:
        """Existing files of the given types with ``after < end_time <= until``, by ``end_time``."""
        merged = heapq.merge(
            *(self.candidates(t, after, until) for t in sorted(set(type_indexes))), key=lambda pair: pair[0]
        )
        for _, key in merged:
            info = self.info(key)
            if info is not None:
                yield info

    def files_descending(self, type_index: int, after: float, until: float) -> Iterator[LogFileInfo]:
        """Like :meth:`files` for one type, newest first."""
        for _, key in reversed(list(self.candidates(type_index, after, until))):
            info = self.info(key)
            if info is not None:
                yield info
