"""The benchmark harness runs end to end in its quick mode, so it cannot rot.

Asserts that the run completed and printed every case's row and every target;
never a timing (the machine is shared: numbers are the full run's business,
see bench/RESULTS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

ROWS = [
    ("analytics", "limit", "-"),
    *(("analytics", loader, db) for loader in ("provider", "dlt", "HttpOperator") for db in ("sqlite", "postgres")),
    ("compliance", "limit", "-"),
    ("compliance", "provider", "postgres"),
    ("compliance", "dlt", "postgres"),
    ("backfill", "provider", "postgres"),
]


@pytest.mark.databases
@pytest.mark.timeout(600)
def test_quick_run_prints_every_case_and_target(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--json", str(tmp_path / "results.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line.split() for line in done.stdout.splitlines()]
    for group, loader, database in ROWS:
        row = next((line for line in lines if line[:3] == [group, loader, database]), None)
        assert row is not None, f"no row for {group} {loader} {database}:\n{done.stdout}"
        if loader == "dlt" and "skipped" in row:
            assert "(dlt not installed)" in " ".join(row)
            continue
        assert "FAILED" not in row, " ".join(row)
    for target in ("provider >= 0.6x limit", "provider >= 5x dlt", "provider >= 3x HttpOperator",
                   "peak RSS at 10x", "zero failed tasks", "requests <= 1.1x the minimum",
                   "wall time <= 1.2x the floor"):
        assert target in done.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    # The quick backfill crosses its (low) rate limit, so the limiter's path runs; no task may fail.
    backfill = results["backfill"]
    assert backfill["floor_seconds"] > 0
    assert backfill["tasks_failed"] == 0, backfill["failures"]
    assert backfill["requests"] >= backfill["minimum_requests"]
    loaded = {(row["group"], row["loader"], row["database"]): row["runs"] for row in results["rows"]}
    provider = loaded[("analytics", "provider", "postgres")][0]
    assert provider["loaded_rows"] > 0


@pytest.mark.timeout(300)
@pytest.mark.parametrize("dataset", ["usage", "compliance_events"])
def test_profile_load_times_one_load(dataset):
    done = subprocess.run(
        [sys.executable, "bench/profile_load.py", dataset, "--db", "sqlite", "--users", "20", "--events", "300"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    measured = [line for line in done.stdout.splitlines() if line.startswith("rep 1:")]
    assert len(measured) == 1, done.stdout
    words = measured[0].replace(",", "").split()
    rows, requests = int(words[2]), int(words[6])
    assert requests > 0, measured[0]
    if dataset == "usage":  # a compliance day can be quiet at this size; a month of usage is not
        assert rows > 0, measured[0]
