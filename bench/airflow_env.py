"""An isolated Airflow home for the benchmark: temp DAGs folder, SQLite metadata DB migrated once.

``dag.test()`` runs only DAGs that live in the DAGs folder, so the bench's DAG
file is copied into a temp one. The migrated metadata DB is cached per Airflow
version (migrating takes longer than the quick benchmark itself) and copied
into each run's home.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.config import PG_URI

DAG_FILE = Path(__file__).parent / "dags" / "codex_bench_dags.py"
REPO = Path(__file__).resolve().parent.parent
CACHE = Path(tempfile.gettempdir()) / "codex-bench-cache"


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow-core")


def _migrated_db(env: dict[str, str]) -> Path:
    """A freshly migrated metadata DB for this Airflow version (made once, then reused)."""
    cached = CACHE / f"airflow-{_airflow_version()}.db"
    if cached.exists():
        return cached
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="codex-bench-migrate-") as home:
        db = Path(home) / "airflow.db"
        migrate_env = {**env, "AIRFLOW_HOME": home, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}"}
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=migrate_env, check=True, capture_output=True
        )
        partial = cached.with_suffix(".part")
        shutil.copyfile(db, partial)
        partial.replace(cached)
    return cached


def prepare(work: Path) -> dict[str, str]:
    """Make ``work/airflow`` and ``work/dags``; return the environment a worker runs in."""
    home, dags = work / "airflow", work / "dags"
    home.mkdir(parents=True, exist_ok=True)
    dags.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DAG_FILE, dags / DAG_FILE.name)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_BENCH_POSTGRES": PG_URI,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
    }
    shutil.copyfile(_migrated_db(env), home / "airflow.db")
    return env


def connection_env(conn_id: str, connection: dict[str, Any] | str) -> dict[str, str]:
    value = connection if isinstance(connection, str) else json.dumps(connection)
    return {f"AIRFLOW_CONN_{conn_id.upper()}": value}


def sqlite_uri(path: Path) -> str:
    """An Airflow connection URI for a SQLite file (``sqlite:////abs/path``)."""
    return json.dumps({"conn_type": "sqlite", "host": str(path)})
