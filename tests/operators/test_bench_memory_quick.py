"""``bench/memory.py --quick`` still runs and prints its table (sizes and timings are not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "memory.py"


def test_memory_benchmark_quick_mode_runs():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=240, cwd=BENCH.parent.parent
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    rows = [line for line in lines if " -> postgresql " in line]
    assert len(rows) == 4 and [r.split()[-5] for r in rows] == ["1x", "10x", "1x", "10x"], done.stdout
    assert any(line.startswith("(imports only)") for line in lines)
    result = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    for workload in ("analytics", "compliance"):
        figures = result[workload]
        # the loads really loaded, and ten times as much the second time (what the ratio is about)
        assert figures["rows_1x"] > 0 and 8 <= figures["rows_ratio"] <= 12, figures
        assert figures["peak_rss_mb_1x"] > result["imports_only_rss_mb"] > 0
        assert abs(figures["ratio"] - figures["peak_rss_mb_10x"] / figures["peak_rss_mb_1x"]) < 0.01
