"""Does a load's memory stay flat as the data grows? ``python bench/memory.py [--quick]``.

Two workloads, each at 1x and 10x the rows, each size loaded by a fresh
process through the operator's load logic (``CodexToSqlOperator.load``: the
sandbox over HTTP, flatten, stage, write):

- ``usage``: a workspace of N users over 30 days into PostgreSQL (or SQLite),
  the API paged at its largest page;
- ``compliance_events``: one day of E events (the log files of the day and
  its grace) into the same database, content hashed.

1x is the size of ``bench/run.py``'s case 1 (20,000 users) and case 2
(500,000 events); 10x is ten times that (the full run takes ~10 minutes).

The sandbox runs in this process. Before a 1x load it is warmed (its data
generated and cached), so that load's wall time is its own. 10x of case 2 is
~7 GB of log files and twice that of the sandbox's own objects: too much to
cache beside them on a 24 GB machine, so a 10x load is served as the sandbox
generates (its wall time, shown, includes that; only peak RSS is judged). A
first process that only imports is measured too: the floor every load starts
from.

Peak RSS is the loading process's own ``VmHWM`` (``/proc/self/status``), read
as it ends. Not ``ru_maxrss`` from ``wait4``/``RUSAGE_CHILDREN``: Linux carries
into a child's ``ru_maxrss`` the high-water mark of the image it had before
``exec`` (a copy of this process, holding the sandbox's data), so a small load
after a large one would be charged the sandbox's memory.

Prints a table (rows, wall time, peak RSS per load) and, per workload, the
10x/1x ratios measured in the same run; the target is a peak RSS at 10x below
1.3x the peak at 1x. The full run exits 1 when a ratio misses it; ``--quick``
(tiny sizes, a few seconds: the test suite runs it) only reports. The last
line, ``BENCH_RESULT {...}``, is the same figures as JSON (``bench/run.py``
reads it).

``--runner spawn`` (the default of the full run) starts a new interpreter per
load; ``--runner fork`` (the default of ``--quick``) forks each load from a
process that imported Airflow once and loaded nothing: just as fresh, without
paying the import per load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.config import FULL as CASES  # noqa: E402

PG_URI = os.environ.get("CODEX_BENCH_PG_URI", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_RATIO = 1.30
RESULT_MARK = "BENCH_RESULT "
SQL_CONN_ID = "codex_bench_memory_db"
#: The analytics workload's frozen clock: 30 complete days end the day before "now".
TODAY = date(2026, 3, 4)
NOW = datetime(2026, 3, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Sizes:
    users: int  # usage: users at 1x (10x: ten times as many)
    events: int  # compliance: events per day at 1x


#: 1x is the size of the benchmark's case 1 (usage) and case 2 (compliance): the issue's "1x and 10x".
FULL = Sizes(users=CASES.users, events=CASES.events_per_day)
QUICK = Sizes(users=15, events=300)
#: What the in-process sandbox may cache: all of a 1x load (case 2: ~0.8 GB of log files), not 10x.
SANDBOX_CACHE_BYTES = 4 << 30


# -- the load, in the measured process ------------------------------------------------------


def run_load(command: dict[str, Any]) -> dict[str, Any]:
    """One load as the operator runs it; returns what it did (imports only when no dataset)."""
    os.environ.update(command["env"])
    from airflow_provider_codex.datasets import get_dataset
    from airflow_provider_codex.hooks.codex import CodexHook
    from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator
    from airflow_provider_codex.windows import Window

    if not command.get("dataset"):
        return {"rows": 0, "wall_s": 0.0, "peak_rss_mb": peak_rss_mb()}
    operator = CodexToSqlOperator(task_id="bench_memory", dataset=command["dataset"], sql_conn_id=SQL_CONN_ID)
    hook = CodexHook()
    window = Window.of_days(date.fromisoformat(command["first"]), date.fromisoformat(command["last"]))
    started, started_cpu = time.perf_counter(), time.process_time()
    try:
        summary = operator.load(hook, get_dataset(command["dataset"]), window).as_dict()
    finally:
        hook.close()
    return {
        "rows": summary["total_rows"],
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - started_cpu,  # every thread of this process
        "requests": summary.get("requests", 0),
        "pages": summary["pages"],
        "files": summary["files"],
        "peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM) in MiB: its own address space only."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_main(command: dict[str, Any]) -> None:
    """``--child``: run one load in this (fresh) interpreter, print its result last."""
    result = run_load(command)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def zygote_main() -> None:
    """``--zygote``: import once, then fork a fresh child per command read on stdin."""
    run_load({"env": {}})  # the imports
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        result_path = Path(command["result"])
        pid = os.fork()
        if pid == 0:  # the measured process
            code = 1
            try:
                with open(command["log"], "ab") as log:
                    os.dup2(log.fileno(), 1)
                    os.dup2(log.fileno(), 2)
                result_path.write_text(json.dumps(run_load(command)))
                code = 0
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(status)}), flush=True)


# -- runners: a fresh process per load ---------------------------------------------------------


class SpawnRunner:
    """A new interpreter per load."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs

    def run(self, command: dict[str, Any], name: str) -> dict[str, Any]:
        with open(self.logs / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, __file__, "--child", json.dumps(command)],
                stdout=subprocess.PIPE,
                stderr=log,
                env=self.env,
                cwd=REPO,
            )
            output, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{name}: the load failed (exit {proc.returncode}); see {self.logs / name}.log")
        result: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
        return result

    def close(self) -> None:
        pass


