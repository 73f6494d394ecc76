"""Codex → any SQL database with a ``DbApiHook``: a window of a dataset, replaced in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_codex.datasets import Dataset
from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.transfers.base import CodexLoadOperator
from airflow_provider_codex.transfers.lineage import SqlPlaces, Written, rows_of


class CodexToSqlOperator(CodexLoadOperator):
    """Load a window of a Codex dataset into any SQL database with an Airflow ``DbApiHook``.

    Each run replaces the window's days of the workspace in every table of the
    dataset, in one transaction: retries, reruns, backfills over loaded days
    and overlapping runs leave exactly one copy of each row. Missing tables
    are created and new API fields become new columns.

    :param sql_conn_id: the destination connection (SQLite, PostgreSQL,
        MySQL/MariaDB, or any other with a ``DbApiHook``), templated.
    :param schema: schema (database, for MySQL) of the tables.
    :param table_prefix: prepended to every table name.
    """

    template_fields: Sequence[str] = (*CodexLoadOperator.template_fields, "sql_conn_id", "schema")

    def __init__(
        self,
        *,
        sql_conn_id: str,
        schema: str | None = None,
        table_prefix: str = "",
        **kwargs: Any,
    ) -> None:
        kwargs["outlets"] = self.outlets_for(kwargs["dataset"], {**kwargs, "table_prefix": table_prefix})
        super().__init__(**kwargs)
        self.sql_conn_id = sql_conn_id
        self.schema = schema
        self.table_prefix = table_prefix

    @classmethod
    def tables_written(cls, dataset: Dataset, arguments: Mapping[str, Any]) -> list[str]:
        prefix = arguments.get("table_prefix") or ""
        return [f"{prefix}{spec.name}" for spec in dataset.tables]

    def counted_as(self, table: str) -> str:
        return table.removeprefix(self.table_prefix)

    def destination(self) -> dict[str, Any]:
        return {"sql_conn_id": self.sql_conn_id, "schema": self.schema}

    def lineage_outputs(self, dataset: Dataset, result: Mapping[str, Any] | None) -> list[Written]:
        sink = self.make_sink()
        places = SqlPlaces(sink)
        return [
            Written(places.place(sink.table_name(spec)), spec, rows=rows_of(result, spec.name))
            for spec in dataset.tables
        ]

    def make_sink(self) -> SqlSink:
        return SqlSink.from_conn_id(self.sql_conn_id, schema=self.schema, table_prefix=self.table_prefix)
