"""Case 4 as deployments run it: a rate-limited backfill through a real scheduler, every task in its own process.

    .venv/bin/python bench/backfill_deployment.py --executor local --days 60
    .venv/bin/python bench/backfill_deployment.py --executor celery --days 60

What runs (:func:`codex_testing.airflow_cluster`, PostgreSQL metadata DB in both cases):

- ``local``: the LocalExecutor, ``parallelism`` 8; the connection's rate budget is
  ``host`` (a SQLite file the processes of the machine share);
- ``celery``: the CeleryExecutor, the deployment's own Redis as broker, two workers
  of concurrency 4; the budget is ``redis``, in that same Redis (database 2), through
  an Airflow connection of type ``redis`` (``AIRFLOW_CONN_CODEX_BUDGET_REDIS``, added
  once the cluster has started Redis and before any component starts).

The example DAGs run unchanged: a backfill of ``codex_analytics_daily`` (``--days``
days, ``lookback_days`` 0) and of ``codex_compliance_daily`` over the days of that
range the Compliance API still holds, both at once, with a ``codex_api`` pool of 8.
The sandbox runs in a process of its own and answers 429 past ``--limit`` requests
per route per compressed minute (``--time-scale``: the minute lasts
``60 / time_scale`` s); the connection's ``requests_per_minute`` and
``rate_period_seconds`` are the same limit and window.

Printed: runs succeeded and failed, API requests, 429s (share of requests), the
backfill's wall time (first task start to last task end, from the metadata DB),
the floor the limit sets for the busiest route in the same run (``ceil(accepted /
limit) - 1`` windows: the first ``limit`` requests go at once, each further
``limit`` one window later) and wall / floor; then every table is checked, day by
day, against rows built independently from the sandbox's data
(``tests/operators/codex_e2e.py``). ``--json`` writes the figures to a file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for extra_path in (REPO, REPO / "tests" / "operators"):
    if str(extra_path) not in sys.path:
        sys.path.insert(0, str(extra_path))

from codex_testing import AirflowCluster, airflow_cluster, connection_env, variables_env  # noqa: E402
from codex_testing.days import complete_days, day_range, logical_dates, midnight  # noqa: E402
from codex_testing.sandbox import SandboxData  # noqa: E402

from bench import sandbox_proc  # noqa: E402
from bench.sandbox_server import config_from  # noqa: E402

#: The end-to-end tests' independent expected rows and destinations (not a package: loaded by path).
codex_e2e: Any = importlib.import_module("codex_e2e")

EXAMPLES = REPO / "example_dags"
ANALYTICS_DAG, COMPLIANCE_DAG = "codex_analytics_daily", "codex_compliance_daily"
DAGS = (ANALYTICS_DAG, COMPLIANCE_DAG)
SLOTS = 8  # LocalExecutor parallelism; Celery: 2 workers x 4
REDIS_CONN_ID = "codex_budget_redis"
REDIS_DB = 2  # the broker uses 0, the result backend 1
CONFIG = {
    "core.parallelism": str(SLOTS),
    "scheduler.use_job_schedule": "False",  # backfills only: unpausing must not start today's run
    "dag_processor.min_file_process_interval": "3600",
}
#: A small workspace: the case is about pacing, not volume; enough events that each type lands every few hours.
SANDBOX = {"seed": 23, "users": 8, "events_per_day": 500}

log = print


def files_before(day: date) -> datetime:
    """The latest ``end_time`` of the log files a compliance run of ``day`` lists: the day's end plus the grace."""
    grace: timedelta = codex_e2e.GRACE
    return midnight(day + timedelta(days=1)) + grace


def expected_tables(checker: Any, analytics: tuple[date, ...], compliance: tuple[date, ...]) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for dataset in codex_e2e.ANALYTICS:
        tables.update(codex_e2e.expected_rows(dataset, checker, analytics).tables)
    events: list[dict[str, Any]] = []
    for day in compliance:
        got = codex_e2e.expected_rows("compliance_events", checker, [day], files_before=files_before(day))
        events += got.tables["codex_compliance_events"]
    tables["codex_compliance_events"] = events
    return tables


