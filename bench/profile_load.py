"""One provider load, timed and optionally profiled: where does a load spend its time?

``python bench/profile_load.py usage|compliance_events [--db postgres|sqlite] [--reps N] [--py-spy]``

The sandbox runs in its own process with case 1's or case 2's data (``--users``,
``--events`` shrink it); each rep is a fresh interpreter running the operator's
load logic (``bench/memory.py --child``: the sandbox over HTTP, flatten, stage,
write) into an empty PostgreSQL schema or SQLite file. A first, unmeasured rep
makes the sandbox generate and cache its data. ``--reload`` loads every rep
into the same place, so each replaces a day already loaded (its ``DELETE``
included), as ``bench/run.py``'s reps do. With ``--py-spy`` (installed
apart: ``pip install py-spy``) the last rep runs under ``py-spy record`` (with
``--idle``, time spent waiting counts too), and the frames with the most
samples of their own, then the most samples in all, are printed: the profiles
quoted in ``bench/RESULTS.md`` came from here.

Each rep also prints the CPU seconds it cost: the load's own (every thread of
its process, from the load's start to its end), the sandbox's and the local
PostgreSQL server's (Linux ``/proc``; backends that exited included). Their sum
over the machine's cores is the shortest wall time that work could take here,
however well it overlapped.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import sandbox_proc  # noqa: E402
from bench.config import FULL  # noqa: E402
from bench.memory import SQL_CONN_ID, destination  # noqa: E402

SAMPLE_RATE = 200
#: Frames of the load itself, per thread: samples of the interpreter starting up are left out.
LOAD_FRAMES = {"load": "CodexLoadOperator.load (", "writer": "BackgroundWriter._run ("}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=("usage", "compliance_events"))
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--reps", type=int, default=1, help="measured reps, after the warm-up one")
    parser.add_argument("--users", type=int, default=FULL.users)
    parser.add_argument("--events", type=int, default=FULL.events_per_day)
    parser.add_argument(
        "--py-spy",
        nargs="?",
        const="py-spy",
        metavar="PATH",
        help="profile the last rep with py-spy (the command, or its path)",
    )
    parser.add_argument(
        "--idle",
        action="store_true",
        help="with --py-spy: count threads waiting (for the API, the server, the queue) too",
    )
    parser.add_argument("--top", type=int, default=25, help="frames to print per list")
    parser.add_argument(
        "--reload",
        action="store_true",
        help="every rep into the same schema or file: each replaces a loaded day, as run.py's reps do",
    )
    args = parser.parse_args(argv)
    spy = shutil.which(args.py_spy) if args.py_spy else None
    if args.py_spy and spy is None:
        parser.error(f"py-spy not found ({args.py_spy}): pip install py-spy, or give its path")

    today = FULL.today
    if args.dataset == "usage":
        first, last = today - timedelta(days=FULL.analytics_days), today - timedelta(days=1)
    else:
        first = last = FULL.compliance_day
    work = Path(tempfile.mkdtemp(prefix="codex-profile-"))
    env = {**os.environ, "AIRFLOW_HOME": str(work / "airflow-home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    config = {"users": args.users, "events_per_day": args.events, "today": today.isoformat(), "cache_bytes": 6 << 30}
    try:
        with contextlib.ExitStack() as stack:
            sandbox = stack.enter_context(sandbox_proc.running(config, work / "sandbox.log"))
            codex = json.dumps(sandbox.connection(requests_per_minute=1_000_000))
            shared = stack.enter_context(destination(args.db, work)) if args.reload else None
            for rep in range(args.reps + 1):
                profiled = args.py_spy and rep == args.reps
                with contextlib.nullcontext(shared) if shared else destination(args.db, work) as sql:
                    command = {
                        "env": {"AIRFLOW_CONN_CODEX_DEFAULT": codex, f"AIRFLOW_CONN_{SQL_CONN_ID.upper()}": sql},
                        "dataset": args.dataset,
                        "first": first.isoformat(),
                        "last": last.isoformat(),
                    }
                    run = [sys.executable, str(REPO / "bench" / "memory.py"), "--child", json.dumps(command)]
                    cpu = CpuAccount(sandbox.process.pid)
                    if spy and profiled:
                        raw = work / "py-spy.txt"
                        idle = ["--idle"] if args.idle else []
                        run = [spy, "record", *idle, "-r", str(SAMPLE_RATE), "-f", "raw", "-o", str(raw), "--", *run]
                    done = subprocess.run(run, capture_output=True, text=True, cwd=REPO, env=env, check=False)
                if done.returncode != 0:
                    sys.stderr.write(done.stderr[-4000:])
                    return 1
                # The result is the child's last JSON line (py-spy prints its own lines after it).
                result = json.loads(next(x for x in reversed(done.stdout.splitlines()) if x.startswith("{")))
                label = "warm-up" if rep == 0 else f"rep {rep}" + (" (under py-spy)" if profiled else "")
                print(
                    f"{label}: {result['rows']:,} rows in {result['wall_s']:.2f}s, "
                    f"{result['requests']} requests, peak {result['peak_rss_mb']:.0f} MiB",
                    flush=True,
                )
                print(f"  {cpu.spent(result['cpu_s']).describe(result['wall_s'])}", flush=True)
                if profiled:
                    print_profile(raw, args.top)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


@dataclass(frozen=True)
class CpuSpent:
    """CPU seconds of one rep, per process group."""

    load: float
    sandbox: float
    postgres: float

    def describe(self, wall: float) -> str:
        total, cores = self.load + self.sandbox + self.postgres, os.cpu_count() or 1
        return (
            f"cpu: load {self.load:.2f}s, sandbox {self.sandbox:.2f}s, postgres {self.postgres:.2f}s; "
            f"{total:.2f}s in all = {total / cores:.2f}s of wall time at least on {cores} cores (took {wall:.2f}s)"
        )


class CpuAccount:
    """CPU time spent from now on by one process (the sandbox) and by the local PostgreSQL server.

    From ``/proc``: a PostgreSQL backend that exits adds its time to the
    postmaster's (``cutime``/``cstime``), so the sum over ``postgres`` processes
    of their own and their children's time counts the load's backend too.
    Zero where ``/proc`` is missing or the server is not local.
    """

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._start = self._now()

    def spent(self, load: float) -> CpuSpent:
        """What was spent since; ``load``: the load's own CPU seconds, as its process measured them."""
        (sandbox_0, postgres_0), (sandbox_1, postgres_1) = self._start, self._now()
        return CpuSpent(load, sandbox_1 - sandbox_0, postgres_1 - postgres_0)

    def _now(self) -> tuple[float, float]:
        sandbox = sum(_proc_times(self._pid)[:2])
        postgres = sum(sum(_proc_times(pid)) for pid in _pids_named("postgres"))
        return sandbox, postgres


