"""The dlt cases, run by the dlt venv's Python (dlt is not a dependency of the project).

``bench/.venv-dlt/bin/python bench/cases/dlt_pipeline.py '{"kind": "analytics", ...}'``

- analytics: a ``rest_api`` source over ``/usage`` (cursor paginator on
  ``next_page``/``has_more``, page size 30,000, bearer auth), into SQLite (the
  ``sqlalchemy`` destination) or PostgreSQL. dlt unnests ``clients`` and
  ``models`` into child tables, as the provider does. Write disposition
  ``replace`` into a fresh dataset: the cheapest load dlt has for it;
- compliance: a ``rest_api`` resource lists the log files, a transformer
  downloads each one (the 307 is followed without the key), checks its SHA-256
  and parses its lines; events of the day are merged into PostgreSQL on
  ``event_id`` (dlt's deduplication).

Everything else is dlt's defaults. Only the standard library, orjson and dlt
are imported here: the API facts (routes, page sizes, paging fields) come in the
spec's ``facts``, which the orchestrator reads from the package's registry
(``bench.config.api_facts``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import procstats


def _client(base_url: str, key: str, paging: dict[str, Any]) -> dict[str, Any]:
    """A ``rest_api`` client: bearer auth and the cursor paginator of a route's paging rule."""
    return {
        "base_url": base_url.rstrip("/") + "/",
        "auth": {"type": "bearer", "token": key},
        "paginator": {
            "type": "cursor",
            "cursor_path": paging["cursor_field"],
            "cursor_param": paging["cursor_param"],
            "has_more_path": paging["has_more_field"],
        },
    }


def _destination(database: str, target: str) -> Any:
    import dlt

    if database == "postgres":
        return dlt.destinations.postgres(credentials=target)
    return dlt.destinations.sqlalchemy(credentials=f"sqlite:///{target}")


def _rows_loaded(pipeline: Any) -> int:
    trace = pipeline.last_trace
    counts = trace.last_normalize_info.row_counts if trace and trace.last_normalize_info else {}
    return sum(n for table, n in counts.items() if not table.startswith("_dlt"))


def analytics(
    base_url: str, key: str, start_ts: int, end_ts: int, database: str, target: str, dataset: str, facts: dict[str, Any]
) -> dict[str, Any]:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    usage = facts["usage"]
    source = rest_api_source(
        {
            "client": _client(base_url, key, usage["paging"]),
            "resources": [
                {
                    "name": "codex_usage",
                    "endpoint": {
                        "path": usage["route"].lstrip("/"),
                        "data_selector": usage["paging"]["data_field"],
                        "params": {
                            usage["window"][0]: start_ts,
                            usage["window"][1]: end_ts,
                            facts["limit_param"]: usage["limit"],
                        },
                    },
                    "write_disposition": "replace",
                }
            ],
        }
    )
    with tempfile.TemporaryDirectory(prefix="codex-bench-dlt-") as pipelines_dir:
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{dataset}",
            pipelines_dir=pipelines_dir,
            destination=_destination(database, target),
            dataset_name=dataset,
        )
        started = time.perf_counter()
        pipeline.run(source)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "loaded_rows": _rows_loaded(pipeline), "ok": True}


def compliance(
    base_url: str,
    key: str,
    day: str,
    database: str,
    target: str,
    dataset: str,
    facts: dict[str, Any],
    grace_hours: int = 6,
) -> dict[str, Any]:
    import dlt
    import orjson
    from dlt.sources.helpers import requests
    from dlt.sources.rest_api import rest_api_resources

    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    before = start + timedelta(days=1, hours=grace_hours)
    logs = facts["logs"]
    file_url = base_url + logs["file_route"]

    @dlt.source
    def codex_compliance() -> Any:
        (files,) = rest_api_resources(
            {
                "client": _client(base_url, key, logs["paging"]),
                "resources": [
                    {
                        "name": "log_files",
                        "endpoint": {
                            "path": logs["route"].lstrip("/"),
                            "data_selector": logs["paging"]["data_field"],
                            "params": {
                                logs["event_type_param"]: logs["event_types"],
                                logs["window"][0]: start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                logs["window"][1]: before.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                facts["limit_param"]: logs["limit"],
                            },
                        },
                        "selected": False,
                    }
                ],
            }
        )

        @dlt.transformer(
            data_from=files, name="codex_compliance_events", write_disposition="merge", primary_key="event_id"
        )
        def events(listing: list[dict[str, Any]]) -> Any:
            for entry in listing:
                # requests drops the Authorization header when a redirect changes the origin.
                response = requests.get(
                    file_url.format(log_file_id=entry["id"]), headers={"Authorization": f"Bearer {key}"}
                )
                response.raise_for_status()
                body = response.content
                if hashlib.sha256(body).hexdigest() != entry["file_sha256"]:
                    raise ValueError(f"log file {entry['id']}: SHA-256 mismatch")
                yield [
                    event
                    for line in body.splitlines()
                    if line
                    for event in (orjson.loads(line),)
                    if event["timestamp"].startswith(day)
                ]

        return events

    with tempfile.TemporaryDirectory(prefix="codex-bench-dlt-") as pipelines_dir:
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{dataset}",
            pipelines_dir=pipelines_dir,
            destination=_destination(database, target),
            dataset_name=dataset,
        )
        started = time.perf_counter()
        pipeline.run(codex_compliance())
        seconds = time.perf_counter() - started
        loaded = _count(pipeline, "codex_compliance_events")
        return {"seconds": seconds, "loaded_rows": loaded, "normalized_rows": _rows_loaded(pipeline), "ok": True}


def _count(pipeline: Any, table: str) -> int | None:
    try:
        with pipeline.sql_client() as client:
            rows = client.execute_sql(f"SELECT COUNT(*) FROM {client.make_qualified_table_name(table)}")
            return int(rows[0][0])
    except Exception:  # informative only
        return None


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    kind = spec.pop("kind")
    result = analytics(**spec) if kind == "analytics" else compliance(**spec)
    procstats.emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
