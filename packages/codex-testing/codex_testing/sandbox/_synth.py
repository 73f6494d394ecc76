"""Building blocks of the synthetic data: stable randomness, vocabularies, users.

Every random choice comes from a ``random.Random`` seeded by a stable hash of
(seed, what, where): a day's usage rows, one log file's event counts, one event.
Nothing depends on ``PYTHONHASHSEED`` or on the order things are generated in,
so any piece can be regenerated on its own and comes out byte-identical.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime

#: Codex surfaces (``client_id``). The last two are rare on purpose: the catch-all
#: the service uses for surfaces it cannot name, and one no client knows yet.
CLIENT_IDS: tuple[str, ...] = (
    "CODEX_CLI",
    "CODEX_WEB",
    "CODEX_IDE_VSCODE",
    "CODEX_IDE_CURSOR",
    "CODEX_IDE_WINDSURF",
    "CODEX_IDE_JETBRAINS_PYCHARM",
    "CODEX_IDE_JETBRAINS_INTELLIJ",
    "CODEX_GITHUB",
    "CODEX_SLACK",
    "CODEX_LINEAR",
    "CODEX_SDK",
    "CODEX_EXEC",
    "CODEX_MOBILE_IOS",
)
UNKNOWN_CLIENT_ID = "CODEX_UNKNOWN_DEFAULT"
FUTURE_CLIENT_ID = "CODEX_FUTURE_SURFACE"

#: Models; ``other`` is what the service reports for models it does not name.
MODELS: tuple[str, ...] = ("gpt-5.2-codex", "gpt-5.1-codex-max", "gpt-5.1-codex-mini", "gpt-5-codex")
OTHER_MODEL = "other"
SPEEDS: tuple[str, ...] = ("standard", "fast")

_FIRST = (
    "ada",
    "alan",
    "barbara",
    "claude",
    "dana",
    "edsger",
    "frances",
    "grace",
    "hedy",
    "ivan",
    "jean",
    "ken",
    "linus",
    "margaret",
    "niklaus",
    "ole",
    "radia",
    "sophie",
    "tim",
    "yukihiro",
)
_LAST = (
    "lovelace",
    "turing",
    "liskov",
    "shannon",
    "scott",
    "dijkstra",
    "allen",
    "hopper",
    "lamarr",
    "sutherland",
    "sammet",
    "thompson",
    "torvalds",
    "hamilton",
    "wirth",
    "dahl",
    "perlman",
    "wilson",
    "berners",
    "matsumoto",
)

WORDS: tuple[str, ...] = (
    "the",
    "a",
    "refactor",
    "function",
    "test",
    "fix",
    "bug",
    "add",
    "remove",
    "update",
    "module",
    "class",
    "parse",
    "request",
    "response",
    "retry",
    "timeout",
    "cursor",
    "page",
    "window",
    "day",
    "user",
    "workspace",
    "compliance",
    "analytics",
    "token",
    "credits",
    "model",
    "database",
    "schema",
    "table",
    "column",
    "index",
    "migration",
    "airflow",
    "dag",
    "task",
    "operator",
    "sensor",
    "trigger",
    "hook",
    "connection",
    "secret",
    "config",
    "error",
    "warning",
    "log",
    "file",
    "stream",
    "buffer",
    "async",
    "await",
    "thread",
    "lock",
    "queue",
    "please",
    "can",
    "you",
    "why",
    "does",
    "this",
    "fail",
    "when",
    "run",
    "locally",
    "explain",
    "the",
    "stack",
    "trace",
    "and",
    "suggest",
    "patch",
    "ensure",
    "idempotent",
    "upsert",
    "partition",
    "load",
    "replace",
    "delete",
    "insert",
    "select",
    "where",
    "group",
    "order",
    "limit",
)
_CODE_SNIPPETS: tuple[str, ...] = (
    'def load(day):\n    """Load one day."""\n    return [row for row in rows if row["day"] == day]\n',
    "for (let i = 0; i < n; i++) {\n  total += values[i];\n}\n",
    "SELECT user_id, SUM(credits) AS credits\nFROM usage\nWHERE day >= '2026-01-01'\nGROUP BY 1;\n",
    'print("naïve café — ünïcödé ✓ 🚀")\n',
    'assert parse("a\\tb") == ["a", "b"]  # tabs, quotes " and backslashes \\\n',
)
#: Fake secrets that redaction code should catch (never real credentials).
FAKE_SECRETS: tuple[str, ...] = (
    "OPENAI_API_KEY=sk-fake-0000000000000000000000000000",
    "password = 'hunter2-not-a-real-password'",
)
USER_AGENTS: tuple[str, ...] = (
    "codex_cli_rs/0.58.0 (Ubuntu 24.4.0; x86_64) xterm-256color",
    "codex_cli_rs/0.57.1 (Mac OS 15.1.0; arm64) iTerm.app/3.5.10",
    "codex_vscode/0.4.31 (Windows 11; x86_64) vscode/1.105.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/141.0 Safari/537.36",
    "codex_jetbrains/0.2.3 (Linux; x86_64) PyCharm/2025.3",
)


def stable_int(*parts: object) -> int:
    """A 64-bit integer that depends only on ``parts`` (their ``str``)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def stable_hex(length: int, *parts: object) -> str:
    """``length`` hex digits that depend only on ``parts``."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return hashlib.blake2b(text, digest_size=(length + 1) // 2).hexdigest()[:length]


def rng(*parts: object) -> random.Random:
    """A random generator seeded by a stable hash of ``parts``."""
    return random.Random(stable_int(*parts))


def _corpus() -> str:
    r = random.Random(20261125)
    return " ".join(r.choices(WORDS, k=40_000))


#: A fixed text that prompts are cut from: slicing is far faster than drawing words.
_CORPUS = _corpus()
_AVERAGE_WORD = 7


def text(r: random.Random, min_words: int, max_words: int) -> str:
    """Plausible prompt-like prose of about ``min_words`` .. ``max_words`` words."""
    length = (min_words + int(r.random() * (max_words - min_words + 1))) * _AVERAGE_WORD
    start = int(r.random() * (len(_CORPUS) - length))
    return _CORPUS[start : start + length].strip()


def response_text(r: random.Random, min_words: int, max_words: int) -> str:
    """Prose with code, newlines, quotes and non-ASCII text (JSON escaping gets exercised)."""
    parts = [text(r, min_words, max_words), "\n```\n", _CODE_SNIPPETS[int(r.random() * len(_CODE_SNIPPETS))], "```\n"]
    if r.random() < 0.05:
        parts.append(FAKE_SECRETS[r.random() < 0.5])
    return "".join(parts)


_DAY_MS = 86_400_000
_DAY_TEXT: dict[int, str] = {}


def iso_ms(ms: int) -> str:
    """Unix milliseconds as ``2026-11-01T00:03:12.345Z``."""
    day, rest = divmod(ms, _DAY_MS)
    prefix = _DAY_TEXT.get(day)
    if prefix is None:
        prefix = _DAY_TEXT[day] = f"{datetime.fromtimestamp(day * 86_400, UTC):%Y-%m-%d}T"
    seconds, millis = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def iso_s(moment: datetime) -> str:
    """A datetime as ``2026-11-01T00:15:00Z`` (UTC, whole seconds)."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


@dataclass(frozen=True, slots=True)
class User:
    """A workspace member with stable habits, shared by both APIs."""

    user_id: str
    email: str | None  # None: the workspace hides this user's email
    propensity: float  # chance of being active on a weekday
    clients: tuple[str, ...]  # preferred surfaces, most used first
    model: str  # preferred model
    ip: str
    user_agent: str


def make_users(seed: int, count: int) -> list[User]:
    """``count`` users, sorted by ``user_id`` (the order of usage rows within a day)."""
    users = []
    for index in range(count):
        r = rng(seed, "user", index)
        user_id = "user-" + stable_hex(24, seed, "user-id", index)
        first, last = r.choice(_FIRST), r.choice(_LAST)
        email = None if r.random() < 0.08 else f"{first}.{last}{index}@example.com"
        clients = tuple(r.sample(CLIENT_IDS, k=3))
        users.append(
            User(
                user_id=user_id,
                email=email,
                propensity=r.uniform(0.25, 0.95),
                clients=clients,
                model=r.choice(MODELS),
                ip=f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}",
                user_agent=r.choice(USER_AGENTS),
            )
        )
    users.sort(key=lambda u: u.user_id)
    return users
