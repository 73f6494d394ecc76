"""OpenLineage for the transfers: what a load read (a Codex route) and wrote (tables, folders), as datasets.

Airflow's OpenLineage provider calls the operators' ``get_openlineage_facets_on_*``
methods (:class:`LineageMixin`); they hand what the run did to
:func:`operator_lineage`, the one place that builds OpenLineage objects. The
provider is an optional extra: this module imports it, and the OpenLineage
client, only inside :func:`operator_lineage` and the facet builders, so
importing any operator without it changes nothing.

Names follow the OpenLineage naming conventions (``docs/lineage.md`` lists them):

- the Codex route: namespace ``{scheme}://{host}[:{port}]`` of the connection's
  base URL, name the route's path (``/v1/analytics/codex/workspaces/{id}/usage``),
  never the query, the user info or a key (the conventions have no HTTP entry yet;
  this is OpenLineage issue #1148's ``http://{host}(:{port})`` + ``{path}``);
- SQL tables: as the ``common.sql`` hook describes its database
  (``get_openlineage_database_info``): ``postgres://{host}:{port}`` +
  ``{database}.{schema}.{table}``, ``mysql://{host}:{port}`` + ``{database}.{table}``;
  SQLite, which describes none, ``sqlite://{database file}`` + ``{table}``;
- object storage: ``s3://{bucket}`` / ``gs://{bucket}`` + the key, a local folder
  ``file`` + its absolute path (as ``common.io``'s file Assets are named).

Each output carries a schema facet from the table registry (:mod:`..tables`,
the views' specs) and, on completion, output statistics from the load's
summary: rows per table, files per folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from airflow_provider_codex.api.urls import route_url
from airflow_provider_codex.datasets import Dataset
from airflow_provider_codex.hooks.codex import CodexHook
from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.tables import TABLES, TableSpec
from airflow_provider_codex.views import VIEWS

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

#: The schemes ObjectStoragePath gives local paths.
_LOCAL_PROTOCOLS = frozenset({"", "file", "local"})


@dataclass(frozen=True)
class Place:
    """Where a dataset is, as OpenLineage names it: the datasource (namespace) and the dataset in it."""

    namespace: str
    name: str


@dataclass(frozen=True)
class Written:
    """One output: where, its registry spec (``None``: verbatim files) and, once known, what went there."""

    place: Place
    spec: TableSpec | None = None
    columns: Sequence[str] | None = None  # the spec's columns the output holds (default all)
    rows: int | None = None
    files: int | None = None


# -- names ------------------------------------------------------------------------------------


def endpoint_place(codex_conn_id: str, dataset: Dataset) -> Place:
    """The Codex route ``dataset`` reads, for the connection's owner: no query, no user info, no key."""
    config = CodexHook(codex_conn_id).config
    url = urlsplit(route_url(config, dataset.endpoint))
    host = (url.hostname or "").lower()
    authority = f"{host}:{url.port}" if url.port else host
    return Place(f"{url.scheme.lower()}://{authority}", url.path)


def storage_place(path: str | ObjectStoragePath) -> Place:
    """An object-storage folder: ``s3://bucket`` + key, or ``file`` + an absolute local path."""
    where = path if isinstance(path, ObjectStoragePath) else ObjectStoragePath(path)
    if where.protocol in _LOCAL_PROTOCOLS:
        return Place("file", "/" + where.key.lstrip("/"))
    return Place(where.namespace, where.key.lstrip("/"))


class SqlPlaces:
    """Names of a SQL sink's tables, as its ``common.sql`` hook describes its database.

    The hook's ``get_openlineage_database_info`` gives the scheme and the
    ``host:port``; its ``get_openlineage_default_schema`` the schema a table
    without one lands in (PostgreSQL: ``current_schema``; MySQL: none, the
    schema is the database). Both are read once, when first needed.
    """

    def __init__(self, sink: SqlSink) -> None:
        self.sink = sink
        self._prefix: tuple[str, tuple[str, ...]] | None = None

    def place(self, table: str) -> Place:
        namespace, parts = self._namespace_and_parts()
        return Place(namespace, ".".join((*parts, table)))

    def _namespace_and_parts(self) -> tuple[str, tuple[str, ...]]:
        if self._prefix is None:
            self._prefix = self._describe()
        return self._prefix

    def _describe(self) -> tuple[str, tuple[str, ...]]:
        hook, schema = self.sink.hook, self.sink.schema
        connection = hook.get_connection(hook.get_conn_id())
        if self.sink.dialect.name == "sqlite":  # SqliteHook describes no database: its file is the datasource
            return f"sqlite://{connection.host or ''}", (schema,) if schema else ()
        info = hook.get_openlineage_database_info(connection)
        database: str | None = None
        authority: str | None
        if info is None:  # a hook that describes nothing: its connection type and host
            scheme, authority = connection.conn_type, hook.get_openlineage_authority_part(connection)
        else:
            scheme, authority, database = info.scheme, info.authority, info.database
        namespace = f"{scheme}://{authority}" if authority else str(scheme)
        default_schema = hook.get_openlineage_default_schema()
        if default_schema is None:  # MySQL: the schema is the database
            database = schema or database or connection.schema
            return namespace, (database,) if database else ()
        database = database or connection.schema
        return namespace, tuple(p for p in (database, schema or default_schema) if p)


