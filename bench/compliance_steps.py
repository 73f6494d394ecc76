"""Three per-event steps of a compliance load, each against what it replaced, in one run.

Issue 18's second round changed how the load hashes content, finds content
fields in a record's JSON text, and remembers deduplication keys. This prints,
for each, the provider's way and the baseline it replaced, measured side by side
in this process (ratios of one run; figures: ``bench/RESULTS.md``):

* HMAC-SHA256 of a 280-byte text: ``ContentPolicy.hash_text`` against ``hmac.digest``;
* the content fields of a 1 kB ``CODEX_LOG`` record's compact JSON: the policy's one
  regex pass (``ContentPolicy.json_keys``) against a ``bytes.count`` per field;
* the memory of a million 12-byte key digests in a set (the staging's in-memory key
  set, ``DEFAULT_MEMORY_KEYS``), read from the process's RSS.

    .venv/bin/python bench/compliance_steps.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import hmac
import timeit

from airflow_provider_codex import _json
from airflow_provider_codex.sinks._staging import DEFAULT_MEMORY_KEYS, _key_digest
from airflow_provider_codex.tables.content import ContentPolicy

SALT = b"benchmark-salt-not-a-secret"
TEXTS = [(f"prompt text {i} " * 20).encode() for i in range(1_000)]
RECORDS = [
    _json.dumps(
        {
            "event_id": f"evt_{i}",
            "timestamp": "2026-11-01T00:00:00Z",
            "type": "CODEX_LOG",
            "event_type": "PROMPT_SENT",
            "actor": {"type": "ACCOUNT_USER", "user_id": "u1", "user_email": "a@example.com"},
            "prompt_text": "x" * 900,
            "event_details": {"session_id": "s", "model": "m", "token_usage": {"input_tokens": 1}},
        }
    )
    for i in range(5_000)
]


def per_item_us(work: object, items: int, repeat: int) -> float:
    """Best of ``repeat`` runs of ``work()`` over ``items`` items, in µs an item."""
    return min(timeit.repeat(work, number=1, repeat=repeat)) / items * 1e6  # type: ignore[arg-type]


def hashing(repeat: int) -> tuple[float, float]:
    policy = ContentPolicy(salt=SALT)
    texts = [t.decode() for t in TEXTS]
    ours = per_item_us(lambda: [policy.hash_text(t) for t in texts], len(texts), repeat)
    base = per_item_us(lambda: [hmac.digest(SALT, t.encode(), "sha256").hex() for t in texts], len(texts), repeat)
    assert policy.hash_text(texts[0]) == hmac.digest(SALT, TEXTS[0], "sha256").hex()
    return ours, base


def finding_fields(repeat: int) -> tuple[float, float]:
    policy = ContentPolicy(salt=SALT)
    keys = [f'"{name}":'.encode() for name in policy.changed]
    ours = per_item_us(lambda: [policy.json_keys.findall(r) for r in RECORDS], len(RECORDS), repeat)
    base = per_item_us(lambda: [[r.count(k) for k in keys] for r in RECORDS], len(RECORDS), repeat)
    assert len(policy.json_keys.findall(RECORDS[0])) == sum(RECORDS[0].count(k) for k in keys)
    return ours, base


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def key_set_mib() -> float:
    before = rss_mib()
    keys = {_key_digest(("ws", f"evt_{i}")) for i in range(DEFAULT_MEMORY_KEYS)}
    grown = rss_mib() - before
    assert len(keys) == DEFAULT_MEMORY_KEYS
    return grown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs of each step; the best counts")
    repeat = parser.parse_args().repeat
    for name, (ours, base) in (
        ("HMAC-SHA256 of a 280-byte text (vs hmac.digest)", hashing(repeat)),
        ("content fields of a 1 kB record (vs a count per field)", finding_fields(repeat)),
    ):
        print(f"{name:58} {ours:6.2f} µs vs {base:6.2f} µs  = {base / ours:4.1f}x faster")
    print(f"{'a set of ' + format(DEFAULT_MEMORY_KEYS, ',') + ' key digests':58} {key_set_mib():6.1f} MiB of RSS")


if __name__ == "__main__":
    main()
