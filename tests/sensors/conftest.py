"""Fixtures of the sensor tests: a ``codex`` connection to the sandbox, and sensor DAGs run with ``dag.test()``.

``dag.test()`` only runs DAGs that a DAG bundle holds, and a sensor's
``mode``, ``deferrable``, ``timeout`` and ``poke_interval`` are not templated,
so each test writes its own one-task DAG file into a bundle of its own (a temp
dir, listed first in ``[dag_processor] dag_bundle_config_list`` for the
test's duration), imports it and runs it. Callbacks in the file record how the
task ended (the exception's type and message, or its XCom), since
``dag.test()`` only returns the run.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from codex_testing.sandbox import RunningSandbox

#: The logical date of the runs: with no data interval, the window is the day before, 2026-03-04.
LOGICAL_DATE = datetime(2026, 3, 5, tzinfo=UTC)

DAG_FILE = """\
import datetime
import json
import pathlib

from airflow.sdk import DAG
from airflow_provider_codex.sensors.codex import {sensor}

OUTCOME = pathlib.Path({outcome!r})


def record(context):
    error = context.get("exception")
    ti = context["ti"]
    OUTCOME.write_text(json.dumps({{
        "exception": type(error).__name__ if error else None,
        "message": str(error) if error else None,
        "xcom": None if error else ti.xcom_pull(task_ids=ti.task_id),
    }}))


with DAG(
    {dag_id!r},
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    default_args={{"retries": {retries!r}, "retry_delay": datetime.timedelta(0)}},
) as dag:
    {sensor}(task_id="wait", on_success_callback=record, on_failure_callback=record, **{kwargs!r})
"""


@dataclass(frozen=True)
class SensorRun:
    """How a sensor task ended under ``dag.test()``."""

    state: str
    try_number: int
    seconds: float
    exception: str | None
    message: str | None
    xcom: Any
    #: Whether the task deferred (``dag.test()`` then runs the trigger inline, and says so).
    deferred: bool


@pytest.fixture(scope="session")
def sensor_bundle(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of this session's sensor DAG files."""
    return tmp_path_factory.mktemp("sensor_dags")


_dag_numbers = itertools.count(1)


@pytest.fixture
def run_sensor(
    sensor_bundle: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Callable[..., SensorRun]:
    """Run one sensor in a one-task DAG with ``dag.test()``: ``run_sensor("CodexAnalyticsDaySensor", ...)``."""
    from airflow.sdk.configuration import conf

    bundles = [
        {
            "name": "codex-sensor-tests",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(sensor_bundle)},
        },
        *[
            b
            for b in conf.getjson("dag_processor", "dag_bundle_config_list") or []
            if b["name"] != "codex-sensor-tests"
        ],
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))

    def run(sensor: str, *, logical_date: datetime = LOGICAL_DATE, retries: int = 0, **kwargs: Any) -> SensorRun:
        dag_id = f"codex_sensor_test_{next(_dag_numbers)}"
        path = sensor_bundle / f"{dag_id}.py"
        outcome = sensor_bundle / f"{dag_id}.json"
        path.write_text(
            DAG_FILE.format(sensor=sensor, outcome=str(outcome), dag_id=dag_id, retries=retries, kwargs=kwargs)
        )
        try:
            spec = importlib.util.spec_from_file_location(dag_id, path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="airflow.sdk.definitions.dag"):
                started = time.monotonic()
                dag_run = module.dag.test(logical_date=logical_date)
                seconds = time.monotonic() - started
            deferred = any("running trigger in line" in r.getMessage() for r in caplog.records)
        finally:
            path.unlink()
        (ti,) = dag_run.get_task_instances()
        recorded = json.loads(outcome.read_text()) if outcome.exists() else {}
        return SensorRun(
            state=str(ti.state),
            try_number=ti.try_number,
            seconds=seconds,
            exception=recorded.get("exception"),
            message=recorded.get("message"),
            xcom=recorded.get("xcom"),
            deferred=deferred,
        )

    return run


@pytest.fixture
def when_checked(sandbox: RunningSandbox) -> Iterator[Callable[..., None]]:
    """``when_checked(route, times, action)``: run ``action`` once the sandbox has answered ``route``
    ``times`` times, i.e. once the sensor has really checked and is waiting (however long start-up took)."""
    threads: list[threading.Thread] = []
    stop = threading.Event()

    def schedule(route: str, times: int, action: Callable[[], Any]) -> None:
        def watch() -> None:
            while not stop.is_set():
                if sum(sandbox.stats()["requests"].get(route, {}).values()) >= times:
                    action()
                    return
                time.sleep(0.05)

        thread = threading.Thread(target=watch, daemon=True)
        threads.append(thread)
        thread.start()

    yield schedule
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
