"""Real databases for the SQL sink: SQLite (a temp file), PostgreSQL, MariaDB.

Connections come from ``AIRFLOW_CONN_*`` URIs, as in a deployment. Every test
gets its own table-name prefix and drops its tables afterwards, so parallel
runs do not collide.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from airflow.providers.mysql.hooks.mysql import MySqlHook
from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.providers.sqlite.hooks.sqlite import SqliteHook

from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.tables import Column, ColumnType, TableSpec

PG_URI = os.environ.get("CODEX_TEST_PG_URI", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URI = os.environ.get("CODEX_TEST_MYSQL_URI", "mysql://root@127.0.0.1:3306/test")
os.environ["AIRFLOW_CONN_CODEX_TEST_PG"] = PG_URI
os.environ["AIRFLOW_CONN_CODEX_TEST_MYSQL"] = MYSQL_URI


class Psycopg2PostgresHook(PostgresHook):
    """The Postgres hook on the psycopg2 driver (the provider picks psycopg 3 here)."""

    def get_conn(self):
        import psycopg2

        c = self.connection
        return psycopg2.connect(host=c.host, port=c.port, user=c.login, password=c.password, dbname=c.schema)


@dataclass
class Backend:
    name: str
    hook: Any
    dialect: str | None
    prefix: str

    def sink(self, **kwargs) -> SqlSink:
        return SqlSink(self.hook, table_prefix=self.prefix, dialect=self.dialect, **kwargs)

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        with closing(self.hook.get_conn()) as conn:
            cur = conn.cursor()
            cur.execute(sql)
            rows = cur.fetchall()
            names = [d[0] for d in cur.description]
            conn.commit()
        return names, [tuple(r) for r in rows]

    def quote(self, name: str) -> str:
        return f"`{name}`" if self.name == "mysql" else f'"{name}"'

    def read(self, spec, order_by: tuple[str, ...] | None = None, types=None) -> list[dict]:
        """All rows of ``spec``'s table as dicts, values normalized to Python types."""
        types = {**spec.types, **(types or {})}
        order = ", ".join(self.quote(c) for c in (order_by or spec.key))
        names, rows = self.query(f"SELECT * FROM {self.quote(self.prefix + spec.name)} ORDER BY {order}")
        return [{n: normalize(v, types.get(n)) for n, v in zip(names, row, strict=True)} for row in rows]

    def count(self, spec) -> int:
        return self.query(f"SELECT COUNT(*) FROM {self.quote(self.prefix + spec.name)}")[1][0][0]

    def tables(self) -> set[str]:
        if self.name.startswith("sqlite"):
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        elif self.name.startswith("postgres"):
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        else:
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        return {r[0] for r in self.query(sql)[1] if r[0].startswith(self.prefix)}

    def drop_all(self) -> None:
        for table in self.tables():
            self.query_no_result(f"DROP TABLE IF EXISTS {self.quote(table)}")

    def query_no_result(self, sql: str) -> None:
        with closing(self.hook.get_conn()) as conn:
            conn.cursor().execute(sql)
            conn.commit()


def normalize(value: Any, kind: ColumnType | None) -> Any:
    """Database values -> the Python values records hold, whatever the driver returns."""
    if value is None:
        return None
    if kind is ColumnType.DATE and isinstance(value, str):
        return date.fromisoformat(value)
    if kind is ColumnType.TIMESTAMP:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if kind is ColumnType.JSON and isinstance(value, str | bytes):
        return json.loads(value)
    if kind is ColumnType.BOOLEAN:
        return bool(value)
    if kind is ColumnType.FLOAT:
        return float(value)
    return value


#: A table with a column of every type, keyed like the API's daily tables.
ALL_TYPES = TableSpec(
    name="all_types",
    columns=(
        Column("workspace_id", ColumnType.TEXT),
        Column("day", ColumnType.DATE),
        Column("id", ColumnType.TEXT),
        Column("n", ColumnType.INTEGER),
        Column("x", ColumnType.FLOAT),
        Column("flag", ColumnType.BOOLEAN),
        Column("at", ColumnType.TIMESTAMP),
        Column("doc", ColumnType.JSON),
        Column("note", ColumnType.TEXT),
    ),
    key=("workspace_id", "day", "id"),
)


BACKENDS = ["sqlite", "sqlite_generic", "postgres", "postgres_psycopg2", "mysql"]
LOCKING_BACKENDS = ["sqlite", "postgres", "mysql"]


def make_backend(name: str, tmp_path, monkeypatch) -> Backend:
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    if name.startswith("sqlite"):
        db = tmp_path / "codex.db"
        monkeypatch.setenv("AIRFLOW_CONN_CODEX_TEST_SQLITE", "sqlite://" + urllib.parse.quote(str(db), safe=""))
        hook = SqliteHook(sqlite_conn_id="codex_test_sqlite")
        return Backend(name, hook, "generic" if name == "sqlite_generic" else None, prefix)
    if name == "postgres":
        return Backend(name, PostgresHook(postgres_conn_id="codex_test_pg"), None, prefix)
    if name == "postgres_psycopg2":
        return Backend(name, Psycopg2PostgresHook(postgres_conn_id="codex_test_pg"), None, prefix)
    return Backend(name, MySqlHook(mysql_conn_id="codex_test_mysql"), None, prefix)
