"""The load operators' OpenLineage facets, from real loads: names per database and store, schema, counts.

Each test runs a real operator's ``execute`` against the sandbox and a real
destination (SQLite, PostgreSQL, MariaDB, a local folder), then calls the
methods Airflow's OpenLineage provider calls. The expected names are the
OpenLineage conventions written out from the destination's own settings (host,
port, database, schema, path), the schemas are the table registry's, and the
counts are read back from the destination, never from the summary under test.
The events a real Airflow emits are ``tests/e2e/test_lineage_e2e.py``'s.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from codex_e2e import PG_URI, SqlDestination, StorageDestination
from codex_testing.sandbox import RunningSandbox

from airflow_provider_codex.datasets import get_dataset
from airflow_provider_codex.sinks.archive import LOG_FILES_FOLDER, MANIFEST_NAME
from airflow_provider_codex.tables import TABLES
from airflow_provider_codex.transfers.codex_log_files_to_storage import CodexLogFilesToStorageOperator
from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator
from airflow_provider_codex.transfers.codex_to_storage import CodexToStorageOperator
from airflow_provider_codex.transfers.lineage import Place, storage_place

#: Two days with usage rows in the session sandbox (see test_e2e_views.py).
START, END = "2026-02-11", "2026-02-13"
DAYS = (date(2026, 2, 11), date(2026, 2, 12))


def registry_fields(table: str) -> list[tuple[str, str]]:
    return [(c.name, c.type.value) for c in TABLES[table].columns]


def schema_fields(dataset: object) -> list[tuple[str, str]]:
    return [(f.name, f.type) for f in dataset.facets["schema"].fields]  # type: ignore[attr-defined]


def route(sandbox: RunningSandbox, path: str) -> tuple[str, str]:
    """The OpenLineage (namespace, name) of a sandbox route: scheme://host:port and the whole path."""
    base = urlsplit(sandbox.base_url)
    return f"{base.scheme}://{base.hostname}:{base.port}", f"{base.path}{path}"


def expected_sql_place(dest: SqlDestination, table: str) -> Place:
    """The OpenLineage conventions for each database, from the destination's own connection settings."""
    if dest.kind == "sqlite":  # no convention: the database file is the datasource
        return Place(f"sqlite://{dest.name}", table)
    if dest.kind == "postgres":  # postgres://{host}:{port} + {database}.{schema}.{table}
        return Place("postgres://127.0.0.1:5432", f"{PG_URI.rsplit('/', 1)[-1]}.{dest.name}.{table}")
    return Place("mysql://127.0.0.1:3306", f"{dest.name}.{table}")  # mysql://{host}:{port} + {database}.{table}


def stored_rows(dest: SqlDestination, table: str) -> int:
    _, rows = dest.query(f"SELECT COUNT(*) FROM {dest.quote(table)}")
    return int(rows[0][0])


@pytest.mark.databases
@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mysql"])
def test_sql_outputs_are_named_as_the_database_is_with_registry_schema_and_stored_counts(
    kind: str, make_destination, sandbox: RunningSandbox, use_sandbox
) -> None:
    use_sandbox(sandbox)
    dest = make_destination(kind)
    dataset = get_dataset("usage")
    operator = CodexToSqlOperator(task_id="load", dataset="usage", sql_conn_id=dest.conn_id, start=START, end=END)

    started = operator.get_openlineage_facets_on_start()
    operator.execute({})
    done = operator.get_openlineage_facets_on_complete(None)

    for lineage in (started, done):
        assert [(i.namespace, i.name) for i in lineage.inputs] == [
            route(sandbox, f"/analytics/codex/workspaces/{sandbox.workspace_id}/usage")
        ]
        assert [Place(o.namespace, o.name) for o in lineage.outputs] == [
            expected_sql_place(dest, spec.name) for spec in dataset.tables
        ]
        for output, spec in zip(lineage.outputs, dataset.tables, strict=True):
            assert schema_fields(output) == registry_fields(spec.name)
    assert all(not o.outputFacets for o in started.outputs), "no counts before the run"
    counts = {o.name.rsplit(".", 1)[-1]: o.outputFacets["outputStatistics"].rowCount for o in done.outputs}
    assert counts == {spec.name: stored_rows(dest, spec.name) for spec in dataset.tables}
    assert counts["codex_usage_user_daily"] > 0


