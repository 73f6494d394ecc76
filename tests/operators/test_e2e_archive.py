"""Archive mode: the compliance log files of each day, stored verbatim with a manifest."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from codex_e2e import GRACE, StorageDestination, asset_events, days_of, midnight, run_dag

FOLDER = "codex_compliance_log_files"
EVENT_TYPES = ("CODEX_LOG", "CODEX_SECURITY_LOG")


def served_files(sandbox, day) -> dict[str, object]:
    """The log files that may hold ``day``'s events, as the sandbox lists them."""
    start = midnight(day)
    return {
        f.id: f
        for event_type in EVENT_TYPES
        for f in sandbox.data.log_files(event_type, after=start, before=start + timedelta(days=1) + GRACE)
    }


def check_day(storage: StorageDestination, sandbox, day) -> int:
    folder = storage.root / FOLDER / f"workspace_id={sandbox.workspace_id}" / f"day={day.isoformat()}"
    served = served_files(sandbox, day)
    manifest = json.loads((folder / "_manifest.json").read_bytes())
    assert manifest["workspace_id"] == sandbox.workspace_id and manifest["day"] == day.isoformat()
    entries = {e["id"]: e for e in manifest["files"]}
    assert len(entries) == len(manifest["files"]) == len(served)
    assert set(entries) == set(served)
    stored = sorted(p.name for p in folder.iterdir())
    assert stored == sorted(["_manifest.json", *(f"{file_id}.jsonl" for file_id in served)])
    for file_id, info in served.items():
        content = (folder / f"{file_id}.jsonl").read_bytes()
        assert content == sandbox.data.log_file_bytes(file_id), f"{file_id} not stored verbatim"
        entry = entries[file_id]
        assert entry["sha256"] == hashlib.sha256(content).hexdigest() == info.file_sha256
        assert entry["size"] == len(content) == info.file_size
        assert entry["event_type"] == info.event_type
        assert datetime.fromisoformat(entry["end_time"].replace("Z", "+00:00")) == info.end_time.astimezone(UTC)
        assert entry["path"].endswith(f"/day={day.isoformat()}/{file_id}.jsonl")
    return len(served)


def test_archive_stores_each_log_file_verbatim_with_a_manifest(live_sandbox, storage, use_sandbox, test_dags):
    use_sandbox(live_sandbox)
    today = datetime.now(UTC).date()
    first = (today - timedelta(days=6), today - timedelta(days=4))
    overlapping = (today - timedelta(days=5), today - timedelta(days=3))
    for window in (first, first, overlapping):
        run = run_dag(
            test_dags, "archive_compliance", start=window[0].isoformat(), end=window[1].isoformat(), path=storage.url
        )
        assert run.state == "success"
        counts = {day.isoformat(): check_day(storage, live_sandbox, day) for day in days_of(*window)}
        summary = run.summary()
        assert summary["rows"] == {FOLDER: counts}
        # each file downloaded once per day that lists it (a file of two days is archived under both)
        assert summary["files"] == sum(counts.values())
        assert summary["by_status"].get("200", 0) >= 1 and summary["retries"] == 0
        ((name, extra),) = asset_events(run)
        assert name == f"codex.{FOLDER}"
        assert extra["rows_per_day"] == counts and extra["rows"] == sum(counts.values())
        assert extra["destination"] == {"path": storage.url, "format": "verbatim"}
    # every day loaded is still complete, once: no day was emptied or doubled by the overlap
    archived = sum(check_day(storage, live_sandbox, day) for day in days_of(first[0], overlapping[1]))
    assert archived >= 40, "too few files for the check to mean anything"
    assert sorted(p.name for p in storage.root.iterdir()) == [FOLDER]
