"""A test run leaves nothing in the temp directory (issue: codex-airflow-home-* and bench caches piled up)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_a_run_of_the_suite_leaves_the_temp_directory_as_it_found_it(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    # A small part of the suite that makes an Airflow home, a metadata DB and pytest's tmp_path folders.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_windows.py",
            "tests/test_example_dags.py",
            "tests/sinks/test_storage_sink.py",
        ],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(temp)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in temp.iterdir()) == []
