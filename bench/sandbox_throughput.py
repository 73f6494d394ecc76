"""How fast the sandbox serves: big analytics pages and log-file downloads, to several client processes.

The benchmark's loaders can only be as fast as the sandbox feeding them, so a
change of the sandbox's web stack must not slow it down. This starts the
sandbox in its own process (as ``bench/run.py`` does, see :mod:`bench.sandbox_proc`)
and, per kind, several client *processes* (what users run: one interpreter per
worker, no shared GIL) fetch for a fixed time:

* ``usage``: the first usage page of a window, ``limit`` at its maximum (a full page);
* ``download``: ``GET /logs/{id}`` (307) then the signed URL, cycling through a day's files.

Data is generated and cached before the clock starts, so the figures are the
serving path only. ``--baseline REV`` also runs the sandbox of git revision REV
(its ``codex_testing`` package, exported to a temporary directory) in the same
run, alternating, and prints the ratio current / baseline: on a shared machine
a ratio of neighbours in time means more than two figures from different hours.

    .venv/bin/python bench/sandbox_throughput.py --clients 3 --seconds 10 [--baseline 347f2fa]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import sandbox_proc  # noqa: E402
from bench.config import ANALYTICS_KEY, COMPLIANCE_KEY, MAX_PAGE_ROWS, api_facts  # noqa: E402

KINDS = ("usage", "download")
TODAY = date(2026, 11, 25)
#: Enough users that one day of the window holds more than a full page.
CONFIG: dict[str, Any] = {
    "seed": 3,
    "users": 40_000,
    "events_per_day": 100_000,
    "today": TODAY.isoformat(),
    "analytics_history_days": 10,
}
USAGE_DAYS = 2
COMPLIANCE_DAY = TODAY - timedelta(days=3)


@dataclass(frozen=True)
class Job:
    """What one client process fetches, and when it stops."""

    kind: str
    base_url: str
    file_ids: tuple[str, ...]
    seconds: float
    offset: int


def _usage_request(base_url: str) -> tuple[str, dict[str, Any]]:
    facts = api_facts()
    usage = facts["usage"]
    start = int(datetime.combine(TODAY - timedelta(days=USAGE_DAYS), datetime.min.time(), UTC).timestamp())
    first, last = usage["window"]
    end = start + USAGE_DAYS * 86_400
    return base_url + usage["route"], {first: start, last: end, facts["limit_param"]: usage["limit"]}


def _fetch_usage(client: httpx.Client, url: str, params: dict[str, Any]) -> int:
    response = client.get(url, params=params)
    response.raise_for_status()
    return len(response.content)


def _download(api: httpx.Client, signed: httpx.Client, file_url: str) -> int:
    redirect = api.get(file_url)
    if redirect.status_code != 307:
        raise RuntimeError(f"{file_url}: {redirect.status_code}")
    response = signed.get(redirect.headers["location"])
    response.raise_for_status()
    return len(response.content)


def client_process(job: Job, barrier: Any, results: Any) -> None:
    """Fetch until ``job.seconds`` have passed; put (operations, HTTP requests, body bytes, seconds) on ``results``."""
    key = ANALYTICS_KEY if job.kind == "usage" else COMPLIANCE_KEY
    operations = requests = size = 0
    with (
        httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120) as api,
        httpx.Client(timeout=120) as signed,
    ):
        url, params = _usage_request(job.base_url)
        file_route = job.base_url + api_facts()["logs"]["file_route"]
        barrier.wait()
        started = time.perf_counter()
        deadline = started + job.seconds
        while time.perf_counter() < deadline:
            if job.kind == "usage":
                size += _fetch_usage(api, url, params)
                requests += 1
            else:
                file_id = job.file_ids[(job.offset + operations) % len(job.file_ids)]
                size += _download(api, signed, file_route.format(log_file_id=file_id))
                requests += 2
            operations += 1
        results.put((operations, requests, size, time.perf_counter() - started))


def _file_ids(base_url: str) -> tuple[str, ...]:
    """Every log file of the compliance day (all event types)."""
    facts = api_facts()["logs"]
    paging = facts["paging"]
    after = datetime.combine(COMPLIANCE_DAY, datetime.min.time(), UTC)
    before = after + timedelta(days=1)
    ids: list[str] = []
    cursor = after.strftime("%Y-%m-%dT%H:%M:%SZ")
    with httpx.Client(headers={"Authorization": f"Bearer {COMPLIANCE_KEY}"}, timeout=120) as api:
        while True:
            params = [
                *((facts["event_type_param"], t) for t in facts["event_types"]),
                (facts["window"][0], cursor),
                (facts["window"][1], before.strftime("%Y-%m-%dT%H:%M:%SZ")),
                (api_facts()["limit_param"], str(facts["limit"])),
            ]
            response = api.get(base_url + facts["route"], params=params)
            response.raise_for_status()
            page = response.json()
            ids += [entry["id"] for entry in page[paging["data_field"]]]
            if not page[paging["has_more_field"]]:
                return tuple(ids)
            cursor = page[paging["cursor_field"]]


def warm(base_url: str) -> tuple[str, ...]:
    """Generate (and so cache) what the clients fetch; check the usage page is full."""
    url, params = _usage_request(base_url)
    with httpx.Client(headers={"Authorization": f"Bearer {ANALYTICS_KEY}"}, timeout=600) as api:
        page = api.get(url, params=params).json()
    rows = len(page[api_facts()["usage"]["paging"]["data_field"]])
    if rows != MAX_PAGE_ROWS:
        raise RuntimeError(f"the usage page holds {rows} rows, not {MAX_PAGE_ROWS}: raise CONFIG['users']")
    ids = _file_ids(base_url)
    file_route = base_url + api_facts()["logs"]["file_route"]
    with (
        httpx.Client(headers={"Authorization": f"Bearer {COMPLIANCE_KEY}"}, timeout=600) as api,
        httpx.Client(timeout=600) as signed,
    ):
        for file_id in ids:
            _download(api, signed, file_route.format(log_file_id=file_id))
    return ids


def measure(kind: str, base_url: str, file_ids: tuple[str, ...], clients: int, seconds: float) -> dict[str, float]:
    """One timed phase: ``clients`` processes fetching ``kind`` at once."""
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(clients), context.Queue()
    jobs = [Job(kind, base_url, file_ids, seconds, i * max(1, len(file_ids) // clients)) for i in range(clients)]
    processes = [context.Process(target=client_process, args=(job, barrier, queue)) for job in jobs]
    for process in processes:
        process.start()
    results: list[tuple[int, int, int, float]] = [queue.get(timeout=seconds + 300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise RuntimeError(f"a client process failed (exit code {process.exitcode})")
    elapsed = max(r[3] for r in results)
    return {
        "ops_per_s": sum(r[0] for r in results) / elapsed,
        "requests_per_s": sum(r[1] for r in results) / elapsed,
        "mb_per_s": sum(r[2] for r in results) / elapsed / 1e6,
    }


@contextmanager
def exported(rev: str) -> Iterator[Path]:
    """The ``codex_testing`` package of git revision ``rev``, in a temporary directory (for PYTHONPATH)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "packages/codex-testing/codex_testing"],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="sandbox-baseline-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp) / "packages" / "codex-testing"


