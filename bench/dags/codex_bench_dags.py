"""The benchmark's DAGs, copied into a temp DAGs folder and run with ``dag.test()``.

- ``bench_provider_<dataset>``: the provider's ``CodexToSqlOperator``, one task;
- ``bench_httpop``: what a user writes without the provider: Airflow's ``HttpOperator``
  with a ``pagination_function`` (the rows travel by XCom), then ``insert_rows``;
- ``bench_warmup``: one empty task, run first in each worker process.

Where the data goes and which days come from the run's conf (params).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG, Param, task

from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator
from bench.cases import httpop_flatten

PARAMS = {
    "start": Param("2026-01-01", type="string"),
    "end": Param("2026-01-02", type="string"),
    "sql_conn_id": Param("bench_sqlite", type="string"),
    "schema": Param("", type="string"),
    # Unix seconds of start and end, for the HttpOperator's query.
    "start_ts": Param(0, type="integer"),
    "end_ts": Param(0, type="integer"),
}
WINDOW = {"start": "{{ params.start }}", "end": "{{ params.end }}"}
START = datetime(2026, 1, 1, tzinfo=UTC)


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, params=PARAMS, catchup=False, max_active_tasks=4)


#: Each database: its connection and the schema the provider writes to.
DATABASES = {"sqlite": ("bench_sqlite", None), "postgres": ("bench_postgres", "bench_provider")}

for _name in ("usage", "compliance_events"):
    for _db, (_conn_id, _schema) in DATABASES.items():
        with _dag(f"bench_provider_{_name}_{_db}") as _provider_dag:
            CodexToSqlOperator(
                task_id="load",
                dataset=_name,
                codex_conn_id="codex_bench",
                sql_conn_id=_conn_id,
                schema=_schema,
                **WINDOW,
            )
        globals()[_provider_dag.dag_id] = _provider_dag


with _dag("bench_warmup") as bench_warmup:
    # Run once per worker before a measured run: dag.test() boots its in-process Execution API on
    # the first task of a process (about 6 s here), a cost no scheduled task pays.

    @task
    def noop() -> None:
        return None

    noop()


with _dag("bench_httpop") as bench_httpop:
    fetch = HttpOperator(
        task_id="fetch",
        http_conn_id="bench_http",
        method="GET",
        endpoint=httpop_flatten.USAGE_PATH,
        data=httpop_flatten.USAGE_QUERY,
        pagination_function=httpop_flatten.next_page,
        response_filter=httpop_flatten.flatten_responses,
        log_response=False,
    )

    @task
    def load(tables: dict[str, list[list[Any]]], params: dict[str, Any] | None = None) -> dict[str, int]:
        return httpop_flatten.insert(tables, (params or {})["sql_conn_id"], (params or {}).get("schema") or None)

    load(fetch.output)  # type: ignore[arg-type]  # an XComArg: the value at run time
