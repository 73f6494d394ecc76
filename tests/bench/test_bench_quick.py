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
    for target in (
        "provider >= 0.6x limit",
        "provider >= 0.4x limit",
        "provider >= 10x dlt",
        "provider >= 3x HttpOperator",
        "peak RSS at 10x",
        "zero failed tasks",
        "requests <= 1.1x the minimum",
        "wall time <= 1.2x the floor",
    ):
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
    lines = done.stdout.splitlines()
    cpu = lines[lines.index(measured[0]) + 1]
    assert cpu.strip().startswith("cpu: load ") and "of wall time at least on" in cpu, done.stdout


@pytest.mark.timeout(120)
def test_compliance_steps_prints_each_step_against_its_baseline():
    """``bench/compliance_steps.py`` runs, and prints both sides of each step (it asserts they agree)."""
    done = subprocess.run(
        [sys.executable, "bench/compliance_steps.py", "--repeat", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["HMAC-SHA256", "content", "a"], done.stdout
    assert all(" µs vs " in line and line.endswith("x faster") for line in lines[:2]), done.stdout
    assert lines[2].endswith("MiB of RSS"), done.stdout


@pytest.mark.databases
def test_the_cpu_account_counts_a_process_and_postgres_backends_that_have_exited():
    """Counts, not timings: work known to take CPU shows up in the column it belongs to."""
    import os
    import time

    import psycopg

    sys.path.insert(0, str(REPO))
    from bench.profile_load import CpuAccount

    pg_uri = os.environ.get("CODEX_TEST_PG_URI", "postgresql://postgres@127.0.0.1:5432/test")
    account = CpuAccount(os.getpid())
    with psycopg.connect(pg_uri) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("SELECT count(*) FROM generate_series(1, 5000000)").fetchone()
    deadline = time.monotonic() + 30
    while Path(f"/proc/{backend}").exists() and time.monotonic() < deadline:  # until the postmaster reaped it
        time.sleep(0.05)
    spun = time.process_time()
    while time.process_time() - spun < 0.3:  # this process: the "sandbox" of the account
        pass
    spent = account.spent(load=1.5)
    assert spent.load == 1.5
    assert spent.postgres >= 0.1, spent  # the backend's query, counted after it exited
    assert spent.sandbox >= 0.2, spent


def test_profile_counts_the_load_thread_and_the_writer_thread_and_nothing_else(tmp_path, capsys):
    sys.path.insert(0, str(REPO))
    from bench.profile_load import SAMPLE_RATE, print_profile

    raw = tmp_path / "py-spy.txt"
    raw.write_text(
        "<module> (x.py:1);CodexLoadOperator.load (operators/codex.py:9);flatten (tables/a.py:3) 400\n"
        "<module> (x.py:1);CodexLoadOperator.load (operators/codex.py:9);stage (sinks/_staging.py:5) 200\n"
        "_bootstrap (threading.py:1);BackgroundWriter._run (sinks/_background.py:9);write_row (psycopg/c.py:1) 100\n"
        "<module> (x.py:1);import airflow (airflow/__init__.py:1) 999\n"
    )
    print_profile(raw, top=5)
    out = capsys.readouterr().out
    assert f"py-spy: {700 / SAMPLE_RATE:.2f}s of samples in the load" in out
    assert f"load thread {600 / SAMPLE_RATE:.2f}s, writer thread {100 / SAMPLE_RATE:.2f}s" in out
    assert "import airflow" not in out