# -- the OpenLineage objects --------------------------------------------------------------------


def _schema(output: Written) -> dict[str, Any]:
    """The dataset facets: the registry's columns (the ones the output holds), types as the registry names them."""
    from openlineage.client.facet_v2 import schema_dataset

    if output.spec is None:
        return {}
    wanted = set(output.columns) if output.columns is not None else None
    fields = [
        schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.type.value, description=c.doc or None)
        for c in output.spec.columns
        if wanted is None or c.name in wanted
    ]
    return {"schema": schema_dataset.SchemaDatasetFacet(fields=fields)}


def _statistics(output: Written) -> dict[str, Any]:
    """The output facets: rows and files written, when the run said."""
    from openlineage.client.facet_v2 import output_statistics_output_dataset as statistics

    if output.rows is None and output.files is None:
        return {}
    return {
        "outputStatistics": statistics.OutputStatisticsOutputDatasetFacet(rowCount=output.rows, fileCount=output.files)
    }


def operator_lineage(inputs: Sequence[Place], outputs: Sequence[Written]) -> OperatorLineage[Any, Any]:
    """The ``OperatorLineage`` the provider emits: inputs as read, outputs with their schema and counts."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    return OperatorLineage(
        inputs=[InputDataset(namespace=p.namespace, name=p.name) for p in inputs],
        outputs=[
            OutputDataset(
                namespace=o.place.namespace, name=o.place.name, facets=_schema(o), outputFacets=_statistics(o)
            )
            for o in outputs
        ],
    )


class LineageMixin:
    """The two methods Airflow's OpenLineage provider looks for; the operator says what it read and wrote.

    ``lineage(result)`` returns the inputs and outputs, ``result`` being what
    the run returned (``None`` before it ran: names and schemas only). Nothing
    is imported until the provider calls.
    """

    #: What the last run returned (set by the operator's ``execute``), for the completion event.
    lineage_result: Mapping[str, Any] | None = None

    def lineage(self, result: Mapping[str, Any] | None) -> tuple[list[Place], list[Written]]:
        raise NotImplementedError

    def get_openlineage_facets_on_start(self) -> OperatorLineage[Any, Any]:
        return operator_lineage(*self.lineage(None))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        return operator_lineage(*self.lineage(self.lineage_result))


def rows_of(result: Mapping[str, Any] | None, table: str) -> int | None:
    """A table's rows in a load's result (``LoadSummary.as_dict``); ``None`` before the run."""
    if result is None:
        return None
    per_day: Mapping[str, int] = result.get("rows", {}).get(table, {})
    return sum(per_day.values())


def views_lineage(
    sink: SqlSink, export_path: str | None, result: Mapping[str, Any] | None
) -> tuple[list[Place], list[Written]]:
    """The governance views' lineage: the load tables they read, the view tables and export folders they write."""
    places = SqlPlaces(sink)
    sources = sorted({source for view in VIEWS for source in view.sources})
    inputs = [places.place(sink.table_name(TABLES[name])) for name in sources]
    counts: Mapping[str, int] = result.get("views", {}) if result is not None else {}
    outputs = [Written(places.place(sink.table_name(v.spec)), v.spec, rows=counts.get(v.name)) for v in VIEWS]
    if export_path:
        base = ObjectStoragePath(export_path)
        files: list[str] = list(result.get("files", [])) if result is not None else []
        for view in (v for v in VIEWS if v.kind == "export"):
            written = [f for f in files if f"/{view.name}/" in f] if result is not None else None
            outputs.append(
                Written(
                    storage_place(base / view.name),
                    view.spec,
                    columns=view.export_columns,
                    rows=counts.get(view.name),
                    files=len(written) if written is not None else None,
                )
            )
    return inputs, outputs
