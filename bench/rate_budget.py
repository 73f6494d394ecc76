"""The deployment-wide rate budget, measured: N worker processes against one per-route limit.

Airflow runs every task instance in a process of its own, so this spawns N
processes (as LocalExecutor or Celery workers run tasks), each paging through
days of ``/usage?group=workspace`` one row a page against the sandbox, which
answers 429 past ``--limit`` requests per compressed minute per route
(``--time-scale``). The client's limit is the sandbox's. Every backend runs in
the same invocation, rep-major, and is reported as 429s and as wall time over
the floor the limit sets: ``(ceil(requests / limit) - 1)`` windows.

    .venv/bin/python bench/rate_budget.py                 # 8 workers, 3 reps of each backend
    .venv/bin/python bench/rate_budget.py --workers 4 --reps 1 --backends process redis

``host`` books in a SQLite file of the run's own (the processes of one machine),
``host-x2`` in two such files, the workers alternating (two machines, each its own);
Redis is the local server (``--redis-port``, database ``--redis-db``, emptied of
the budget's keys before each run); ``redis-down`` points the budget at a closed
port, to show the fallback: per-process pacing, one warning per process, no failure.
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import redis  # noqa: E402

from airflow_provider_codex.api.budget import KEY_PREFIX  # noqa: E402
from airflow_provider_codex.api.budget_host import HostStore  # noqa: E402
from airflow_provider_codex.api.budget_redis import RedisStore  # noqa: E402
from airflow_provider_codex.api.limits import PROCESS_BUDGETS, BudgetSource  # noqa: E402
from bench.config import ANALYTICS_KEY, WORKSPACE_ID  # noqa: E402

BACKENDS = ("process", "host", "host-x2", "redis", "redis-down")
FIRST_DAY = datetime(2026, 1, 1, tzinfo=UTC)


def budget_source(backend: str, spec: dict[str, Any], index: int = 0) -> BudgetSource:
    if backend == "process":
        return PROCESS_BUDGETS
    if backend == "host":
        return HostStore(Path(spec["host_file"]))
    if backend == "host-x2":  # two machines, each with its own file: workers alternate between them
        return HostStore(Path(f"{spec['host_file']}.{index % 2}"))
    if backend == "redis":
        return RedisStore.connect(host="127.0.0.1", port=spec["redis_port"], db=spec["redis_db"])
    if backend == "redis-down":
        return RedisStore.connect(host="127.0.0.1", port=spec["closed_port"], db=spec["redis_db"])
    raise ValueError(f"unknown backend {backend!r}")


def worker(spec: dict[str, Any], index: int, barrier: Any, out: Any) -> None:
    """One task's process: its own days, its own client, the backend's budget."""
    from airflow_provider_codex.api.client import CodexClient
    from airflow_provider_codex.api.config import ClientConfig, Secret
    from airflow_provider_codex.api.endpoints import USAGE_WORKSPACE
    from airflow_provider_codex.api.errors import CodexError
    from airflow_provider_codex.api.paging import window_params
    from airflow_provider_codex.api.retry import RetryPolicy

    warnings = _count_budget_warnings()
    config = ClientConfig(
        base_url=spec["base_url"],
        workspace_id=WORKSPACE_ID,
        analytics_api_key=Secret(ANALYTICS_KEY),
        requests_per_minute=spec["limit"],
        rate_period=60 / spec["time_scale"],
        retry=RetryPolicy(max_attempts=30, backoff_base=0.05, backoff_max=0.5),
        rate_budget=budget_source(spec["backend"], spec, index),
    )
    start = FIRST_DAY + timedelta(days=index * spec["days"])
    params = window_params(USAGE_WORKSPACE, start, start + timedelta(days=spec["days"]))
    failed = ""
    with CodexClient(config) as client:
        barrier.wait(120)
        began = time.time()
        try:
            for _ in client.iter_pages(USAGE_WORKSPACE, params, limit=1):
                pass
        except CodexError as error:
            failed = f"{type(error).__name__}: {error}"
        ended = time.time()
        out.put(
            {
                "began": began,
                "ended": ended,
                "requests": client.stats.requests,
                "failed": failed,
                "warnings": warnings.count,
            }
        )


class _Counter(logging.Handler):
    """Counts the budget's warnings in one worker; everything else logged there is dropped."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _count_budget_warnings() -> _Counter:
    counter = _Counter()
    logging.getLogger("airflow_provider_codex.api.budget").addHandler(counter)
    logging.getLogger("airflow_provider_codex.api.budget").propagate = False
    logging.getLogger("airflow_provider_codex.api.core").setLevel(logging.ERROR)  # each 429's retry line
    return counter