def run_one(label: str, pythonpath: Path | None, args: argparse.Namespace, log: Path) -> dict[str, dict[str, float]]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(pythonpath), env.get("PYTHONPATH")) if p)
    with sandbox_proc.running(CONFIG, log, env=env) as sandbox:
        file_ids = warm(sandbox.base_url)
        figures = {kind: measure(kind, sandbox.base_url, file_ids, args.clients, args.seconds) for kind in args.kinds}
    for kind, f in figures.items():
        print(
            f"  {label:<9} {kind:<9} {f['ops_per_s']:9.1f} ops/s {f['requests_per_s']:9.1f} req/s"
            f" {f['mb_per_s']:9.1f} MB/s",
            flush=True,
        )
    return figures


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} MB/s (spread {min(values):.0f}-{max(values):.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=3, help="client processes per kind")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each timed phase")
    parser.add_argument("--reps", type=int, default=2, help="rounds (each runs every server once)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="what to fetch")
    parser.add_argument("--baseline", metavar="REV", help="also run the sandbox of this git revision")
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "sandbox_throughput.log")
    args = parser.parse_args(argv)
    print(f"{args.clients} client processes, {args.seconds:g} s a phase, {os.cpu_count()} CPUs; sandbox log {args.log}")
    results: dict[str, list[dict[str, dict[str, float]]]] = {"current": [], "baseline": []}
    with ExitStack() as stack:
        baseline_path = stack.enter_context(exported(args.baseline)) if args.baseline else None
        for rep in range(args.reps):
            print(f"round {rep + 1}", flush=True)
            # Alternate which server goes first: on a shared machine load drifts within a round too.
            runs = [("current", "current", None), ("baseline", f"{args.baseline or ''}"[:9], baseline_path)]
            for key, label, path in runs[:: 1 if rep % 2 == 0 else -1]:
                if key == "current" or path is not None:
                    results[key].append(run_one(label, path, args, args.log))
    print("medians:")
    for kind in args.kinds:
        current = [r[kind]["mb_per_s"] for r in results["current"]]
        line = f"  {kind:<9} current {_summary(current)}"
        if results["baseline"]:
            baseline = [r[kind]["mb_per_s"] for r in results["baseline"]]
            ratios = [c / b for c, b in zip(current, baseline, strict=True)]
            line += (
                f"  baseline {_summary(baseline)}"
                f"  ratio current/baseline, median of rounds {statistics.median(ratios):5.2f}"
                f" (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
            )
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
