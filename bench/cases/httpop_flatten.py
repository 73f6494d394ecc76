"""The code a user writes around ``HttpOperator`` to load Codex usage without the provider.

The ``pagination_function`` reads each page's ``has_more``/``next_page``; the
``response_filter`` flattens every page into the same three tables the provider
fills (user/day, user/client/day, user/model/day), as lists (they travel by
XCom); the load task creates the tables and calls ``insert_rows``. The route,
page size and paging fields come from the package's registry (``bench.config.api_facts``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench.config import WORKSPACE_ID, api_facts

_USAGE = api_facts()["usage"]
_PAGING = _USAGE["paging"]
USAGE_PATH: str = _USAGE["route"]
#: The query of the first page: the window (templated from the run's params) and the largest page.
USAGE_QUERY = {
    _USAGE["window"][0]: "{{ params.start_ts }}",
    _USAGE["window"][1]: "{{ params.end_ts }}",
    api_facts()["limit_param"]: _USAGE["limit"],
}

USER_COLUMNS = (
    "workspace_id",
    "day",
    "user_id",
    "email",
    "actor_type",
    "threads",
    "turns",
    "credits",
    "cost_usd",
    "estimated_cost_usd",
    "lines_added",
    "lines_removed",
    "loaded_at",
)
CLIENT_COLUMNS = (
    "workspace_id",
    "day",
    "user_id",
    "client_id",
    "threads",
    "turns",
    "credits",
    "uncached_text_input_tokens",
    "cached_text_input_tokens",
    "text_output_tokens",
    "text_total_tokens",
    "loaded_at",
)
MODEL_COLUMNS = ("workspace_id", "day", "user_id", "model", "speed", "credits", "loaded_at")
TABLES = {
    "codex_usage_user_daily": (USER_COLUMNS, ("workspace_id", "day", "user_id")),
    "codex_usage_user_client_daily": (CLIENT_COLUMNS, ("workspace_id", "day", "user_id", "client_id")),
    "codex_usage_user_model_daily": (MODEL_COLUMNS, ("workspace_id", "day", "user_id", "model", "speed")),
}
_TEXT = {"workspace_id", "day", "user_id", "email", "actor_type", "client_id", "model", "speed", "loaded_at"}
_FLOAT = {"credits", "cost_usd", "estimated_cost_usd"}


def next_page(response: Any) -> dict[str, Any] | None:
    body = response.json()
    if body.get(_PAGING["has_more_field"]):
        return {"data": {_PAGING["cursor_param"]: body[_PAGING["cursor_field"]]}}
    return None


def flatten_responses(responses: list[Any]) -> dict[str, list[list[Any]]]:
    loaded_at = datetime.now(UTC).isoformat()
    users: list[list[Any]] = []
    clients: list[list[Any]] = []
    models: list[list[Any]] = []
    for response in responses:
        for row in response.json()[_PAGING["data_field"]]:
            day = datetime.fromtimestamp(row["start_time"], UTC).date().isoformat()
            user_id = row.get("user_id") or (row.get("actor") or {}).get("user_id") or ""
            actor = row.get("actor") or {}
            totals = row.get("totals") or {}
            lines = row.get("code_attribution") or {}
            users.append(
                [
                    WORKSPACE_ID,
                    day,
                    user_id,
                    actor.get("email"),
                    actor.get("type"),
                    totals.get("threads"),
                    totals.get("turns"),
                    totals.get("credits"),
                    totals.get("cost_usd"),
                    totals.get("estimated_cost_usd"),
                    lines.get("lines_added"),
                    lines.get("lines_removed"),
                    loaded_at,
                ]
            )
            for client in row.get("clients") or ():
                clients.append([WORKSPACE_ID, day, user_id, *(client.get(c) for c in CLIENT_COLUMNS[3:-1]), loaded_at])
            for model in row.get("models") or ():
                models.append(
                    [
                        WORKSPACE_ID,
                        day,
                        user_id,
                        model.get("model"),
                        model.get("speed"),
                        model.get("credits"),
                        loaded_at,
                    ]
                )
    return {
        "codex_usage_user_daily": users,
        "codex_usage_user_client_daily": clients,
        "codex_usage_user_model_daily": models,
    }


def _ddl(table: str, columns: tuple[str, ...], key: tuple[str, ...], postgres: bool) -> str:
    def kind(column: str) -> str:
        if column in _TEXT:
            return "TEXT"
        if column in _FLOAT:
            return "DOUBLE PRECISION" if postgres else "REAL"
        return "BIGINT" if postgres else "INTEGER"

    body = ", ".join(f"{c} {kind(c)}" for c in columns)
    return f"CREATE TABLE IF NOT EXISTS {table} ({body}, PRIMARY KEY ({', '.join(key)}))"


def insert(tables: dict[str, list[list[Any]]], conn_id: str, schema: str | None) -> dict[str, int]:
    """Create the tables if needed, then ``insert_rows`` each one (``executemany``, 5,000 a commit)."""
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(conn_id).get_hook()
    postgres = hook.conn_type == "postgres"
    counts = {}
    for table, rows in tables.items():
        columns, key = TABLES[table]
        name = f"{schema}.{table}" if schema else table
        hook.run(_ddl(name, columns, key, postgres))
        hook.insert_rows(name, rows, target_fields=columns, commit_every=5000, executemany=True)
        counts[table] = len(rows)
    return counts