def check_tables(destination: Any, checker: Any, analytics: tuple[date, ...], compliance: tuple[date, ...]) -> int:
    """Every table equals what the sandbox served, day by day; nothing else is there. Returns the rows."""
    expected = expected_tables(checker, analytics, compliance)
    found = destination.tables()
    if found != set(expected):
        raise AssertionError(f"tables {sorted(found)} != {sorted(expected)}")
    rows = 0
    for table, want in expected.items():
        column = codex_e2e.DAY_COLUMN[table]
        loaded = compliance if table == "codex_compliance_events" else analytics
        got = destination.read(table)
        stray = {r[column] for r in got} - set(loaded)
        if stray:
            raise AssertionError(f"{table}: rows of days never loaded: {sorted(stray)}")
        for day in loaded:
            try:
                codex_e2e.assert_same_rows(
                    table, [r for r in got if r[column] == day], [r for r in want if r[column] == day]
                )
            except AssertionError as differs:
                raise AssertionError(f"{table} {day}: {differs}") from None
        rows += len(got)
    return rows


def wait_for_runs(cluster: AirflowCluster, runs: dict[str, int], timeout: float) -> None:
    """Until every run ended; a try that fails (or waits for a retry) stops the wait at once, with its log."""

    def done() -> bool:
        bad = cluster.query(
            "SELECT dag_id, run_id, task_id, state FROM task_instance "
            "WHERE state IN ('failed', 'up_for_retry', 'upstream_failed') AND dag_id IN (?, ?)",
            list(runs),
        )
        if bad:
            dag_id, run_id, task_id, state = bad[0]
            logs = cluster.task_logs(dag_id, run_id, task_id)[-4000:]
            raise AssertionError(f"{dag_id}.{task_id} ({run_id}) is {state}:\n{logs}")
        for dag_id, count in runs.items():
            states = [r.state for r in cluster.dag_runs(dag_id)]
            if len(states) < count or any(s not in ("success", "failed") for s in states):
                return False
        return True

    cluster.wait_until(f"every run of {list(runs)} to end", done, timeout, interval=1.0)


