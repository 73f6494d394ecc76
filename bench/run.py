"""The benchmark of issue #6, in one command: ``python bench/run.py [--quick]``.

Against the sandbox on loopback (its own process), each case several times,
each run in a fresh worker process (:mod:`bench.worker`, or the dlt venv's
Python for dlt), each case in rep-major rounds so that drift hits every
loader alike:

1. analytics, wide: limit, provider, dlt and HttpOperator into SQLite and PostgreSQL;
2. compliance, deep: limit, provider and dlt into PostgreSQL;
3. memory: ``bench/memory.py`` when present;
4. a rate-limited backfill: every analytics dataset, one run per day; two forms:
   ``deployment`` (``bench/backfill_deployment.py``: both example DAGs through a real
   scheduler, LocalExecutor and CeleryExecutor, every task in its own process) and
   ``backfill``, the tasks as threads of one process (not a deployment: no Airflow
   executor runs tasks so; kept as the client's own pacing, without Airflow's overhead).

Cases 3 and 4 (a few minutes) run first, so that a full run interrupted with
Ctrl-C still reports them and the reps of cases 1 and 2 it completed.

Prints the table (median, min, max seconds; rows/s; requests; 429s; peak RSS),
the provider's ratios to every other loader and each target of the issue.
``--quick`` runs small sizes once each (the test suite runs it); ``--markdown``
also writes the report as Markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from airflow_provider_codex.datasets import ANALYTICS_DATASETS  # noqa: E402
from bench import airflow_env, dlt_env, procstats, report, sandbox_proc  # noqa: E402
from bench.config import (  # noqa: E402
    ANALYTICS_KEY,
    COMPLIANCE_KEY,
    MAX_PAGE_ROWS,
    PG_URI,
    Sizes,
    api_facts,
    sizes,
)
from bench.report import Row  # noqa: E402

PROVIDER_SCHEMA, HTTPOP_SCHEMA = "bench_provider", "bench_httpop"
DLT_SCHEMA, BACKFILL_SCHEMA = "bench_dlt", "bench_backfill"


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _pg_uri_with_password(uri: str) -> str:
    """dlt insists on a password; a trust-auth server ignores it."""
    scheme, rest = uri.split("://", 1)
    userinfo, sep, host = rest.rpartition("@")
    if not sep or ":" in userinfo:
        return uri
    return f"{scheme}://{userinfo}:bench@{host}"


class Postgres:
    """Schemas of the bench's PostgreSQL database, dropped and made again before each run."""

    def drop_all(self) -> None:
        """Leave nothing behind (``--keep`` keeps the last run's tables to look at)."""
        try:
            for schema in (PROVIDER_SCHEMA, HTTPOP_SCHEMA, DLT_SCHEMA, BACKFILL_SCHEMA):
                self.reset(schema, create=False)
        except Exception as failed:  # the report matters more than the cleanup
            log(f"could not drop the bench schemas: {failed}")

    def reset(self, schema: str, create: bool = True) -> None:
        import psycopg

        with psycopg.connect(PG_URI, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            if create:
                conn.execute(f'CREATE SCHEMA "{schema}"')


class Bench:
    """One benchmark run: its sizes, work folder, Airflow environment and results."""

    def __init__(self, sizes: Sizes, work: Path, timeout: float) -> None:
        self.sizes = sizes
        self.work = work
        self.timeout = timeout
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = airflow_env.prepare(work)
        # Compiled bytecode outside the tree: importing Airflow from source costs seconds a process.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env.setdefault("PYTHONPYCACHEPREFIX", str(airflow_env.CACHE / "pycache"))
        self.pg = Postgres()
        self.rows: list[Row] = []
        self.extra: dict[str, Any] = {}
        self.dlt_python: Path | None = None
        #: Loaders not to run (``--skip``).
        self.skip: set[str] = set()
        self._runs = 0
        #: The quick mode's one worker process (``bench.worker --serve``), started on first use.
        self._server: subprocess.Popen[str] | None = None

    # -- running one worker ------------------------------------------------------------

    def worker(self, name: str, command: list[str], env: dict[str, str]) -> dict[str, Any]:
        self._runs += 1
        log_path = self.logs / f"{self._runs:03d}-{name}.log"
        with log_path.open("w") as out:
            try:
                done = subprocess.run(
                    command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=out, text=True, timeout=self.timeout
                )
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"timed out after {self.timeout:.0f}s (log: {log_path})") from None
            out.write(done.stdout)
        result = procstats.parse(done.stdout)
        if done.returncode != 0 or result is None:
            raise RuntimeError(f"exit {done.returncode} (log: {log_path})")
        if result.get("ok") is False:
            raise RuntimeError(f"the run did not succeed: {json.dumps(result)[:300]} (log: {log_path})")
        return result

    def airflow_worker(self, name: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        if self.sizes.name == "quick":
            return self.served(name, spec, env)
        return self.worker(name, [sys.executable, "-m", "bench.worker", json.dumps(spec)], {**self.env, **env})

    def served(self, name: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        """One run in the quick mode's single worker process (Airflow imported and booted once)."""
        if self._server is None:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "bench.worker", "--serve"],
                env=self.env,
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=(self.logs / "worker-serve.log").open("w"),
                text=True,
            )
        server = self._server
        assert server.stdin is not None
        assert server.stdout is not None
        self._runs += 1
        log_path = self.logs / f"{self._runs:03d}-{name}.log"
        server.stdin.write(json.dumps({"spec": spec, "env": env}) + "\n")
        server.stdin.flush()
        with log_path.open("w") as out:
            for line in server.stdout:
                out.write(line)
                result = procstats.parse(line)
                if result is not None:
                    break
            else:
                raise RuntimeError(f"the worker exited {server.wait()} (log: {self.logs / 'worker-serve.log'})")
        if result.get("ok") is False:
            raise RuntimeError(f"the run did not succeed: {json.dumps(result)[:300]} (log: {log_path})")
        return result

    def close(self) -> None:
        if self._server is not None:
            assert self._server.stdin is not None
            self._server.stdin.close()
            try:
                self._server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
            self._server = None

    def dlt_worker(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        assert self.dlt_python is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env["RUNTIME__LOG_LEVEL"] = "WARNING"
        script = REPO / "bench" / "cases" / "dlt_pipeline.py"
        return self.worker(name, [str(self.dlt_python), str(script), json.dumps(spec)], env)

    def measure(
        self, row: Row, sandbox: sandbox_proc.SandboxProcess, run: Callable[[int], dict[str, Any]], rep: int
    ) -> None:
        """One run of ``row``'s case; a failure marks the row and stops its later reps."""
        if row.status:
            return
        label = f"{row.group}/{row.loader}/{row.database} rep {rep + 1}/{self.sizes.reps}"
        try:
            sandbox.reset()
            result = run(rep)
            result.update(sandbox.counts())
        except Exception as failed:  # recorded, the benchmark goes on
            row.status = f"FAILED: {failed}"
            log(f"{label}: {row.status}")
            return
        row.runs.append(result)
        log(f"{label}: {result['seconds']:.2f}s, {result['requests']} requests, peak {result['peak_rss_mb']} MiB")

    def row(self, group: str, loader: str, database: str, status: str = "") -> Row:
        row = Row(group, loader, database, status=status)
        self.rows.append(row)
        return row

    def sqlite_env(self, name: str) -> tuple[Path, dict[str, str]]:
        path = self.work / "db" / f"{name}.sqlite"
        path.parent.mkdir(exist_ok=True)
        path.unlink(missing_ok=True)
        return path, airflow_env.connection_env("bench_sqlite", airflow_env.sqlite_uri(path))

    # -- case 1 ------------------------------------------------------------------------

    def analytics(self, sandbox: sandbox_proc.SandboxProcess) -> None:
        first, end = self.sizes.analytics_window
        start_ts, end_ts = unix(first), unix(end)
        conf = {"start": first.isoformat(), "end": end.isoformat()}
        codex = airflow_env.connection_env("codex_bench", sandbox.connection(requests_per_minute=1_000_000))
        http = airflow_env.connection_env(
            "bench_http",
            {"conn_type": "http", "host": sandbox.base_url, "extra": {"Authorization": f"Bearer {ANALYTICS_KEY}"}},
        )
        limit_spec = {"case": "limit_analytics", "base_url": sandbox.base_url, "start_ts": start_ts, "end_ts": end_ts}
        log(f"analytics: warming the sandbox up ({self.sizes.users} users, {first} .. {end})")
        warm = self.airflow_worker("warmup-analytics", limit_spec, {})
        log(f"analytics: {warm['rows']} rows, {warm['client_requests']} pages, first fetch {warm['seconds']:.1f}s")

        rows: list[tuple[Row, Callable[[int], dict[str, Any]]]] = []
        limit = self.row("analytics", "limit", "-")
        rows.append((limit, lambda rep: self.airflow_worker("analytics-limit", limit_spec, {})))
        for database in self.sizes.databases:
            rows.append((self.row("analytics", "provider", database), self._provider("usage", database, conf, codex)))
        for database in self.sizes.databases:
            dlt = self.row("analytics", "dlt", database, "" if self.dlt_python else "skipped (dlt not installed)")
            rows.append((dlt, self._dlt_analytics(sandbox, database, start_ts, end_ts)))
        for database in self.sizes.databases if "HttpOperator" not in self.skip else ():
            httpop_conf = {**conf, "start_ts": start_ts, "end_ts": end_ts}
            rows.append((self.row("analytics", "HttpOperator", database), self._httpop(database, httpop_conf, http)))
        self._rounds(sandbox, rows)
        for row, _ in rows:
            row.rows = warm["rows"]

    def _provider(
        self, dataset: str, database: str, conf: dict[str, Any], codex: dict[str, str]
    ) -> Callable[[int], dict[str, Any]]:
        def run(rep: int) -> dict[str, Any]:
            env = dict(codex)
            if database == "postgres":
                self.pg.reset(PROVIDER_SCHEMA)
            else:
                env.update(self.sqlite_env(f"provider-{dataset}-{rep}")[1])
            spec = {"case": "provider", "dag_id": f"bench_provider_{dataset}_{database}", "conf": conf}
            return self.airflow_worker(f"{dataset}-provider-{database}", spec, env)

        return run

    def _httpop(self, database: str, conf: dict[str, Any], http: dict[str, str]) -> Callable[[int], dict[str, Any]]:
        def run(rep: int) -> dict[str, Any]:
            env = dict(http)
            if database == "postgres":
                self.pg.reset(HTTPOP_SCHEMA)
                run_conf = {**conf, "sql_conn_id": "bench_postgres", "schema": HTTPOP_SCHEMA}
            else:
                env.update(self.sqlite_env(f"httpop-{rep}")[1])
                run_conf = {**conf, "sql_conn_id": "bench_sqlite"}
            return self.airflow_worker(f"usage-httpop-{database}", {"case": "httpop", "conf": run_conf}, env)

        return run

    def _dlt_target(self, name: str, database: str) -> str:
        if database == "postgres":
            self.pg.reset(DLT_SCHEMA, create=False)
            return _pg_uri_with_password(PG_URI)
        return str(self.sqlite_env(name)[0])

    def _dlt_analytics(
        self, sandbox: sandbox_proc.SandboxProcess, database: str, start_ts: int, end_ts: int
    ) -> Callable[[int], dict[str, Any]]:
        def run(rep: int) -> dict[str, Any]:
            spec = {
                "kind": "analytics",
                "base_url": sandbox.base_url,
                "key": ANALYTICS_KEY,
                "start_ts": start_ts,
                "end_ts": end_ts,
                "database": database,
                "target": self._dlt_target(f"dlt-{rep}", database),
                "dataset": DLT_SCHEMA,
                "facts": api_facts(),
            }
            return self.dlt_worker(f"usage-dlt-{database}", spec)

        return run

    def _rounds(
        self, sandbox: sandbox_proc.SandboxProcess, rows: list[tuple[Row, Callable[[int], dict[str, Any]]]]
    ) -> None:
        for rep in range(self.sizes.reps):
            for row, run in rows:
                self.measure(row, sandbox, run, rep)

    # -- case 2 ------------------------------------------------------------------------

    def compliance(self, sandbox: sandbox_proc.SandboxProcess) -> None:
        day = self.sizes.compliance_day
        conf = {"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()}
        codex = airflow_env.connection_env("codex_bench", sandbox.connection(requests_per_minute=1_000_000))
        limit_spec = {"case": "limit_compliance", "base_url": sandbox.base_url, "day": day.isoformat()}
        log(f"compliance: warming the sandbox up ({self.sizes.events_per_day} events a day, {day})")
        warm = self.airflow_worker("warmup-compliance", limit_spec, {})
        log(
            f"compliance: {warm['rows']} events of the day in {warm['files']} files, first fetch {warm['seconds']:.1f}s"
        )
        rows: list[tuple[Row, Callable[[int], dict[str, Any]]]] = [
            (self.row("compliance", "limit", "-"), lambda rep: self.airflow_worker("compliance-limit", limit_spec, {})),
            (
                self.row("compliance", "provider", "postgres"),
                self._provider("compliance_events", "postgres", conf, codex),
            ),
        ]
        dlt = self.row("compliance", "dlt", "postgres", "" if self.dlt_python else "skipped (dlt not installed)")

        def run_dlt(rep: int) -> dict[str, Any]:
            spec = {
                "kind": "compliance",
                "base_url": sandbox.base_url,
                "key": COMPLIANCE_KEY,
                "day": day.isoformat(),
                "database": "postgres",
                "target": self._dlt_target("dlt-compliance", "postgres"),
                "dataset": DLT_SCHEMA,
                "facts": api_facts(),
            }
            return self.dlt_worker("compliance-dlt-postgres", spec)

        rows.append((dlt, run_dlt))
        self._rounds(sandbox, rows)
        for row, _ in rows:
            row.rows = warm["rows"]

    # -- case 3 ------------------------------------------------------------------------

    def memory(self) -> None:
        """Run ``bench/memory.py`` (maintained separately) when it exists; keep its output."""
        script = REPO / "bench" / "memory.py"
        if not script.exists():
            self.extra["memory"] = {"status": "not run: bench/memory.py is not there"}
            return
        command = [sys.executable, str(script), *(["--quick"] if self.sizes.name == "quick" else [])]
        log(f"memory: {' '.join(command)}")
        done = subprocess.run(command, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=self.timeout * 4)
        (self.logs / "memory.log").write_text(done.stdout + done.stderr)
        parsed = procstats.parse(done.stdout) or {}
        self.extra["memory"] = {"status": f"exit {done.returncode}", "output": done.stdout[-4000:], **parsed}

    # -- case 4 ------------------------------------------------------------------------

    def backfill_deployment(self, days: int) -> None:
        """Case 4 as deployments run it: ``bench/backfill_deployment.py`` once per executor."""
        results: dict[str, Any] = {}
        for executor in ("local", "celery"):
            out = self.work / f"backfill-deployment-{executor}.json"
            command = [sys.executable, str(REPO / "bench" / "backfill_deployment.py")]
            command += ["--executor", executor, "--days", str(days), "--json", str(out)]
            log(f"backfill per deployment: {' '.join(command[1:])}")
            done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=3600)
            (self.logs / f"backfill-deployment-{executor}.log").write_text(done.stdout + done.stderr)
            figures = json.loads(out.read_text()) if out.exists() else {}
            figures.pop("routes", None)
            results[executor] = {"status": f"exit {done.returncode}", **figures}
        self.extra["backfill_deployment"] = results

    def backfill(self) -> None:
        sizes = self.sizes
        first, end = sizes.backfill_window
        days = [first + timedelta(days=i) for i in range((end - first).days)]
        window = 60.0 / sizes.time_scale
        per_minute = sizes.backfill_rate_limit
        config = {
            "users": sizes.backfill_users,
            "today": sizes.today.isoformat(),
            "faults": {"rate_limit_per_minute": per_minute, "time_scale": sizes.time_scale},
        }
        minimum = minimum_requests(config, days)
        floor = max((math.ceil(n / per_minute) - 1) * window for n in minimum.values())
        row = self.row("backfill", "provider", "postgres")
        log(
            f"backfill: {len(days)} days x {len(ANALYTICS_DATASETS)} datasets, {per_minute} requests "
            f"a minute per route, minute = {window:.1f}s; fewest requests {sum(minimum.values())}, floor {floor:.0f}s"
        )
        with sandbox_proc.running(config, self.logs / "sandbox-backfill.log") as sandbox:
            # The connection counts its requests_per_minute over the sandbox's compressed minute.
            codex = sandbox.connection(requests_per_minute=per_minute, rate_period_seconds=window)
            env = airflow_env.connection_env("codex_bench", codex)

            def run(rep: int) -> dict[str, Any]:
                self.pg.reset(BACKFILL_SCHEMA)
                spec = {
                    "case": "backfill",
                    "days": [d.isoformat() for d in days],
                    "datasets": list(ANALYTICS_DATASETS),
                    "sql_conn_id": "bench_postgres",
                    "schema": BACKFILL_SCHEMA,
                }
                return self.airflow_worker("backfill", spec, env)

            self.measure(row, sandbox, run, 0)
        row.rows = len(days) * len(ANALYTICS_DATASETS)
        if row.ok:
            result = row.runs[0]
            self.extra["backfill"] = {
                "days": len(days),
                "tasks": result["tasks"],
                "tasks_failed": result["tasks_failed"],
                "requests": result["requests"],
                "minimum_requests": sum(minimum.values()),
                "requests_ratio": result["requests"] / sum(minimum.values()),
                "responses_429": result["responses_429"],
                "seconds": result["seconds"],
                "floor_seconds": floor,
                "wall_ratio": result["seconds"] / floor if floor else None,
                "time_scale": sizes.time_scale,
                "failures": result.get("failures"),
            }


def minimum_requests(config: dict[str, Any], days: list[date]) -> dict[str, int]:
    """Per route, the fewest requests the API allows: one per day, more for a day over a page."""
    from codex_testing.sandbox import SandboxConfig, SandboxData

    data = SandboxData(SandboxConfig(users=config["users"], today=date.fromisoformat(config["today"])))
    return {
        route: sum(max(1, math.ceil(len(data.analytics_row_bytes(route, day)) / MAX_PAGE_ROWS)) for day in days)
        for route in ANALYTICS_DATASETS
    }


def machine() -> dict[str, str]:
    def sh(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "?"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "nproc": sh("nproc"),
        "free -h": sh("free", "-h"),
        "cpu": cpu,
        "python": platform.python_version(),
        "postgres": sh("psql", "-At", "-h", "127.0.0.1", "-U", "postgres", "-c", "SHOW server_version", "test"),
    }


def render(bench: Bench, command: str, markdown: bool) -> str:
    header = report.HEADERS
    body = report.table_rows(bench.rows)
    ratios = report.throughput_ratios(bench.rows)
    targets = report.targets(bench.rows, bench.extra.get("memory"), bench.extra.get("backfill"))
    table = report.markdown_table if markdown else report.text_table
    parts = [
        f"Command: `{command}`" if markdown else f"Command: {command}",
        *(
            [
                "Quick mode: small sizes, one worker process for every Airflow run; a check that the harness works, "
                "its timings and ratios mean nothing."
            ]
            if bench.sizes.name == "quick"
            else []
        ),
        table(header, body),
        table(("ratio of rows/s", "database", "value"), ratios) if ratios else "(no ratios)",
        table(("target", "figure", "verdict"), [(t.name, t.figure, report.verdict(t)) for t in targets]),
    ]
    fence = "```" if markdown else ""
    backfill = bench.extra.get("backfill")
    if backfill:
        parts.append("Backfill, threads of one process (not a deployment): " + json.dumps(backfill, default=str))
    deployment = bench.extra.get("backfill_deployment")
    if deployment:
        parts.append("Backfill per deployment (case 4): " + json.dumps(deployment, default=str))
    memory = bench.extra.get("memory")
    if memory:
        output = memory.get("output", "").strip()
        parts.append(
            f"Memory (bench/memory.py): {memory.get('status', '')}"
            + (f"\n\n{fence}\n{output}\n{fence}" if output else "")
        )
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each (the test suite's mode)")
    parser.add_argument("--reps", type=int, default=None, help="runs per case (default: 3, quick: 1)")
    parser.add_argument(
        "--cases",
        default=None,
        help="comma-separated subset of: analytics, compliance, memory, backfill, deployment "
        "(default: all; quick: all but deployment, which starts two Airflow deployments)",
    )
    parser.add_argument("--deployment-days", type=int, default=60, help="days of the deployment backfill")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, SQLite files)")
    parser.add_argument(
        "--skip", default="", help="comma-separated loaders not to run: HttpOperator (its 2x3 reps take ~12 min)"
    )
    args = parser.parse_args(argv)
    chosen = sizes(args.quick, args.reps)
    default_cases = "analytics,compliance,memory,backfill" + ("" if args.quick else ",deployment")
    cases = {c.strip() for c in (args.cases or default_cases).split(",") if c.strip()}
    work = Path(tempfile.mkdtemp(prefix="codex-bench-"))
    command = "python bench/run.py " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
    started = time.monotonic()
    log(f"{chosen.name} run, {chosen.reps} rep(s), work folder {work}")
    bench = Bench(chosen, work, timeout=600 if args.quick else 900)
    bench.skip = {loader.strip() for loader in args.skip.split(",") if loader.strip()}
    bench.dlt_python = dlt_env.ensure(install=not args.quick) if cases & {"analytics", "compliance"} else None
    try:
        # The short cases first: a long run cut short (Ctrl-C) still reports them, and the reps it did.
        if "memory" in cases:
            bench.memory()
        if "deployment" in cases:
            bench.backfill_deployment(args.deployment_days)
        if "backfill" in cases:
            bench.backfill()
        if cases & {"analytics", "compliance"}:
            config = {
                "users": chosen.users,
                "events_per_day": chosen.events_per_day,
                "today": chosen.today.isoformat(),
                "cache_bytes": 6 << 30,
            }
            with sandbox_proc.running(config, bench.logs / "sandbox.log") as sandbox:
                if "analytics" in cases:
                    bench.analytics(sandbox)
                if "compliance" in cases:
                    bench.compliance(sandbox)
    finally:
        bench.close()
        elapsed = time.monotonic() - started
        print(render(bench, command.strip(), markdown=False), flush=True)
        print(f"Machine: {json.dumps(machine())}\nTotal {elapsed:.0f}s; logs in {work / 'logs'}", flush=True)
        if args.markdown:
            args.markdown.write_text(render(bench, command.strip(), markdown=True))
        if args.json:
            args.json.write_text(
                json.dumps(
                    {"rows": [vars(r) for r in bench.rows], **bench.extra, "machine": machine()}, indent=1, default=str
                )
            )
        if not args.keep:
            shutil.rmtree(work / "db", ignore_errors=True)
            bench.pg.drop_all()
    failed = [r for r in bench.rows if r.status.startswith("FAILED")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
