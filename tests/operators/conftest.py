"""Fixtures of the end-to-end operator tests: one isolated real destination per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from codex_e2e import SQL_KINDS, SqlDestination, StorageDestination, codex_connection, make_sql_destination
from codex_testing.sandbox import RunningSandbox


def _connect(monkeypatch: pytest.MonkeyPatch, dest: SqlDestination) -> SqlDestination:
    monkeypatch.setenv(f"AIRFLOW_CONN_{dest.conn_id.upper()}", dest.conn_json)
    return dest


@pytest.fixture(params=SQL_KINDS)
def sql_destination(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """SQLite, PostgreSQL and MariaDB in turn: an empty file, schema or database, dropped afterwards."""
    dest = make_sql_destination(request.param, tmp_path)
    try:
        yield _connect(monkeypatch, dest)
    finally:
        dest.drop()


@pytest.fixture
def make_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], SqlDestination]]:
    """Make isolated destinations of a given kind on demand (dropped afterwards)."""
    made: list[SqlDestination] = []

    def make(kind: str) -> SqlDestination:
        dest = make_sql_destination(kind, tmp_path)
        made.append(dest)
        return _connect(monkeypatch, dest)

    yield make
    for dest in made:
        dest.drop()


@pytest.fixture
def storage(tmp_path: Path) -> StorageDestination:
    root = tmp_path / "lake"
    root.mkdir()
    return StorageDestination(root)


@pytest.fixture
def use_sandbox(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Point the ``codex_default`` connection at a sandbox (keyword arguments override extras)."""

    def use(sandbox: RunningSandbox, **extra: object) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_CODEX_DEFAULT", codex_connection(sandbox, **extra))

    return use