def backfill_wall(cluster: AirflowCluster) -> float:
    """Seconds from the first task's start to the last task's end (the metadata DB's own times)."""
    rows = cluster.query("SELECT MIN(start_date), MAX(end_date) FROM task_instance WHERE dag_id IN (?, ?)", list(DAGS))
    first, last = rows[0]
    return (_as_datetime(last) - _as_datetime(first)).total_seconds()


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def route_counts(stats: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per route: requests, of them 429s, and accepted."""
    counts = {}
    for route, statuses in stats["requests"].items():
        total = sum(int(n) for n in statuses.values())
        refused = int(statuses.get("429", 0))
        counts[route] = {"requests": total, "429s": refused, "accepted": total - refused}
    return counts


def run(args: argparse.Namespace) -> dict[str, Any]:
    executor = {"local": "LocalExecutor", "celery": "CeleryExecutor"}[args.executor]
    backend = "host" if args.executor == "local" else "redis"
    window = 60.0 / args.time_scale
    today = datetime.now(UTC).date()
    spec = {**SANDBOX, "today": today.isoformat()}
    # The same config in this process: the data accessors the expected rows are built from (nothing served here).
    data = SandboxData(config_from(spec))
    checker: Any = SimpleNamespace(data=data, workspace_id=data.config.workspace_id)
    plan = complete_days(checker, args.days, grace=codex_e2e.GRACE, within=timedelta(minutes=30))
    faults = {"rate_limit_per_minute": args.limit, "time_scale": args.time_scale}
    work = Path(tempfile.mkdtemp(prefix="backfill-deployment-"))
    destination = codex_e2e.make_sql_destination("postgres", work)
    log(
        f"{executor}: analytics {plan.analytics[0]}..{plan.analytics[-1]} ({len(plan.analytics)} days), "
        f"compliance {len(plan.compliance)} days; limit {args.limit} per {window:g} s per route, budget {backend}"
    )
    result: dict[str, Any] = {"executor": executor, "backend": backend, "days": len(plan.analytics)}
    try:
        with sandbox_proc.running({**spec, "faults": faults}, work / "sandbox.log") as sandbox:
            codex = sandbox.connection(
                content_hash_secret=codex_e2e.HASH_SALT,
                requests_per_minute=args.limit,
                rate_period_seconds=window,
                rate_limit_backend=backend,
                rate_limit_redis_conn_id=REDIS_CONN_ID,
            )
            env = connection_env("codex_default", codex)
            env[f"AIRFLOW_CONN_{destination.conn_id.upper()}"] = destination.conn_json
            env |= variables_env(
                {"codex_sql_conn_id": destination.conn_id, "codex_archive_path": f"file://{work / 'archive'}"}
            )
            runs = {ANALYTICS_DAG: len(plan.analytics), COMPLIANCE_DAG: len(plan.compliance)}
            started = time.monotonic()
            with airflow_cluster(
                EXAMPLES,
                env=env,
                config=CONFIG,
                components=(),
                executor=executor,
                celery_workers=2,
                worker_concurrency=SLOTS // 2,
                metadata_db="postgresql",
            ) as cluster:
                if cluster.redis_url is not None:  # Redis runs already; no component has read the env yet
                    port = int(cluster.redis_url.rsplit(":", 1)[1])
                    redis_conn = {"conn_type": "redis", "host": "127.0.0.1", "port": port, "extra": {"db": REDIS_DB}}
                    cluster.env |= connection_env(REDIS_CONN_ID, redis_conn)
                cluster.start_components()
                for dag_id in DAGS:
                    cluster.wait_for_dag(dag_id)
                pool = {"name": "codex_api", "slots": SLOTS, "description": "Codex API calls"}
                cluster.api("POST", "pools", json_body=pool)
                sandbox.reset()  # count the backfill's requests only
                for dag_id, days in ((ANALYTICS_DAG, plan.analytics), (COMPLIANCE_DAG, plan.compliance)):
                    cluster.unpause(dag_id)
                    start, end = logical_dates(days)
                    cluster.create_backfill(dag_id, start, end, max_active_runs=SLOTS, conf={"lookback_days": 0})
                log(f"started in {time.monotonic() - started:.0f} s; backfills created")
                wait_for_runs(cluster, runs, timeout=args.timeout)
                states = [r.state for dag_id in DAGS for r in cluster.dag_runs(dag_id)]
                wall = backfill_wall(cluster)
                stats = sandbox.stats()
            routes = route_counts(stats)
            busiest, top = max(routes.items(), key=lambda item: item[1]["accepted"])
            floor = (math.ceil(top["accepted"] / args.limit) - 1) * window
            requests = int(stats["requests_total"])
            refused = int(stats["responses_429"])
            result |= {
                "compliance_days": len(plan.compliance),
                "runs_succeeded": states.count("success"),
                "runs_failed": len(states) - states.count("success"),
                "requests": requests,
                "downloads": sum(int(v) for v in stats["downloads"].values()),
                "429s": refused,
                "429_share": refused / requests if requests else 0.0,
                "wall_seconds": round(wall, 1),
                "busiest_route": busiest,
                "busiest_route_requests": top["requests"],
                "floor_seconds": round(floor, 1),
                "wall_over_floor": round(wall / floor, 2) if floor else None,
                "routes": routes,
                "limit": args.limit,
                "window_seconds": window,
                "cluster_timings": cluster.timings,
            }
        analytics_days = day_range(plan.analytics[0], plan.analytics[-1])
        result["rows"] = check_tables(destination, checker, analytics_days, plan.compliance)
        result["tables_equal"] = True
    finally:
        destination.drop()
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", choices=("local", "celery"), default="local")
    parser.add_argument("--days", type=int, default=60, help="days of codex_analytics_daily (compliance: those held)")
    parser.add_argument("--limit", type=int, default=30, help="requests per (compressed) minute per route")
    parser.add_argument("--time-scale", type=float, default=8.0, help="8: the minute lasts 7.5 s")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds the backfill may take")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = run(args)
    ok = result["runs_failed"] == 0 and result["429_share"] <= 0.01 and (result["wall_over_floor"] or 0) <= 1.3
    log(json.dumps({k: v for k, v in result.items() if k != "routes"}, default=str))
    log(
        f"\n| executor | budget | days (analytics / compliance) | runs ok / failed | requests | 429s | wall s "
        f"| floor s ({result['busiest_route']}, {result['busiest_route_requests']} req) | wall / floor | tables |"
    )
    log(
        f"| {result['executor']} | {result['backend']} | {result['days']} / {result['compliance_days']} "
        f"| {result['runs_succeeded']} / {result['runs_failed']} | {result['requests']} "
        f"| {result['429s']} ({result['429_share']:.1%}) | {result['wall_seconds']} | {result['floor_seconds']} "
        f"| {result['wall_over_floor']}x | {'equal' if result.get('tables_equal') else 'DIFFER'} |"
    )
    log("targets (every run ok, <= 1% 429s, <= 1.3x floor): " + ("met" if ok else "MISSED"))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
