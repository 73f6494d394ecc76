"""The example DAGs' OpenLineage events, as a real Airflow emits them; and none without the provider.

A real deployment (:mod:`codex_testing`: api-server, scheduler with the
LocalExecutor, dag-processor, triggerer) runs the example DAGs of
``example_dags/`` unchanged, for one complete day, against the sandbox: the
daily analytics DAG (SQL), the daily compliance DAG (SQL, and the log files
verbatim into a local archive), then the governance views DAG over the days
the analytics run loaded (SQL view tables, and the exports as files; triggered
by the test, since the deployment runs with ``use_job_schedule`` off so that
unpausing the daily DAGs starts no run of today, and that also holds the
Asset-triggered runs back). The destination is
a fresh PostgreSQL schema. OpenLineage's file transport writes every event the
task processes emit into a folder; the test reads them back and checks, task
by task:

- inputs: the Codex route each load read (namespace ``http://127.0.0.1:{port}``,
  name the route's path), or the tables the views read; the sensors report none;
- outputs: each table as ``postgres://127.0.0.1:5432`` + ``{database}.{schema}.{table}``,
  each folder as ``file`` + its path, with the registry's schema;
- row counts: each table's ``outputStatistics.rowCount`` equals the rows
  PostgreSQL holds, each export's the lines of its file; file counts, the files
  on disk;
- no key, salt or compliance content anywhere in any event.

Then the same DAGs run again in a deployment where the OpenLineage packages
cannot be imported (a ``sitecustomize`` import blocker on the components'
``PYTHONPATH``, as if the extra were not installed): every run succeeds, the
data lands, and no event is written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from codex_e2e import GRACE, HASH_SALT, PG_URI, SqlDestination, temporary_sql_destination
from codex_testing import AirflowCluster, airflow_cluster, connection_env, variables_env
from codex_testing.days import complete_days, midnight
from codex_testing.sandbox import RunningSandbox, running_sandbox

from airflow_provider_codex.api.endpoints import CODEX_EVENT_TYPES
from airflow_provider_codex.datasets import get_dataset
from airflow_provider_codex.sinks.archive import LOG_FILES_FOLDER, MANIFEST_NAME
from airflow_provider_codex.tables import CONTENT_FIELDS, TABLES
from airflow_provider_codex.views import VIEWS

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
ANALYTICS_DAG, COMPLIANCE_DAG, VIEWS_DAG = "codex_analytics_daily", "codex_compliance_daily", "codex_governance_views"
DAGS = (ANALYTICS_DAG, COMPLIANCE_DAG, VIEWS_DAG)
SANDBOX = {"seed": 29, "users": 6, "events_per_day": 300}
CONFIG = {
    "core.parallelism": "6",
    "scheduler.use_job_schedule": "False",  # only the runs the test triggers
    "dag_processor.min_file_process_interval": "3600",
    # A task's calls to the Execution API wait longer than the default 5 s on a busy 2-CPU machine.
    "workers.execution_api_timeout": "60",
}
#: The analytics DAG's default ``lookback_days`` param: its run loads the 3 days before its day too.
LOOKBACK = 3
#: Each load task of the example DAGs: the route it reads (under the workspace) and the dataset it writes.
LOADS = {
    f"{ANALYTICS_DAG}.load_usage": ("/analytics/codex/workspaces/{ws}/usage", "usage"),
    f"{ANALYTICS_DAG}.load_usage_workspace": ("/analytics/codex/workspaces/{ws}/usage", "usage_workspace"),
    f"{ANALYTICS_DAG}.load_code_reviews": ("/analytics/codex/workspaces/{ws}/code_reviews", "code_reviews"),
    f"{ANALYTICS_DAG}.load_code_review_responses": (
        "/analytics/codex/workspaces/{ws}/code_review_responses",
        "code_review_responses",
    ),
    f"{COMPLIANCE_DAG}.load_events": ("/compliance/workspaces/{ws}/logs", "compliance_events"),
    f"{COMPLIANCE_DAG}.snapshot_codex_tasks": ("/compliance/workspaces/{ws}/codex_tasks", "codex_tasks"),
    f"{COMPLIANCE_DAG}.snapshot_codex_environments": (
        "/compliance/workspaces/{ws}/codex_environments",
        "codex_environments",
    ),
}
ARCHIVE_TASK = f"{COMPLIANCE_DAG}.archive_log_files"
VIEWS_TASK = f"{VIEWS_DAG}.build_views"
SENSORS = (f"{ANALYTICS_DAG}.wait_for_day", f"{COMPLIANCE_DAG}.wait_for_logs")

#: Installed into the components' ``PYTHONPATH`` for the run without the provider: as if the extra were
#: not installed, the OpenLineage packages can neither be imported nor found as distributions (Airflow
#: discovers providers through their entry points). Each process that loads it, and each import
#: attempt it refuses, is written down.
BLOCKER = """
import importlib.metadata, os, re, sys

