"""The parts of the CeleryExecutor deployment that need no Airflow: Redis, the PostgreSQL databases, the specs.

The deployment itself runs in ``tests/e2e/test_celery_backfill.py``; these check
its pieces in a second: the harness's own ``redis-server`` answers and is gone
after ``stop()``, the metadata probes written for SQLite run on PostgreSQL, and
the components and settings are the ones a two-host deployment needs.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from codex_testing import AirflowCluster, free_port
from codex_testing.cluster import _celery_settings, _check_choices, _component_specs, celery_worker_spec
from codex_testing.hostname import HOSTNAME_VARIABLE, component_hostname
from codex_testing.postgres import DEFAULT_ADMIN_URI, create_database, drop_database, read_rows, sqlalchemy_uri
from codex_testing.redis_server import redis_answers, redis_command


def test_the_redis_server_is_loopback_and_in_memory_only(tmp_path):
    argv = redis_command(6390, tmp_path)
    options = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert options == {
        "--port": "6390",
        "--bind": "127.0.0.1",
        "--save": "",
        "--appendonly": "no",
        "--dir": str(tmp_path),
        "--daemonize": "no",
        "--logfile": "",
    }


def test_the_cluster_starts_its_own_redis_and_stops_it(tmp_path):
    cluster = AirflowCluster(tmp_path, tmp_path, {}, free_port())
    port = free_port()
    try:
        cluster.start_redis(port, timeout=20)
        assert redis_answers(port)
        assert cluster.redis_url == f"redis://127.0.0.1:{port}"
    finally:
        cluster.stop()
    assert not cluster.components["redis"].alive()
    assert not redis_answers(port)
    assert "Ready to accept connections" in cluster.log_text("redis")


def test_two_workers_of_their_own_concurrency_and_host_names():
    specs = _component_specs("CeleryExecutor", 2, 4)
    assert list(specs) == [
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "celery-worker-1",
        "celery-worker-2",
    ]
    worker = specs["celery-worker-2"]
    assert worker.args[:2] == ("celery", "worker")
    assert worker.args[worker.args.index("--concurrency") + 1] == "4"
    assert worker.args[worker.args.index("--celery-hostname") + 1] == "celery-worker-2"
    assert worker.ready == celery_worker_spec("celery-worker-2", 4).ready
    assert list(_component_specs("LocalExecutor", 2, 4)) == ["api-server", "scheduler", "dag-processor", "triggerer"]


def test_celery_settings_point_at_the_deployments_redis_and_fill_every_slot():
    settings = _celery_settings(6391, workers=2, concurrency=4)
    assert settings["core.executor"] == "CeleryExecutor"
    assert settings["celery.broker_url"] == "redis://127.0.0.1:6391/0"
    assert settings["celery.result_backend"] == "redis://127.0.0.1:6391/1"
    assert settings["core.parallelism"] == "8"


def test_celery_refuses_a_sqlite_metadata_db_and_unknown_choices_fail():
    with pytest.raises(ValueError, match="postgresql"):
        _check_choices("CeleryExecutor", "sqlite", 2, 4)
    with pytest.raises(ValueError, match="executor"):
        _check_choices("KubernetesExecutor", "postgresql", 2, 4)
    with pytest.raises(ValueError, match="at least 1"):
        _check_choices("CeleryExecutor", "postgresql", 0, 4)
    _check_choices("LocalExecutor", "postgresql", 2, 4)


def test_a_component_reports_the_name_the_harness_gave_it(monkeypatch):
    monkeypatch.setenv(HOSTNAME_VARIABLE, "celery-worker-1")
    assert component_hostname() == "celery-worker-1"
    monkeypatch.delenv(HOSTNAME_VARIABLE)
    assert component_hostname()  # the machine's own name


def test_airflow_gets_the_psycopg_driver():
    assert sqlalchemy_uri("postgresql://postgres@127.0.0.1:5432/x") == "postgresql+psycopg://postgres@127.0.0.1:5432/x"
    assert sqlalchemy_uri("postgresql+psycopg2://u@h/x") == "postgresql+psycopg://u@h/x"


@pytest.mark.databases
def test_probes_written_for_sqlite_run_on_a_postgresql_copy_and_the_copy_is_dropped():
    template, copy = f"codex_tpl_{uuid.uuid4().hex[:8]}", f"codex_copy_{uuid.uuid4().hex[:8]}"
    uri = create_database(DEFAULT_ADMIN_URI, template)
    try:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE TABLE task_instance (task_id text, state text)")
            conn.execute("INSERT INTO task_instance VALUES ('load_usage', 'success'), ('wait', 'deferred')")
        copied = create_database(DEFAULT_ADMIN_URI, copy, template=template)
        sql = "SELECT task_id FROM task_instance WHERE task_id LIKE 'load_%' AND state = ?"
        rows = read_rows(copied, sql, ["success"])
        assert rows == [("load_usage",)]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            read_rows(copied, "DELETE FROM task_instance")
    finally:
        drop_database(DEFAULT_ADMIN_URI, copy)
        drop_database(DEFAULT_ADMIN_URI, template)
    names = read_rows(DEFAULT_ADMIN_URI, "SELECT datname FROM pg_database WHERE datname IN (?, ?)", [template, copy])
    assert names == []