def run_once(spec: dict[str, Any], sandbox: Any) -> dict[str, Any]:
    _empty(spec["backend"], spec)
    sandbox.reset()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(spec["workers"])
    out = context.Queue()
    processes = [context.Process(target=worker, args=(spec, i, barrier, out)) for i in range(spec["workers"])]
    for process in processes:
        process.start()
    results = [out.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(60)
    counts = sandbox.counts()
    requests = counts["api_requests"]
    accepted = requests - counts["responses_429"]
    floor = (math.ceil(accepted / spec["limit"]) - 1) * 60 / spec["time_scale"]
    wall = max(r["ended"] for r in results) - min(r["began"] for r in results)
    return {
        "requests": requests,
        "accepted": accepted,
        "429s": counts["responses_429"],
        "wall": wall,
        "floor": floor,
        "failed": sum(1 for r in results if r["failed"]),
        "warnings": max(r["warnings"] for r in results),
    }


def booking_cost(backend: str, spec: dict[str, Any], rounds: int = 2000) -> float:
    """Microseconds one request's ``book`` + ``settle`` take, with a limit that never binds."""
    budget = budget_source(backend, spec).budget_for(f"http://cost-{backend}.bench/v1", "sk-cost", 10**9, 60.0)
    started = time.perf_counter()
    for _ in range(rounds):
        budget.settle(budget.book("usage"))
    cost = (time.perf_counter() - started) / rounds * 1e6
    _empty(backend, spec)
    return cost


def _empty(backend: str, spec: dict[str, Any]) -> None:
    """No booking of a run left for the next one."""
    if backend == "redis":
        client = redis.Redis(host="127.0.0.1", port=spec["redis_port"], db=spec["redis_db"])
        for key in client.scan_iter(f"{KEY_PREFIX}*"):
            client.delete(key)
        client.close()
    elif backend.startswith("host"):
        for path in Path(spec["host_file"]).parent.glob(f"{Path(spec['host_file']).name}*"):
            path.unlink()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--days", type=int, default=15, help="days per worker (a page each, one row a page)")
    parser.add_argument("--limit", type=int, default=30, help="requests per (compressed) minute per route")
    parser.add_argument("--time-scale", type=float, default=60.0, help="60: the minute lasts one second")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--redis-port", type=int, default=6379)
    parser.add_argument("--redis-db", type=int, default=14)
    args = parser.parse_args(argv)

    from bench import sandbox_proc

    faults = {"rate_limit_per_minute": args.limit, "time_scale": args.time_scale}
    config = {"users": 5, "events_per_day": 0, "today": "2026-12-01", "faults": faults}
    work = Path(tempfile.mkdtemp(prefix="rate-budget-"))
    log = work / "sandbox.log"
    base = {
        "workers": args.workers,
        "days": args.days,
        "limit": args.limit,
        "time_scale": args.time_scale,
        "redis_port": args.redis_port,
        "redis_db": args.redis_db,
        "closed_port": closed_port(),
        "host_file": str(work / "host-budget.sqlite3"),
    }
    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in args.backends}
    with sandbox_proc.running(config, log) as sandbox:
        base["base_url"] = sandbox.base_url
        for rep in range(args.reps):
            for backend in args.backends:
                result = run_once(base | {"backend": backend}, sandbox)
                runs[backend].append(result)
                print(f"rep {rep + 1} {backend}: {result}", flush=True)
    costs = {b: booking_cost(b, base) for b in args.backends}
    shutil.rmtree(work, ignore_errors=True)

    window = 60 / args.time_scale
    print()
    print(
        f"{args.workers} worker processes x {args.days} days (a page per day with a row), one route, limit "
        f"{args.limit} per {window:g} s (sandbox and client), {args.reps} reps; medians"
    )
    print()
    print(
        "| backend | requests | 429s | 429 share | wall s | floor s | wall / floor | failed tasks "
        "| budget warnings per worker | book+settle µs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for backend, results in runs.items():
        requests = statistics.median(r["requests"] for r in results)
        refused = statistics.median(r["429s"] for r in results)
        wall = statistics.median(r["wall"] for r in results)
        floor = statistics.median(r["floor"] for r in results)
        failed = max(r["failed"] for r in results)
        warned = max(r["warnings"] for r in results)
        print(
            f"| {backend} | {requests:g} | {refused:g} | {refused / requests:.1%} | {wall:.2f} | {floor:.2f} "
            f"| {wall / floor:.2f}x | {failed} | {warned} | {costs[backend]:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