import importlib_metadata

_MODULES = ("openlineage", "airflow.providers.openlineage")
_DISTRIBUTIONS = {"apache-airflow-providers-openlineage", "openlineage-python", "openlineage-integration-common",
                  "openlineage-sql"}


class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name in _MODULES or name.startswith(tuple(m + "." for m in _MODULES)):
            with open(os.environ["CODEX_TEST_BLOCKED_IMPORTS"], "a") as fh:
                fh.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def _hide(module):
    discover = module.Distribution.discover.__func__

    def without(cls, **kwargs):
        for dist in discover(cls, **kwargs):
            name = re.sub(r"[-_.]+", "-", (dist.metadata["Name"] or "")).lower()
            if name not in _DISTRIBUTIONS:
                yield dist

    module.Distribution.discover = classmethod(without)


with open(os.environ["CODEX_TEST_BLOCKED_IMPORTS"], "a") as fh:
    fh.write(f"loaded in {os.getpid()}\\n")
sys.meta_path.insert(0, _NotInstalled())
_hide(importlib.metadata)
_hide(importlib_metadata)
"""

log = print


# -- running the example DAGs -------------------------------------------------------------------


def run_example_dags(
    tmp_path: Path, sandbox: RunningSandbox, dest: SqlDestination, day: Any, env: Mapping[str, str]
) -> dict[str, str]:
    """One day of the analytics and compliance DAGs, then the views over the analytics days; the task states."""
    archive, exports = tmp_path / "archive", tmp_path / "exports"
    env = {
        **connection_env("codex_default", sandbox.connection(HASH_SALT)),
        f"AIRFLOW_CONN_{dest.conn_id.upper()}": dest.conn_json,
        **variables_env(
            {
                "codex_sql_conn_id": dest.conn_id,
                "codex_archive_path": f"file://{archive}",
                "codex_exports_path": f"file://{exports}",
            }
        ),
        **env,
    }
    with airflow_cluster(EXAMPLES, env=env, config=CONFIG, home=tmp_path / "home", startup_timeout=300) as cluster:
        # Set up through the REST API (no CLI process to start on a busy machine): nothing runs until the
        # runs below are triggered, as the scheduler starts no scheduled run.
        cluster.api("POST", "pools", json_body={"name": "codex_api", "slots": 6, "description": "Codex API calls"})
        for dag_id in DAGS:
            cluster.wait_for_dag(dag_id, timeout=300)
            cluster.unpause(dag_id)
        logical_date = midnight(day + timedelta(days=1))  # an @daily run loads the day before its logical date
        for dag_id in (ANALYTICS_DAG, COMPLIANCE_DAG):
            cluster.trigger_dag(dag_id, logical_date=logical_date)
        wait_for_every_run(cluster, (ANALYTICS_DAG, COMPLIANCE_DAG), timeout=420)
        first = day - timedelta(days=LOOKBACK)
        conf = {"start": first.isoformat(), "end": (day + timedelta(days=1)).isoformat()}
        cluster.trigger_dag(VIEWS_DAG, logical_date=logical_date, conf=conf)
        wait_for_every_run(cluster, DAGS, timeout=300)
        return {
            f"{dag_id}.{task_id}": state
            for dag_id, task_id, state in cluster.query("SELECT dag_id, task_id, state FROM task_instance")
        }


def wait_for_every_run(cluster: AirflowCluster, dag_ids: tuple[str, ...], timeout: float) -> None:
    """Until every run of ``dag_ids`` succeeded; a failed (or retrying) task fails at once with its log."""

    def done() -> bool:
        bad = cluster.query("SELECT dag_id, run_id, task_id, state FROM task_instance WHERE state IN "
                            "('failed', 'up_for_retry', 'upstream_failed')")  # fmt: skip
        if bad:
            dag_id, run_id, task_id, state = bad[0]
            logs = cluster.task_logs(dag_id, run_id, task_id)[-6000:]
            raise AssertionError(f"{dag_id}.{task_id} ({run_id}) is {state}:\n{logs}\n{cluster.diagnostics()}")
        runs = {dag_id: [r.state for r in cluster.dag_runs(dag_id)] for dag_id in dag_ids}
        return all(runs[d] and all(s == "success" for s in runs[d]) for d in dag_ids)

    cluster.wait_until(f"every run of {dag_ids} to succeed", done, timeout, interval=1.0)


# -- reading what happened --------------------------------------------------------------------


def read_events(folder: Path) -> list[dict[str, Any]]:
    """Every event the file transport wrote (one JSON document per file), in the order they were emitted."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob("ol-*.json"))]


