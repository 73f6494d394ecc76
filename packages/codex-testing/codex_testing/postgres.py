"""Throwaway PostgreSQL databases for a deployment's metadata: created, copied from a template, dropped.

A CeleryExecutor deployment needs a metadata DB every host reaches, which a SQLite
file in one ``AIRFLOW_HOME`` is not; and PostgreSQL's row locks let CLI writes run
beside a working scheduler. Migrating a fresh database costs tens of seconds, so,
like the SQLite template of :mod:`.cluster`, one database is migrated per test
process and each cluster gets a copy of it (``CREATE DATABASE ... TEMPLATE``, a
file copy inside the server). ``psycopg`` (3) is imported only here, on use.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: The server's maintenance database, as the harness's own client reaches it (trust auth on CI).
DEFAULT_ADMIN_URI = os.environ.get("CODEX_CLUSTER_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/postgres")
#: What the harness's database names look like (checked: names are put into SQL unquoted by value).
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class PostgresError(RuntimeError):
    """The server could not be reached, or refused a database the harness needs."""


def database_uri(admin_uri: str, name: str) -> str:
    """``admin_uri`` pointing at database ``name`` instead (same host, port and user)."""
    parts = urlsplit(admin_uri)
    return urlunsplit(parts._replace(path=f"/{name}"))


def sqlalchemy_uri(uri: str) -> str:
    """The URI Airflow's ``sql_alchemy_conn`` takes: the psycopg (3) driver, Airflow 3.3's own default."""
    scheme, rest = uri.split("://", 1)
    return f"{scheme.split('+', 1)[0]}+psycopg://{rest}"


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a harness database name: {name!r}")
    return name


def _admin_execute(admin_uri: str, sql: str) -> None:
    """One statement on the maintenance database, outside a transaction (CREATE/DROP DATABASE need that)."""
    import psycopg

    try:
        with psycopg.connect(admin_uri, autocommit=True, connect_timeout=10) as admin:
            admin.execute(sql.encode())
    except psycopg.OperationalError as error:
        raise PostgresError(f"PostgreSQL at {admin_uri}: {error}") from error


def create_database(admin_uri: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` (a copy of ``template`` if given); returns its URI."""
    copy = f' TEMPLATE "{_checked(template)}"' if template else ""
    _admin_execute(admin_uri, f'CREATE DATABASE "{_checked(name)}"{copy}')
    return database_uri(admin_uri, name)


def drop_database(admin_uri: str, name: str) -> None:
    """Drop ``name``, disconnecting whoever is still connected; never raises (clean-up path)."""
    with contextlib.suppress(PostgresError):
        _admin_execute(admin_uri, f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')


def read_rows(uri: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of a read-only query written for SQLite (``?`` placeholders), run on PostgreSQL.

    The cluster's probes are written once, for both metadata DBs: ``?`` becomes
    ``%s`` and a literal ``%`` (``LIKE 'load_%'``) is escaped for psycopg.
    """
    import psycopg

    query = sql.replace("%", "%%").replace("?", "%s")
    with psycopg.connect(uri, connect_timeout=10) as conn:
        conn.read_only = True  # a transaction of its own, read-only, ended when the block closes
        return list(conn.execute(query.encode(), tuple(params)).fetchall())
