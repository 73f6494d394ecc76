"""Case 4, threads of one process (not a deployment): a rate-limited backfill, one run per day.

No Airflow executor runs tasks as threads of one process; the deployment form of case 4 is
``bench/backfill_deployment.py`` (a real scheduler, every task in its own process).

Every (day, dataset) is one ``CodexToSqlOperator`` task, executed in this
process by a pool of ``parallel`` threads in day order, as a scheduler with
that many free slots would run the backfill's task instances. Each task makes
its own hook and client; being threads of one process (as tasks of a worker's
threads or of ``dag.test()`` are), they share the process's rate limiter. Tasks
in separate processes would not: each would count alone and ride out the 429s.

Why not ``dag.test()``: on this 2-core machine it costs about 1.3 s per run of
four tasks, so 365 runs would take about 8 minutes of Airflow overhead and the
case would measure that instead of the rate limit (see bench/RESULTS.md).

The sandbox's minute runs ``time_scale`` times faster; the connection's
``rate_period_seconds`` compresses the clients' minute the same way.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any


def run(
    days: list[str], datasets: list[str], sql_conn_id: str, parallel: int = 4, schema: str | None = None
) -> dict[str, Any]:
    from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator

    tasks = [(day, name) for day in days for name in datasets]
    totals: Counter[str] = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def one(day: str, name: str) -> None:
        first = date.fromisoformat(day)
        operator = CodexToSqlOperator(
            task_id=f"{name}__{day}",
            dataset=name,
            codex_conn_id="codex_bench",
            sql_conn_id=sql_conn_id,
            schema=schema,
            start=first.isoformat(),
            end=(first + timedelta(days=1)).isoformat(),
        )
        try:
            summary = operator.execute({})
        except Exception as failed:  # a failed task is a result here
            with lock:
                failures.append(f"{name} {day}: {type(failed).__name__}: {failed}"[:300])
            return
        with lock:
            totals["tasks_succeeded"] += 1
            for key in ("requests", "retries", "rate_limited", "total_rows", "pages"):
                totals[f"client_{key}"] += int(summary.get(key) or 0)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for future in [pool.submit(one, day, name) for day, name in tasks]:
            future.result()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "tasks": len(tasks),
        "tasks_failed": len(failures),
        "failures": failures[:5],
        "ok": not failures,
        **totals,
    }