def last_complete(events: list[dict[str, Any]], job: str) -> dict[str, Any]:
    found = [e for e in events if e["job"]["name"] == job and e["eventType"] == "COMPLETE"]
    assert found, f"no COMPLETE event of {job}: {sorted({e['job']['name'] for e in events})}"
    return found[-1]


def stored_rows(dest: SqlDestination, table: str) -> int:
    return int(dest.query(f'SELECT COUNT(*) FROM "{table}"')[1][0][0])


def pg_place(dest: SqlDestination, table: str) -> tuple[str, str]:
    """postgres://{host}:{port} + {database}.{schema}.{table}: the destination's own settings, written out."""
    return "postgres://127.0.0.1:5432", f"{PG_URI.rsplit('/', 1)[-1]}.{dest.name}.{table}"


def fields(dataset: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(f["name"], f["type"]) for f in dataset["facets"]["schema"]["fields"]]


def registry(table: str, columns: Any = None) -> list[tuple[str, str]]:
    spec = TABLES[table] if table in TABLES else next(v.spec for v in VIEWS if v.name == table)
    return [(c.name, c.type.value) for c in spec.columns if columns is None or c.name in columns]


def statistics(dataset: Mapping[str, Any]) -> dict[str, Any]:
    stats = dataset["outputFacets"]["outputStatistics"]
    return {k: stats.get(k) for k in ("rowCount", "fileCount")}


def secrets_and_content(sandbox: RunningSandbox, day: Any) -> list[str]:
    """The keys, the salt and the day's compliance content the sandbox served: none may be in an event."""
    content = {
        event[name]
        for event_type in CODEX_EVENT_TYPES
        for event in sandbox.data.events(event_type, day)
        for name in CONTENT_FIELDS
        if isinstance(event.get(name), str) and len(event[name]) >= 16
    }
    assert content, "the day served no compliance content to look for"
    return [sandbox.analytics_key, sandbox.compliance_key, HASH_SALT, *sorted(content)]


