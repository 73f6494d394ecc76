"""A real Airflow 3 deployment for end-to-end tests and demos, always torn down.

``dag.test()`` runs tasks and triggers in the caller's own process; it cannot
show what a deployment does (a task *deferred* while the triggerer waits, a
scheduler creating backfill runs, workers talking to the Execution API). This
harness starts the real thing from the current virtualenv::

    from codex_testing import airflow_cluster, connection_env

    with airflow_cluster(dags_folder, env=connection_env("codex_default", {...})) as cluster:
        cluster.wait_for_dag("my_dag")
        cluster.unpause("my_dag")
        run_id = cluster.trigger_dag("my_dag", logical_date=datetime(2026, 3, 5, tzinfo=UTC))
        cluster.wait_for_task_state("my_dag", run_id, "wait", {"deferred"})
        ...
        cluster.create_backfill("my_dag", date(2026, 3, 1), date(2026, 3, 30))
        cluster.wait_for_dag_runs("my_dag", count=30, run_type="backfill")

What runs: ``airflow db migrate`` (once per process, into a template copied
for each cluster), then ``api-server`` (it serves the REST API *and* the
Execution API the workers report to, so Airflow 3 needs it even without a
UI), ``scheduler`` (with its executor), ``dag-processor`` and ``triggerer``,
each in its own process group, with their own ``AIRFLOW_HOME`` (a temp dir,
or ``home=``) and the metadata DB in SQLite there (or PostgreSQL, below). The
component logs land in ``<home>/<component>.log``; every failed wait raises
:class:`ClusterError` with their tails, so a broken deployment says why.

To set things up before anything else writes to the metadata DB (pools,
backfills, unpausing through the CLI), pass ``components=()`` and call
:meth:`AirflowCluster.start_components` afterwards.

Executor: ``LocalExecutor`` by default. Airflow 3 removed the ``SequentialExecutor``
(a configured ``SequentialExecutor`` is rewritten to ``LocalExecutor``) and no
longer refuses SQLite with the ``LocalExecutor``; SQLite's single writer is
fine at this scale (CLI calls retry its "database is locked"). ``parallelism``
is kept small (2 CPUs on CI).

``executor="CeleryExecutor"`` runs what a distributed deployment runs, on one
machine: the deployment's own ``redis-server`` (:mod:`.redis_server`, a free
loopback port, in memory) as the Celery broker and result backend, and
``celery_workers`` ``airflow celery worker`` processes (default 2) of
``worker_concurrency`` slots each (default 4), each named as a host of its own
(``celery-worker-1``...: its Celery node name, and the ``hostname`` its task
instances report, see :mod:`.hostname`), sharing the DAGs folder and the logs
folder as hosts share volumes. The metadata DB is then a fresh PostgreSQL
database (:mod:`.postgres`, copied from a template migrated once per process,
dropped afterwards): the hosts of a real deployment cannot share a SQLite file.
Airflow 3.3 itself would not refuse SQLite there (workers reach the metadata
only through the api-server), but the harness does. ``metadata_db="postgresql"``
also serves a LocalExecutor deployment. Each worker is waited for until its
log says ``ready``.

Every process started is stopped when the block exits, even when the caller
fails or is interrupted (Ctrl-C during the clean-up is held back until it is
done): each component's process group gets SIGTERM, then SIGKILL, and any
descendant that left its group (found with psutil beforehand) is killed by
pid. Redis goes last, after the Airflow components, then the PostgreSQL
database is dropped (``WITH (FORCE)``) and the temp home removed. A component
that dies fails the next wait, with its log tail. Should the calling process
itself die, Linux sends each component SIGTERM (``PR_SET_PDEATHSIG``).

Start-up is most of the cost (about 20 s on 2 CPUs): components compile
their bytecode once into a cache outside the virtualenv (CI sets
``PYTHONDONTWRITEBYTECODE``), and the scheduler and triggerer skip their log
servers. :attr:`AirflowCluster.timings` says where the time went.

Known Airflow 3.3 race, worth knowing for deferrable tasks: a trigger that
fires before the executor has reported the deferring try (up to
``[workers] min_heartbeat_interval``, set to 1 s here) can get the resumed
task failed as "killed externally" (apache/airflow#67287, #72716). Wait for
``cluster.wait_for_log("scheduler", "Received executor event ...")`` before
letting a trigger fire.

Two more facts of Airflow 3.3 worth knowing for backfills: runs of a paused
DAG stay queued (unpause it), and unpausing also starts the DAG's current
scheduled run unless ``[scheduler] use_job_schedule`` is ``False``.

States are read straight from the metadata DB (read-only SQLite or
PostgreSQL transactions, no CLI start-up cost); DAG runs are triggered and
DAGs unpaused through the REST API (``simple_auth_manager_all_admins``: a
token needs no password; with users of their own, :meth:`AirflowCluster.login` first). Anything else goes through
:meth:`AirflowCluster.run_cli`.

This module is for tests and demos only: nothing in the provider imports it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

from .hostname import HOSTNAME_CALLABLE, HOSTNAME_VARIABLE
from .postgres import DEFAULT_ADMIN_URI, create_database, database_uri, drop_database, read_rows, sqlalchemy_uri
from .redis_server import redis_answers, redis_command, redis_url

#: The components of an Airflow 3 deployment, in start order.
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Extra arguments per component. Task logs are read from local files, so the scheduler and
#: triggerer skip their log-serving sub-servers (two fewer processes to boot on a small machine).
COMPONENT_ARGS: Mapping[str, tuple[str, ...]] = {
    "scheduler": ("--skip-serve-logs",),
    "triggerer": ("--skip-serve-logs",),
}
#: The executors a deployment can run: one machine's pool of processes, or Celery workers fed through Redis.
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
#: The metadata databases: a SQLite file in ``AIRFLOW_HOME``, or a fresh database on a PostgreSQL server.
METADATA_DBS = ("sqlite", "postgresql")
#: Processes of a deployment that are not Airflow: started before the components, stopped after them.
SERVICES = ("redis",)
#: Task instance states after which nothing more happens to a try.
TASK_DONE_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
#: DAG run states that end a run.
RUN_DONE_STATES = frozenset({"success", "failed"})

#: What every component passes to ``sqlite3.connect``: a writer waits up to 30 s for the lock
#: (default 5 s) before failing with "database is locked", which a loaded 2-CPU machine reaches.
SQLITE_CONNECT_ARGS: dict[str, Any] = {"timeout": 30}

#: Settings that keep a test deployment small and quick to react; ``config=`` overrides any.
DEFAULT_CONFIG: Mapping[str, str] = {
    "core.executor": "LocalExecutor",
    "core.load_examples": "False",
    "core.parallelism": "4",
    "core.simple_auth_manager_all_admins": "True",
    "database.check_migrations": "False",  # the harness migrates once; each process need not re-check
    "api.workers": "1",
    "dag_processor.refresh_interval": "5",
    "dag_processor.parsing_processes": "1",
    "scheduler.scheduler_idle_sleep_time": "0.5",
    # A worker notices its task process exit at the next of these ticks (default 5 s). Until it
    # does, the executor has not reported a deferring try; a trigger that fires meanwhile can get
    # the resumed task failed on that late report (Airflow 3.3: apache/airflow#67287, #72716).
    "workers.min_heartbeat_interval": "1",
    "logging.logging_level": "INFO",
    # Each component reports the name the harness gives it as its host (``celery-worker-1``...).
    "core.hostname_callable": HOSTNAME_CALLABLE,
}

T = TypeVar("T")

#: ``prctl(2)``, resolved here so a forked child only makes one foreign call (Linux only).
_PRCTL = getattr(ctypes.CDLL(None), "prctl", None) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_the_test() -> None:
    """In a component, before exec: get SIGTERM if the test process dies without cleaning up
    (killed, or a hard timeout): a safety net under :meth:`AirflowCluster.stop`."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ClusterError(RuntimeError):
    """The deployment did not do what a test waited for; the message holds the component logs."""