class ForkRunner:
    """A fork per load, from a process that imported Airflow once (``--zygote``)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.logs = logs
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(logs / "zygote.log", "wb"),  # noqa: SIM115 - lives as long as the process
            env=env,
            cwd=REPO,
            text=True,
        )
        self.ready = False

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote died (exit {self.proc.wait()}); see {self.logs / 'zygote.log'}")
        message: dict[str, Any] = json.loads(line)
        return message

    def run(self, command: dict[str, Any], name: str) -> dict[str, Any]:
        if not self.ready:
            self._read()
            self.ready = True
        result = self.logs / f"{name}.json"
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({**command, "log": str(self.logs / f"{name}.log"), "result": str(result)}))
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        ended = self._read()
        if ended["status"] != 0:
            raise RuntimeError(f"{name}: the load failed (exit {ended['status']}); see {self.logs / name}.log")
        loaded: dict[str, Any] = json.loads(result.read_text())
        return loaded

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


# -- the benchmark ------------------------------------------------------------------------------


@contextmanager
def destination(db: str, work: Path) -> Iterator[str]:
    """An empty place to load into; yields the Airflow connection (JSON)."""
    if db == "sqlite":
        path = work / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield json.dumps({"conn_type": "sqlite", "host": str(path)})
        finally:
            path.unlink(missing_ok=True)
        return
    import psycopg

    schema = f"codex_bench_{uuid.uuid4().hex[:10]}"
    with closing(psycopg.connect(PG_URI, autocommit=True)) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield json.dumps(
            {
                "conn_type": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "login": "postgres",
                "schema": PG_URI.rsplit("/", 1)[-1],
                "extra": {"options": f"-c search_path={schema}"},
            }
        )
    finally:
        with closing(psycopg.connect(PG_URI, autocommit=True)) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def codex_conn(sandbox: Any) -> str:
    return json.dumps(sandbox.connection("bench-salt", requests_per_minute=1_000_000))


def usage_case(sizes: Sizes, scale: int) -> tuple[dict[str, Any], dict[str, Any], list[date]]:
    """Sandbox settings, load command and days of the usage workload."""
    days = [TODAY - timedelta(days=30 - i) for i in range(30)]
    settings = {
        "seed": 3,
        "users": sizes.users * scale,
        "events_per_day": 0,
        "today": TODAY,
        "now": NOW,
        "cache_bytes": SANDBOX_CACHE_BYTES,
    }
    return settings, {"dataset": "usage"}, days


def compliance_case(sizes: Sizes, scale: int) -> tuple[dict[str, Any], dict[str, Any], list[date]]:
    settings = {
        "seed": 3,
        "users": 200,
        "events_per_day": sizes.events * scale,
        "analytics_history_days": 60,
        "cache_bytes": SANDBOX_CACHE_BYTES,
    }
    return settings, {"dataset": "compliance_events"}, [busy_day(settings["seed"])]


def busy_day(seed: int) -> date:
    """A recent weekday with events: complete, its late events landed, within the retention.

    Weekends are quieter, and the sandbox makes about 2% of days silent.
    """
    from codex_testing.sandbox import SandboxConfig, SandboxData

    probe = SandboxData(SandboxConfig(seed=seed, users=5, events_per_day=50, analytics_history_days=60))
    day = datetime.now(UTC).date() - timedelta(days=3)
    while day.weekday() >= 5 or not probe.events("CODEX_LOG", day):
        day -= timedelta(days=1)
    return day


def warm(sandbox: Any, dataset: str, days: list[date]) -> None:
    """Generate (and cache) what the load will be served, so its wall time is the loader's."""
    data = sandbox.data
    if dataset == "usage":
        for day in days:
            data.analytics_row_bytes("usage", day)
        return
    start = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
    for event_type in ("CODEX_LOG", "CODEX_SECURITY_LOG"):
        for info in data.log_files(event_type, after=start, before=start + timedelta(days=len(days), hours=6)):
            data.log_file_bytes(info.id)