def test_storage_outputs_are_named_as_the_store_is_with_registry_schema_and_stored_counts(
    storage: StorageDestination, sandbox: RunningSandbox, use_sandbox
) -> None:
    use_sandbox(sandbox)
    dataset = get_dataset("code_reviews")
    operator = CodexToStorageOperator(task_id="load", dataset="code_reviews", path=storage.url, start=START, end=END)
    operator.execute({})
    done = operator.get_openlineage_facets_on_complete(None)

    assert [(i.namespace, i.name) for i in done.inputs] == [
        route(sandbox, f"/analytics/codex/workspaces/{sandbox.workspace_id}/code_reviews")
    ]
    (output,) = done.outputs
    table = dataset.tables[0].name
    assert (output.namespace, output.name) == ("file", f"{storage.root}/{table}")  # file + the absolute path
    assert schema_fields(output) == registry_fields(table)
    assert output.outputFacets["outputStatistics"].rowCount == len(storage.read(table)) == len(DAYS)


def test_the_archive_reports_its_folder_and_the_files_it_holds(
    tmp_path, live_sandbox: RunningSandbox, use_sandbox
) -> None:
    sandbox = live_sandbox  # on the real clock: the archive checks the API's 30-day retention
    use_sandbox(sandbox)
    day = datetime.now(UTC).date() - timedelta(days=3)
    operator = CodexLogFilesToStorageOperator(
        task_id="archive", path=f"file://{tmp_path}", start=day.isoformat(), end=(day + timedelta(days=1)).isoformat()
    )
    operator.execute({})
    done = operator.get_openlineage_facets_on_complete(None)

    assert [(i.namespace, i.name) for i in done.inputs] == [
        route(sandbox, f"/compliance/workspaces/{sandbox.workspace_id}/logs")
    ]
    (output,) = done.outputs
    assert (output.namespace, output.name) == ("file", f"{tmp_path}/{LOG_FILES_FOLDER}")
    assert "schema" not in output.facets, "verbatim files: no table schema"
    archived = [p for p in (tmp_path / LOG_FILES_FOLDER).rglob("*") if p.is_file() and p.name != MANIFEST_NAME]
    assert output.outputFacets["outputStatistics"].fileCount == len(archived) > 0


@pytest.mark.parametrize(
    ("path", "place"),
    [
        ("s3://aws_default@codex-bucket/lake/codex_tasks", Place("s3://codex-bucket", "lake/codex_tasks")),
        ("gs://codex-bucket/lake/codex_tasks", Place("gs://codex-bucket", "lake/codex_tasks")),
        ("file:///data/lake/codex_tasks", Place("file", "/data/lake/codex_tasks")),
        ("/data/lake/codex_tasks", Place("file", "/data/lake/codex_tasks")),
    ],
)
def test_object_storage_paths_follow_the_conventions_without_the_connection(path: str, place: Place) -> None:
    """``s3://{bucket}`` + key, ``gs://{bucket}`` + key, ``file`` + the absolute path: never the conn id."""
    assert storage_place(path) == place


def test_a_prefixed_load_counts_its_rows_in_its_asset_events(
    make_destination, sandbox: RunningSandbox, use_sandbox
) -> None:
    """The Asset events of a load with ``table_prefix`` carry the rows per day (the summary counts by registry name)."""
    from types import SimpleNamespace
    from typing import Any

    use_sandbox(sandbox)
    dest = make_destination("sqlite")
    operator = CodexToSqlOperator(
        task_id="load", dataset="usage", sql_conn_id=dest.conn_id, table_prefix="raw_", start=START, end=END
    )
    events: dict[Any, SimpleNamespace] = {}

    class Outlets(dict[Any, SimpleNamespace]):
        def __missing__(self, key: Any) -> SimpleNamespace:
            events[key] = self[key] = SimpleNamespace(extra=None)
            return self[key]

    operator.execute({"outlet_events": Outlets()})
    assert events, "the load emitted no Asset event"
    for asset, event in events.items():
        table = asset.name.removeprefix("codex.")
        assert table.startswith("raw_")
        _, rows = dest.query(f"SELECT day, COUNT(*) FROM {dest.quote(table)} GROUP BY day ORDER BY day")
        stored = {str(day)[:10]: int(n) for day, n in rows}
        assert stored, f"nothing stored in {table}"
        assert event.extra["rows_per_day"] == stored
        assert event.extra["rows"] == sum(stored.values())