def connection_env(conn_id: str, connection: Mapping[str, Any]) -> dict[str, str]:
    """``{"AIRFLOW_CONN_<ID>": json}``: a connection as Airflow reads it from the environment."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(dict(connection))}


def variables_env(variables: Mapping[str, str]) -> dict[str, str]:
    """``{"AIRFLOW_VAR_<NAME>": value}``: Airflow Variables as Airflow reads them from the environment."""
    return {f"AIRFLOW_VAR_{name.upper()}": str(value) for name, value in variables.items()}


def config_env(config: Mapping[str, str]) -> dict[str, str]:
    """``{"section.key": value}`` → ``{"AIRFLOW__SECTION__KEY": value}``."""
    env = {}
    for name, value in config.items():
        section, key = name.split(".", 1)
        env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = str(value)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class DagRunInfo:
    run_id: str
    state: str | None
    run_type: str
    logical_date: str | None


@dataclass
class Component:
    """One started process (and its process group)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class ComponentSpec:
    """How one component starts: its ``airflow`` arguments, its own environment, and when it is ready.

    ``ready``: a regex its log matches once it serves (a Celery worker consuming from the
    broker); :meth:`AirflowCluster.start_components` waits for it, so a worker that cannot
    start fails the start-up rather than leaving tasks queued until a test's timeout.
    """

    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    ready: str | None = None