def measure(args: argparse.Namespace) -> int:
    from codex_testing.sandbox import running_sandbox

    sizes = QUICK if args.quick else FULL
    runner_name = args.runner or ("fork" if args.quick else "spawn")
    work = Path(tempfile.mkdtemp(prefix="codex-bench-memory-"))
    logs = work / "logs"
    logs.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / "airflow-home"),  # never a developer's ~/airflow
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    runner: SpawnRunner | ForkRunner = SpawnRunner(env, logs) if runner_name == "spawn" else ForkRunner(env, logs)
    database = "postgresql" if args.db == "postgres" else "sqlite"
    print(
        f"Peak memory of one load at 1x and 10x the rows ({'quick' if args.quick else 'full'} sizes; "
        f"a fresh process per load: runner={runner_name}; database={database})",
        flush=True,
    )
    results: dict[str, Any] = {}
    table: list[tuple[str, str, dict[str, Any]]] = []
    try:
        table.append(("(imports only)", "-", runner.run({"env": {}}, "imports")))
        for name, case in (("analytics", usage_case), ("compliance", compliance_case)):
            measured = {}
            for scale in (1, 10):
                settings, command, days = case(sizes, scale)
                label = (
                    f"usage, {settings['users']} users x 30 days"
                    if name == "analytics"
                    else f"compliance, {settings['events_per_day']} events/day x 1 day"
                )
                with running_sandbox(**settings) as sandbox, destination(args.db, work) as sql_conn:
                    if scale == 1:  # see the module docstring
                        warm(sandbox, command["dataset"], days)
                    full_command = {
                        **command,
                        "first": days[0].isoformat(),
                        "last": days[-1].isoformat(),
                        "env": {
                            "AIRFLOW_CONN_CODEX_DEFAULT": codex_conn(sandbox),
                            f"AIRFLOW_CONN_{SQL_CONN_ID.upper()}": sql_conn,
                        },
                    }
                    measured[scale] = runner.run(full_command, f"{name}-{scale}x")
                table.append((f"{label} -> {database}", f"{scale}x", measured[scale]))
                print(f"  done: {table[-1][0]} ({measured[scale]['wall_s']:.1f}s)", file=sys.stderr, flush=True)
            one, ten = measured[1], measured[10]
            results[name] = {
                "rows_1x": one["rows"],
                "rows_10x": ten["rows"],
                "rows_ratio": ten["rows"] / one["rows"] if one["rows"] else None,
                "wall_ratio": ten["wall_s"] / one["wall_s"] if one["wall_s"] else None,
                "peak_rss_mb_1x": round(one["peak_rss_mb"], 1),
                "peak_rss_mb_10x": round(ten["peak_rss_mb"], 1),
                "ratio": ten["peak_rss_mb"] / one["peak_rss_mb"],
            }
    finally:
        runner.close()
    print_table(table, results, judged=not args.quick)
    results["imports_only_rss_mb"] = round(table[0][2]["peak_rss_mb"], 1)
    results["mode"] = "quick" if args.quick else "full"
    print(RESULT_MARK + json.dumps(results), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    missed = [n for n, r in results.items() if isinstance(r, dict) and r["ratio"] >= TARGET_RATIO]
    return 1 if missed and not args.quick else 0


def print_table(table: list[tuple[str, str, dict[str, Any]]], results: dict[str, Any], judged: bool) -> None:
    width = max(len(label) for label, _, _ in table)
    print()
    print(f"{'load':<{width}}  scale  {'rows':>10}  {'requests':>8}  {'wall s':>7}  {'peak RSS MiB':>12}")
    for label, scale, r in table:
        print(
            f"{label:<{width}}  {scale:>5}  {r['rows']:>10,}  {r.get('requests', 0):>8}  "
            f"{r['wall_s']:>7.2f}  {r['peak_rss_mb']:>12.1f}"
        )
    print()
    print(f"{'10x / 1x':<12}  {'rows':>6}  {'wall':>6}  {'peak RSS':>8}")
    for name in ("analytics", "compliance"):
        r = results[name]
        verdict = ""
        if judged:
            verdict = "  OK" if r["ratio"] < TARGET_RATIO else f"  MISSED (target < {TARGET_RATIO:.2f}x)"
        print(f"{name:<12}  {r['rows_ratio']:>5.1f}x  {r['wall_ratio']:>5.1f}x  {r['ratio']:>7.2f}x{verdict}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds; reports without judging")
    parser.add_argument("--runner", choices=("spawn", "fork"), help="a new interpreter or a fork per load")
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--zygote", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0
    if args.zygote:
        zygote_main()
        return 0
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