# -- the test ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.databases
# Two deployments, each ~30 s to start and about a minute of runs on 2 idle cores; the bounded waits
# (420 s each) are what may legitimately pass on a loaded machine before a wait reports what failed.
@pytest.mark.timeout(1200)
def test_the_example_dags_emit_their_lineage_and_nothing_without_the_provider(tmp_path: Path) -> None:
    started = time.monotonic()
    with running_sandbox(**SANDBOX) as sandbox:
        day = complete_days(sandbox, 1, grace=GRACE, within=timedelta(minutes=20)).compliance[-1]
        ws = sandbox.workspace_id
        base = urlsplit(sandbox.base_url)
        api = f"http://127.0.0.1:{base.port}"

        # 1. With the provider and a file transport: the events.
        with_ol = tmp_path / "with"
        (with_ol / "events").mkdir(parents=True)
        transport = {"type": "file", "log_file_path": str(with_ol / "events" / "ol")}
        with temporary_sql_destination("postgres", with_ol) as dest:
            env = {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)}
            states = run_example_dags(with_ol, sandbox, dest, day, env)
            events = read_events(with_ol / "events")
            log(f"with the provider: {len(events)} events after {time.monotonic() - started:.0f}s")
            ran = [job for job in LOADS if states.get(job) == "success"]
            assert set(LOADS) - set(ran) <= {j for j in LOADS if ".snapshot_" in j}, states  # snapshots: latest only

            for job in ran:
                path, dataset = LOADS[job]
                event = last_complete(events, job)
                assert [(i["namespace"], i["name"]) for i in event["inputs"]] == [(api, base.path + path.format(ws=ws))]
                tables = [spec.name for spec in get_dataset(dataset).tables]
                assert [(o["namespace"], o["name"]) for o in event["outputs"]] == [pg_place(dest, t) for t in tables]
                for output, table in zip(event["outputs"], tables, strict=True):
                    assert fields(output) == registry(table), (job, table)
                    assert statistics(output) == {"rowCount": stored_rows(dest, table), "fileCount": None}
            assert stored_rows(dest, "codex_usage_user_daily") > 0 and stored_rows(dest, "codex_compliance_events") > 0

            archive = last_complete(events, ARCHIVE_TASK)
            assert [(i["namespace"], i["name"]) for i in archive["inputs"]] == [
                (api, f"{base.path}/compliance/workspaces/{ws}/logs")
            ]
            (folder,) = archive["outputs"]
            assert (folder["namespace"], folder["name"]) == ("file", f"{with_ol}/archive/{LOG_FILES_FOLDER}")
            files = [p for p in (with_ol / "archive" / LOG_FILES_FOLDER).rglob("*.jsonl") if p.name != MANIFEST_NAME]
            assert statistics(folder) == {"rowCount": None, "fileCount": len(files)} and files
            assert "schema" not in folder["facets"]

            views = last_complete(events, VIEWS_TASK)
            sources = sorted({s for v in VIEWS for s in v.sources})
            assert [(i["namespace"], i["name"]) for i in views["inputs"]] == [pg_place(dest, t) for t in sources]
            outputs = {(o["namespace"], o["name"]): o for o in views["outputs"]}
            for view in VIEWS:
                table = outputs.pop(pg_place(dest, view.name))
                assert fields(table) == registry(view.name)
                assert statistics(table) == {"rowCount": stored_rows(dest, view.name), "fileCount": None}
                if view.kind == "export":
                    export = outputs.pop(("file", f"{with_ol}/exports/{view.name}"))
                    (jsonl,) = (with_ol / "exports" / view.name).rglob("*.jsonl")
                    assert fields(export) == registry(view.name, view.export_columns)
                    lines = len(jsonl.read_text().splitlines())
                    assert statistics(export) == {"rowCount": lines, "fileCount": 2}  # CSV and JSON Lines
            assert outputs == {}, f"outputs nobody expected: {sorted(outputs)}"

            for sensor in SENSORS:
                mine = [e for e in events if e["job"]["name"] == sensor]
                assert mine and all(e["inputs"] == [] and e["outputs"] == [] for e in mine), sensor

            text = "\n".join(p.read_text() for p in (with_ol / "events").iterdir())
            leaked = [s for s in secrets_and_content(sandbox, day) if s in text]
            assert leaked == [], f"{len(leaked)} secret or content strings in the events"
            assert "?" not in "".join(i["namespace"] + i["name"] for e in events for i in e["inputs"])

        # 2. The same DAGs where the OpenLineage packages cannot be imported: they run, nothing is emitted.
        without = tmp_path / "without"
        (without / "events").mkdir(parents=True)
        (without / "site").mkdir()
        (without / "site" / "sitecustomize.py").write_text(BLOCKER)
        blocked = without / "blocked-imports.txt"
        transport = {"type": "file", "log_file_path": str(without / "events" / "ol")}
        with temporary_sql_destination("postgres", without) as dest:
            env = {
                "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
                "PYTHONPATH": str(without / "site"),
                "CODEX_TEST_BLOCKED_IMPORTS": str(blocked),
            }
            states = run_example_dags(without, sandbox, dest, day, env)
            assert all(states.get(job) in {"success", "skipped"} for job in LOADS), states
            assert states[ARCHIVE_TASK] == states[VIEWS_TASK] == "success"
            assert stored_rows(dest, "codex_usage_user_daily") > 0 and stored_rows(dest, "codex_view_cli_users") > 0
        assert list((without / "events").iterdir()) == [], "events emitted without the provider"
        assert "loaded in" in blocked.read_text(), "no component loaded the blocker: the run proves nothing"
        log(f"both runs after {time.monotonic() - started:.0f}s")