def default_specs() -> dict[str, ComponentSpec]:
    """The four components every deployment runs, in start order."""
    return {name: ComponentSpec((name, *COMPONENT_ARGS.get(name, ()))) for name in COMPONENTS}


def celery_worker_name(index: int) -> str:
    """The ``index``-th worker's (from 1) process name, log file name and host name."""
    return f"celery-worker-{index}"


def celery_worker_spec(name: str, concurrency: int) -> ComponentSpec:
    """``airflow celery worker`` as one host of its own runs it.

    ``--celery-hostname`` makes its Celery node ``celery@<name>`` (Celery refuses two
    workers of one node name); its task instances report ``<name>`` as their host
    (:mod:`.hostname`). It skips the log server (task logs are read from the shared
    ``<home>/logs``) and, being alone with one peer on a small machine, Celery's
    start-up handshake (mingle) and heartbeat broadcasts (gossip).
    """
    args = (
        "celery",
        "worker",
        "--concurrency",
        str(concurrency),
        "--celery-hostname",
        name,
        "--skip-serve-logs",
        "--without-mingle",
        "--without-gossip",
    )
    return ComponentSpec(args, ready=rf"celery@{re.escape(name)} ready")


class AirflowCluster:
    """A running deployment: what it is, and helpers to drive and observe it."""

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        env: Mapping[str, str],
        api_port: int,
        *,
        specs: Mapping[str, ComponentSpec] | None = None,
        executor: str = "LocalExecutor",
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.env = dict(env)
        self.db_path = home / "airflow.db"
        #: The metadata DB's URI when it is PostgreSQL (then :meth:`query` reads it, not ``db_path``).
        self.postgres_uri: str | None = None
        #: The broker's URL (``redis://127.0.0.1:<port>``, no database number) of a CeleryExecutor deployment.
        self.redis_url: str | None = None
        self.executor = executor
        self.api_url = f"http://127.0.0.1:{api_port}"
        #: What each component runs, in start order (the Celery workers after the core four).
        self.specs: dict[str, ComponentSpec] = dict(specs) if specs is not None else default_specs()
        self.components: dict[str, Component] = {}
        #: Seconds since the harness started, per milestone ("migrated", "started", "api", "stopped").
        self.timings: dict[str, float] = {}
        self._started_at = time.monotonic()
        self._token: str | None = None

    def mark(self, milestone: str) -> None:
        self.timings[milestone] = round(time.monotonic() - self._started_at, 1)

    # processes

    def airflow_command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    @property
    def celery_workers(self) -> list[str]:
        """The names (and host names) of the deployment's Celery workers, in start order."""
        return [name for name, spec in self.specs.items() if spec.args[:2] == ("celery", "worker")]

    def start(self, name: str, *args: str) -> Component:
        """Start component ``name`` (``airflow <its spec's args> <args>``; with no spec, ``airflow <name> <args>``).

        Its environment names it as its host (:mod:`.hostname`) and adds the spec's own.
        """
        spec = self.specs.get(name, ComponentSpec((name,)))
        env = self.env | {HOSTNAME_VARIABLE: name} | dict(spec.env)
        return self.spawn(name, self.airflow_command(*spec.args, *args), env)

    def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Component:
        """Run ``argv`` as component ``name`` in its own process group, logging to ``<home>/<name>.log``."""
        log_path = self.home / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter running airflow, or redis-server)
                list(argv),
                env=dict(self.env if env is None else env),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_the_test,
            )
        component = Component(name, process, log_path)
        self.components[name] = component
        return component

    def stop(self, names: Iterable[str] | None = None, grace: float = 2.0) -> None:
        """Stop components (default: all, the services such as Redis last) and everything they started.

        The stopped components are forgotten when named; stopping all keeps them, for :meth:`diagnostics`.
        """
        if names is None:
            self._terminate([c for c in self.components.values() if c.name not in SERVICES], grace)
            self._terminate([c for c in self.components.values() if c.name in SERVICES], grace)
            return
        chosen = [c for c in self.components.values() if c.name in set(names)]
        self._terminate(chosen, grace)
        for component in chosen:
            del self.components[component.name]

    def _terminate(self, chosen: Sequence[Component], grace: float) -> None:
        """TERM each process group, wait up to ``grace``, KILL, then any straggler that left its group, by pid."""
        family: dict[int, psutil.Process] = {}
        for component in chosen:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(component.process.pid)
                family[root.pid] = root
                for child in root.children(recursive=True):
                    family[child.pid] = child
        for component in chosen:
            _signal_group(component.process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for component in chosen:
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for component in chosen:
            _signal_group(component.process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=5)
        for process in family.values():
            with contextlib.suppress(psutil.Error):
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    process.kill()
        psutil.wait_procs(list(family.values()), timeout=5)

    @contextmanager
    def scheduler_stopped(self) -> Iterator[None]:
        """Stop the scheduler (and its workers) for the block, then start it again.

        For CLI writes over existing runs while the scheduler works on them (``backfill create
        --reprocess-behavior``, ``tasks clear``): SQLite has no row locks, and the scheduler can
        crash on such a concurrent change (``StaleDataError``). Let the runs finish first.
        """
        self.stop(["scheduler"])
        try:
            yield
        finally:
            self.start_components(["scheduler"])

    def start_components(self, names: Iterable[str] | None = None, startup_timeout: float = 120) -> None:
        """Start components not started yet (default: all of :attr:`specs`).

        The api-server goes first, waited for until it answers; then the others, each
        waited for until its log says it is ready when its spec says how to tell.
        """
        wanted = list(self.specs) if names is None else list(names)
        for name in wanted:
            if name not in self.specs:
                raise ValueError(f"unknown component {name!r}; choose from {list(self.specs)}")
        if "api-server" in wanted and "api-server" not in self.components:
            self.start("api-server")
            self.mark("api-server started")
            self.wait_for_api(startup_timeout)
            self.mark("api")
        started = [name for name in wanted if name not in self.components]
        for name in started:
            self.start(name)
        for name in started:
            ready = self.specs[name].ready
            if ready is not None:
                self.wait_for_log(name, ready, timeout=startup_timeout)
        if wanted:
            self.mark("started")

    def start_redis(self, port: int, timeout: float = 30) -> None:
        """Start the deployment's own Redis on ``port`` (the broker) and wait until it answers PING."""
        self.spawn("redis", redis_command(port, self.home))
        self.wait_until(f"redis-server on port {port}", lambda: redis_answers(port), timeout, interval=0.1)
        self.redis_url = f"redis://127.0.0.1:{port}"
        self.mark("redis")

    def check_alive(self) -> None:
        """Raise if a component exited (its log says why)."""
        dead = [c for c in self.components.values() if not c.alive()]
        if dead:
            names = ", ".join(f"{c.name} (exit {c.process.returncode})" for c in dead)
            raise ClusterError(f"Airflow component(s) exited: {names}\n{self.diagnostics()}")

    def log_text(self, name: str) -> str:
        """Everything component ``name`` has logged so far (LocalExecutor workers log into the scheduler's)."""
        try:
            return self.components[name].log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def diagnostics(self, lines: int = 40) -> str:
        """The tail of every component's log, for an assertion message."""
        parts = [f"--- {c.name} (pid {c.process.pid}) ---\n{c.tail(lines)}" for c in self.components.values()]
        return "\n".join(parts)

    # the CLI

    def run_cli(
        self, *args: str, timeout: float = 180, check: bool = True, attempts: int = 6
    ) -> subprocess.CompletedProcess[str]:
        """``airflow <args>`` against this deployment (e.g. ``run_cli("pools", "set", ...)``).

        SQLite's "database is locked" (a component was writing) is retried, up to ``attempts`` calls.
        """
        for attempt in range(1, attempts + 1):
            result = subprocess.run(  # noqa: S603 (our own interpreter running airflow)
                self.airflow_command(*args),
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            locked = result.returncode != 0 and "database is locked" in result.stdout + result.stderr
            if not locked or attempt == attempts:
                break
            time.sleep(1)
        if check and result.returncode != 0:
            output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            raise ClusterError(f"airflow {' '.join(args)} exited {result.returncode}:\n{output}")
        return result

    def create_backfill(
        self,
        dag_id: str,
        from_date: date | str,
        to_date: date | str,
        *,
        max_active_runs: int | None = None,
        conf: Mapping[str, Any] | None = None,
        reprocess_behavior: str | None = None,
        attempts: int = 6,
    ) -> int:
        """A backfill of ``dag_id`` for the logical dates ``from_date``..``to_date`` (both included); its id.

        Its runs start only while the DAG is unpaused. It is created through the REST API
        (``POST /api/v2/backfills``), as ``airflow backfill create`` would create it: the
        api-server writes it with its own connection, where the CLI opened one more writer
        on the metadata DB, which on a loaded machine failed with SQLite's "database is
        locked" half-way. Should an attempt still fail so, its backfill is cancelled (the
        runs it queued fail) and the next attempt also reprocesses failed runs. The api-server is
        started first if it is not running yet (the scheduler need not be).
        """
        if "api-server" not in self.components:
            self.start_components(["api-server"])
        body: dict[str, Any] = {
            "dag_id": dag_id,
            "from_date": f"{from_date}T00:00:00Z",
            "to_date": f"{to_date}T00:00:00Z",
        }
        if max_active_runs is not None:
            body["max_active_runs"] = max_active_runs
        if conf is not None:
            body["dag_run_conf"] = dict(conf)
        failures: list[str] = []
        for attempt in range(1, attempts + 1):
            before = self._last_backfill_id()
            reprocess = reprocess_behavior if attempt == 1 or reprocess_behavior == "completed" else "failed"
            if reprocess is not None:
                body["reprocess_behavior"] = reprocess
            try:
                created = self.api("POST", "backfills", json_body=body, timeout=300)
            except ClusterError as failed:
                failures.append(f"attempt {attempt}: {failed}")
                if "database is locked" not in str(failed).lower() or attempt == attempts:
                    break
            else:
                return int(created["id"])
            leftovers = self.query(
                "SELECT id FROM backfill WHERE dag_id = ? AND id > ? AND completed_at IS NULL", [dag_id, before]
            )
            for (backfill_id,) in leftovers:
                self.api("PUT", f"backfills/{backfill_id}/cancel")
            time.sleep(1)
        backfills = self.query("SELECT id, dag_id, created_at, completed_at FROM backfill ORDER BY id")
        raise ClusterError(f"backfill of {dag_id} not created\n" + "\n".join(failures) + f"\nbackfills: {backfills}")

    def _last_backfill_id(self) -> int:
        return int(self.query("SELECT COALESCE(MAX(id), 0) FROM backfill")[0][0])

    # the REST API

    def api(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float = 30,
    ) -> Any:
        """One REST API call (``path`` under ``/api/v2``); returns the decoded JSON body."""
        response = httpx.request(
            method,
            f"{self.api_url}/api/v2/{path.lstrip('/')}",
            json=json_body,
            params=params,
            headers={"Authorization": f"Bearer {self._auth_token()}"},
            timeout=timeout,
        )
        if response.is_error:
            raise ClusterError(f"{method} {path}: {response.status_code} {response.text[:2000]}")
        return response.json() if response.content else None

    def login(self, username: str, password: str) -> str:
        """A token the auth manager issues to ``username`` (``POST /auth/token``, as a script logs in).

        Later :meth:`api` calls use it: needed once ``simple_auth_manager_all_admins`` is off.
        """
        response = httpx.post(
            f"{self.api_url}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        if response.is_error:
            raise ClusterError(f"login of {username!r}: {response.status_code} {response.text[:500]}")
        self._token = str(response.json()["access_token"])
        return self._token

    def _auth_token(self) -> str:
        if self._token is None:
            response = httpx.get(f"{self.api_url}/auth/token", timeout=30)
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"dags/{dag_id}", json_body={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.api("PATCH", f"dags/{dag_id}", json_body={"is_paused": True})

    def trigger_dag(
        self,
        dag_id: str,
        *,
        logical_date: datetime | None = None,
        conf: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Create a manual DAG run; returns its run id."""
        body: dict[str, Any] = {"logical_date": logical_date.isoformat() if logical_date else None}
        if conf is not None:
            body["conf"] = dict(conf)
        if run_id is not None:
            body["dag_run_id"] = run_id
        return str(self.api("POST", f"dags/{dag_id}/dagRuns", json_body=body)["dag_run_id"])

    # the metadata DB (read-only)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the metadata DB (written for SQLite: ``?`` placeholders)."""
        if self.postgres_uri is not None:
            return read_rows(self.postgres_uri, sql, params)
        if not self.db_path.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)) as db:
            return db.execute(sql, tuple(params)).fetchall()

    def dag_is_parsed(self, dag_id: str) -> bool:
        rows = self.query(
            "SELECT 1 FROM dag JOIN serialized_dag USING (dag_id) WHERE dag_id = ? AND NOT is_stale", [dag_id]
        )
        return bool(rows)

    def import_errors(self) -> list[tuple[str, str]]:
        return [(str(f), str(s)) for f, s in self.query("SELECT filename, stacktrace FROM import_error")]

    def dag_runs(self, dag_id: str, run_type: str | None = None) -> list[DagRunInfo]:
        """The runs of ``dag_id`` by logical date (only ``run_type`` ones: ``backfill``, ``manual``...)."""
        rows = self.query(
            "SELECT run_id, state, run_type, logical_date FROM dag_run WHERE dag_id = ? ORDER BY logical_date, id",
            [dag_id],
        )
        runs = (DagRunInfo(run_id, state, kind, None if day is None else str(day)) for run_id, state, kind, day in rows)
        return [r for r in runs if run_type is None or r.run_type == run_type]

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", [dag_id, run_id])
        return rows[0][0] if rows else None

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{task_id: state}`` of a run (mapped tasks: ``task_id[index]``)."""
        rows = self.query(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?", [dag_id, run_id]
        )
        return {(t if m < 0 else f"{t}[{m}]"): s for t, m, s in rows}

    def task_state(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str | None:
        rows = self.query(
            "SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?",
            [dag_id, run_id, task_id, map_index],
        )
        return rows[0][0] if rows else None

    def task_logs(self, dag_id: str, run_id: str | None = None, task_id: str | None = None) -> str:
        """The task log files written so far under ``<home>/logs`` (filtered by the given ids)."""
        root = self.home / "logs" / f"dag_id={dag_id}"
        if run_id is not None:
            root /= f"run_id={run_id}"
        parts = []
        for path in sorted(root.rglob("*.log")) if root.exists() else []:
            if task_id is None or f"task_id={task_id}" in path.parts:
                parts.append(f"--- {path.relative_to(self.home)} ---\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    # waiting

    def wait_until(
        self,
        what: str,
        probe: Callable[[], T | None],
        timeout: float,
        interval: float = 0.25,
        describe: Callable[[], object] | None = None,
    ) -> T:
        """Poll ``probe`` until it returns something other than None/False.

        On timeout (or a dead component), raise :class:`ClusterError` with the
        component logs and ``describe()`` (what was seen last).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value is not None and value is not False:
                return value
            self.check_alive()
            if time.monotonic() > deadline:
                seen = f"\nlast seen: {describe()}" if describe else ""
                raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}{seen}\n{self.diagnostics()}")
            time.sleep(interval)

    def wait_for_log(self, name: str, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Wait until component ``name``'s log has a line matching the regex ``pattern``."""
        regex = re.compile(pattern, re.MULTILINE)
        return self.wait_until(f"{pattern!r} in the {name} log", lambda: regex.search(self.log_text(name)), timeout)

    def wait_for_api(self, timeout: float = 120) -> None:
        def ready() -> bool:
            try:
                return httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait_until("the api-server", ready, timeout, interval=0.5)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Wait until the dag-processor has parsed ``dag_id``.

        Any import error in the DAGs folder fails at once, with its traceback,
        rather than after the timeout.
        """

        def parsed() -> bool:
            if self.dag_is_parsed(dag_id):
                return True
            errors = self.import_errors()
            if errors:
                raise ClusterError("DAG import errors:\n" + "\n".join(f"{f}:\n{s}" for f, s in errors))
            return False

        self.wait_until(f"DAG {dag_id!r} to be parsed", parsed, timeout, interval=0.5)

    def wait_for_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Collection[str],
        *,
        timeout: float = 120,
        map_index: int = -1,
    ) -> str:
        """Wait until the task is in one of ``states``; a different *final* state fails at once."""

        def reached() -> str | None:
            state = self.task_state(dag_id, run_id, task_id, map_index)
            if state in states:
                return state
            if state in TASK_DONE_STATES:
                raise ClusterError(
                    f"{dag_id}.{task_id} ended {state!r}, not in {sorted(states)}\n"
                    f"{self.task_logs(dag_id, run_id, task_id)[-6000:]}\n{self.diagnostics()}"
                )
            return None

        return self.wait_until(
            f"{dag_id}.{task_id} in {sorted(states)}",
            reached,
            timeout,
            describe=lambda: self.task_state(dag_id, run_id, task_id, map_index),
        )

    def wait_for_dag_run(
        self, dag_id: str, run_id: str, states: Collection[str] = RUN_DONE_STATES, *, timeout: float = 120
    ) -> str:
        def reached() -> str | None:
            state = self.dag_run_state(dag_id, run_id)
            return state if state in states else None

        return self.wait_until(
            f"run {run_id} of {dag_id} in {sorted(states)}",
            reached,
            timeout,
            describe=lambda: self.dag_run_state(dag_id, run_id),
        )

    def wait_for_dag_runs(
        self,
        dag_id: str,
        *,
        count: int,
        states: Collection[str] = RUN_DONE_STATES,
        run_type: str | None = None,
        timeout: float = 300,
    ) -> list[DagRunInfo]:
        """Wait until at least ``count`` runs (of ``run_type``, if given) exist and all are in ``states``.

        Backfill runs of a paused DAG stay queued: unpause it first.
        """

        def reached() -> list[DagRunInfo] | None:
            runs = self.dag_runs(dag_id, run_type)
            return runs if len(runs) >= count and all(r.state in states for r in runs) else None

        return self.wait_until(
            f"{count} runs of {dag_id} in {sorted(states)}",
            reached,
            timeout,
            interval=1.0,
            describe=lambda: [(r.run_id, r.state) for r in self.dag_runs(dag_id, run_type)],
        )


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done (main thread only: elsewhere, a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            signal.raise_signal(received[0])


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


#: Where the components keep compiled bytecode (outside the virtualenv, which stays untouched).
PYCACHE = Path(tempfile.gettempdir()) / "airflow-cluster-pycache"


def _base_env() -> dict[str, str]:
    """The test process's environment without any Airflow setting it carries (conftest sets some).

    Bytecode caching is switched back on, into :data:`PYCACHE`: with
    ``PYTHONDONTWRITEBYTECODE`` (set on CI machines) every component would
    compile Airflow from source at start, about 3x slower on 2 CPUs.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))
    return env


def _airflow_db_migrate(home: Path, sql_alchemy_conn: str) -> None:
    """``airflow db migrate`` of the database at ``sql_alchemy_conn``, from an ``AIRFLOW_HOME`` of its own."""
    env = (
        _base_env()
        | {"AIRFLOW_HOME": str(home)}
        | config_env({"core.load_examples": "False", "database.sql_alchemy_conn": sql_alchemy_conn})
    )
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise ClusterError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


@cache
def _migrated_db_template() -> Path:
    """A freshly migrated SQLite metadata DB, made once per test process and copied into each cluster."""
    home = Path(tempfile.mkdtemp(prefix="airflow-db-template-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    _airflow_db_migrate(home, f"sqlite:///{home / 'airflow.db'}")
    return home / "airflow.db"


@cache
def _migrated_postgres_template(admin_uri: str) -> str:
    """The name of a freshly migrated PostgreSQL database, made once per test process and server.

    Each cluster's database is a copy of it; it is dropped when the process exits.
    """
    name = f"airflow_cluster_template_{os.getpid()}_{secrets.token_hex(3)}"
    uri = create_database(admin_uri, name)
    atexit.register(drop_database, admin_uri, name)
    home = Path(tempfile.mkdtemp(prefix="airflow-db-template-"))
    try:
        _airflow_db_migrate(home, sqlalchemy_uri(uri))
    except BaseException:
        drop_database(admin_uri, name)
        raise
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return name


def _celery_settings(redis_port: int, workers: int, concurrency: int) -> dict[str, str]:
    """The settings of a CeleryExecutor deployment over its own Redis.

    Redis is the broker (database 0) and the result backend (database 1): the
    executor learns each task's Celery state from it without a second client of
    the metadata DB in every worker process (the database backend Airflow uses
    when ``result_backend`` is unset suits durable production deployments; a test
    deployment lives minutes). ``parallelism`` is every worker slot, so the
    scheduler can keep both workers busy. Sending a task to the broker may take
    longer than the default 1 s on a loaded 2-CPU machine: 10 s before it counts as failed.
    """
    return {
        "core.executor": "CeleryExecutor",
        "core.parallelism": str(workers * concurrency),
        "celery.broker_url": redis_url(redis_port, 0),
        "celery.result_backend": redis_url(redis_port, 1),
        "celery.worker_concurrency": str(concurrency),
        "celery.operation_timeout": "10",
        # The provider's default, set so that it does not warn at every start of every component.
        "celery_broker_transport_options.visibility_timeout": "86400",
    }


def _check_choices(executor: str, metadata_db: str, celery_workers: int, worker_concurrency: int) -> None:
    if executor not in EXECUTORS:
        raise ValueError(f"executor {executor!r}: choose from {EXECUTORS}")
    if metadata_db not in METADATA_DBS:
        raise ValueError(f"metadata_db {metadata_db!r}: choose from {METADATA_DBS}")
    if executor == "CeleryExecutor" and metadata_db == "sqlite":
        raise ValueError("the CeleryExecutor needs a metadata DB every host reaches: metadata_db='postgresql'")
    if executor == "CeleryExecutor" and (celery_workers < 1 or worker_concurrency < 1):
        raise ValueError("celery_workers and worker_concurrency must be at least 1")


def _component_specs(executor: str, celery_workers: int, worker_concurrency: int) -> dict[str, ComponentSpec]:
    """The core four, then (CeleryExecutor) ``celery_workers`` workers of ``worker_concurrency`` slots each."""
    specs = default_specs()
    if executor == "CeleryExecutor":
        for index in range(1, celery_workers + 1):
            name = celery_worker_name(index)
            specs[name] = celery_worker_spec(name, worker_concurrency)
    return specs


def _database_settings(home: Path, postgres: str | None) -> dict[str, str]:
    """Where the components find the metadata DB: ``<home>/airflow.db``, or the PostgreSQL database ``postgres``."""
    if postgres is None:
        return {
            "database.sql_alchemy_conn": f"sqlite:///{home / 'airflow.db'}",
            "database.sql_alchemy_connect_args": f"{__name__}.SQLITE_CONNECT_ARGS",
        }
    return {"database.sql_alchemy_conn": sqlalchemy_uri(postgres)}


@contextmanager
def _metadata_database(cluster: AirflowCluster, admin_uri: str) -> Iterator[None]:
    """The cluster's metadata DB, a copy of the migrated template; a PostgreSQL one is dropped afterwards."""
    if cluster.postgres_uri is None:
        shutil.copyfile(_migrated_db_template(), cluster.db_path)
        yield
        return
    name = cluster.postgres_uri.rsplit("/", 1)[-1]
    create_database(admin_uri, name, template=_migrated_postgres_template(admin_uri))
    try:
        yield
    finally:
        drop_database(admin_uri, name)


def _stop_all(cluster: AirflowCluster) -> None:
    cluster.mark("stopping")
    cluster.stop()
    cluster.mark("stopped")


@contextmanager
def airflow_cluster(
    dags_folder: Path,
    *,
    env: Mapping[str, str] | None = None,
    config: Mapping[str, str] | None = None,
    home: Path | None = None,
    components: Iterable[str] | None = None,
    startup_timeout: float = 120,
    executor: str = "LocalExecutor",
    celery_workers: int = 2,
    worker_concurrency: int = 4,
    metadata_db: str | None = None,
    postgres_uri: str = DEFAULT_ADMIN_URI,
) -> Iterator[AirflowCluster]:
    """Start a deployment serving ``dags_folder``; stop all of it on exit.

    :param env: extra environment for every component (``AIRFLOW_CONN_*`` connections, ...).
    :param config: Airflow settings as ``{"section.key": value}``, over :data:`DEFAULT_CONFIG`
        and the executor's own.
    :param home: ``AIRFLOW_HOME`` (default: a new temp dir, removed afterwards).
    :param components: which components to start now (default: all; ``()``: none yet; see
        :meth:`AirflowCluster.start_components`). Redis, when there is one, starts anyway.
    :param startup_timeout: seconds to wait for the api-server to answer and each worker to be ready.
    :param executor: ``LocalExecutor`` or ``CeleryExecutor`` (its own Redis as broker, and
        ``celery_workers`` workers of ``worker_concurrency`` slots each).
    :param metadata_db: ``sqlite`` or ``postgresql`` (a fresh database on ``postgres_uri``'s
        server, dropped afterwards); default: SQLite for the LocalExecutor, PostgreSQL for Celery.
    :param postgres_uri: a PostgreSQL server's maintenance database, where databases are created.
    """
    metadata_db = metadata_db or ("postgresql" if executor == "CeleryExecutor" else "sqlite")
    _check_choices(executor, metadata_db, celery_workers, worker_concurrency)
    own_home = home is None
    home = Path(tempfile.mkdtemp(prefix="airflow-cluster-")) if home is None else home
    home.mkdir(parents=True, exist_ok=True)
    api_port, redis_port = free_port(), free_port()
    postgres = None
    if metadata_db == "postgresql":
        postgres = database_uri(postgres_uri, f"airflow_cluster_{secrets.token_hex(5)}")
    settings = _settings(home, dags_folder, api_port) | _database_settings(home, postgres)
    if executor == "CeleryExecutor":
        settings |= _celery_settings(redis_port, celery_workers, worker_concurrency)
    settings |= dict(config or {})
    cluster = AirflowCluster(
        home,
        dags_folder,
        _base_env() | {"AIRFLOW_HOME": str(home)} | config_env(settings) | dict(env or {}),
        api_port,
        specs=_component_specs(executor, celery_workers, worker_concurrency),
        executor=executor,
    )
    cluster.postgres_uri = postgres
    cleanup = contextlib.ExitStack()
    try:
        if own_home:
            cleanup.callback(shutil.rmtree, home, ignore_errors=True)
        cleanup.enter_context(_metadata_database(cluster, postgres_uri))
        cluster.mark("migrated")
        cleanup.callback(_stop_all, cluster)
        if executor == "CeleryExecutor":
            cluster.start_redis(redis_port)
        cluster.start_components(components, startup_timeout)
        yield cluster
    finally:
        with _interrupts_held():  # last in, first out: the processes, the database, the home
            cleanup.close()


def _settings(home: Path, dags_folder: Path, api_port: int) -> dict[str, str]:
    """:data:`DEFAULT_CONFIG` and what is this deployment's own: folders, ports, secrets."""
    return dict(DEFAULT_CONFIG) | {
        "core.dags_folder": str(dags_folder),
        "core.execution_api_server_url": f"http://127.0.0.1:{api_port}/execution/",
        "api.host": "127.0.0.1",
        "api.port": str(api_port),
        "api.base_url": f"http://127.0.0.1:{api_port}",
        "api.secret_key": secrets.token_urlsafe(24),
        "api_auth.jwt_secret": secrets.token_urlsafe(32),
        "logging.base_log_folder": str(home / "logs"),
        "logging.worker_log_server_port": str(free_port()),
        "logging.trigger_log_server_port": str(free_port()),
    }