def _pids_named(name: str) -> Iterator[int]:
    """The processes whose command name (``/proc/PID/comm``) is ``name``."""
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() == name:
                yield int(entry.name)


def _proc_times(pid: int) -> tuple[float, float, float, float]:
    """``(utime, stime, cutime, cstime)`` of ``pid`` in seconds; zeros when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0, 0.0, 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(v) / tick for v in fields[11:15])
    return utime, stime, cutime, cstime


def print_profile(raw: Path, top: int) -> None:
    """Seconds per frame from py-spy's raw (collapsed stacks) output, own time then in all.

    The load's own thread and the SQL sink's writer thread (PostgreSQL) are
    counted apart first: they run side by side, sharing the GIL.
    """
    own: collections.Counter[str] = collections.Counter()
    within: collections.Counter[str] = collections.Counter()
    per_thread: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        thread = next((name for name, frame in LOAD_FRAMES.items() if frame in stack), None)
        if thread is None:
            continue
        frames, samples = stack.split(";"), int(count)
        total += samples
        per_thread[thread] += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            within[frame] += samples
    threads = ", ".join(f"{name} thread {per_thread[name] / SAMPLE_RATE:.2f}s" for name in LOAD_FRAMES)
    print(f"py-spy: {total / SAMPLE_RATE:.2f}s of samples in the load ({threads})")
    for title, counter in (("own time", own), ("in all (callees included)", within)):
        print(f"-- {title}")
        for frame, samples in counter.most_common(top):
            name = re.sub(r"\([^()]*site-packages/", "(", frame).replace(str(REPO) + "/", "")
            print(f"{samples / SAMPLE_RATE:7.2f}s {100 * samples / total:5.1f}%  {name}")


if __name__ == "__main__":
    sys.exit(main())
