"""What a benchmark worker reports about itself; standard library only (it runs in the dlt venv too)."""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

#: The line a worker prints last; the orchestrator reads the JSON after it.
RESULT_MARK = "BENCH_RESULT "


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM), and of its waited-for children, in MiB."""
    peak_kib = 0
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak_kib = int(line.split()[1])
                    break
    except OSError:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(peak_kib, children) / 1024, 1)


def emit(result: dict[str, Any]) -> None:
    """Print the result line (peak RSS added) and flush."""
    result = {**result, "peak_rss_mb": peak_rss_mb()}
    sys.stdout.write(RESULT_MARK + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def parse(output: str) -> dict[str, Any] | None:
    """The result a worker printed, or ``None``."""
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])  # type: ignore[no-any-return]
    return None
