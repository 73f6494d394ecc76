"""What the Codex view reads from Airflow: the Codex DAGs a user may read, their latest loads, their destinations.

Everything is read through Airflow's own public REST API, *as the user* (their
token), so Airflow's auth manager decides what they see, DAG by DAG, exactly
as in the rest of the UI: an asset event of a DAG the user may not read is
never returned to them. Nothing here touches the metadata DB itself.

* **Codex DAGs**: the DAGs with a task that produces a Codex table Asset
  (``codex.<table>``, which every load operator and the views operator declare
  as outlets), i.e. the DAGs using the provider's operators.
* **Latest loads**: the Asset events of those tables in the last days asked
  for (bounded: at most :data:`MAX_EVENTS`), newest first.
* **Destinations**: each event's extra says where the rows went (connection,
  schema, table); the workspace is the views operator's ``workspace_id``, or
  the ``workspace_id`` of the ``codex_conn_id`` the loading task rendered.

Every value that comes back is checked before use (an event's extra is
written by DAG code): a malformed one is skipped, never trusted.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from airflow_provider_codex.datasets import DATASETS

#: The name every Codex table Asset has (``table_asset``): ``codex.<table>``.
ASSET_NAME_PREFIX = "codex."
#: Most Codex DAGs, assets and events one page reads: the page stays bounded however big the deployment.
MAX_DAGS, MAX_ASSETS, MAX_EVENTS = 50, 200, 500
#: What an identifier (a connection id, a schema, a table prefix) may look like here.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")

#: ``(path under /api/v2, query params) -> JSON``; raises :class:`ApiRefused` on a 4xx/5xx answer.
ApiGet = Callable[[str, Mapping[str, Any]], Awaitable[Any]]


class ApiRefused(Exception):
    """Airflow's REST API answered a request of the view with an error status (401, 403, 404...)."""

    def __init__(self, path: str, status: int) -> None:
        super().__init__(f"GET /api/v2/{path}: {status}")
        self.status = status


#: The storage formats a load writes (``CodexToStorageOperator``'s ``file_format``).
FILE_FORMATS = ("jsonl", "parquet")


@dataclass(frozen=True)
class Destination:
    """One destination and workspace the view reads coverage from: a SQL connection, or a storage path."""

    sql_conn_id: str | None
    schema: str | None
    table_prefix: str
    workspace_id: str | None
    path: str | None = None
    file_format: str | None = None

    @property
    def label(self) -> str:
        """What the page calls it: ``conn.schema`` or the path (without any user or password part)."""
        if self.path is not None:
            parts = urlsplit(self.path)
            host = parts.hostname or ""
            return urlunsplit((parts.scheme, host, parts.path, "", "")) if parts.scheme else self.path
        return f"{self.sql_conn_id}.{self.schema}" if self.schema else str(self.sql_conn_id)


@dataclass(frozen=True)
class LoadEvent:
    """One Asset event of a Codex table: a load (``dataset``) or a view build (``view``)."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    table: str
    timestamp: datetime
    dataset: str | None
    view: str | None
    start: str | None
    end: str | None
    rows: int | None
    sql_conn_id: str | None
    schema: str | None
    workspace_id: str | None
    path: str | None = None
    file_format: str | None = None

    @property
    def days(self) -> str:
        """The load's days, first to last (the extra's ``end`` is exclusive): ``2026-03-01 to 2026-03-07``."""
        try:
            first, end = date.fromisoformat(self.start or ""), date.fromisoformat(self.end or "")
        except ValueError:
            return ""
        last = end - timedelta(days=1)
        return first.isoformat() if last <= first else f"{first.isoformat()} to {last.isoformat()}"

    @property
    def table_prefix(self) -> str | None:
        """The prefix the table was written with (``raw_`` of ``raw_codex_usage_user_daily``), if known."""
        dataset = DATASETS.get(self.dataset or "")
        if dataset is None:
            return None
        for spec in dataset.tables:
            if self.table.endswith(spec.name):
                return self.table[: -len(spec.name)]
        return None


@dataclass
class Sources:
    """What one user may see of the Codex DAGs."""

    codex_dags: list[str] = field(default_factory=list)
    readable_dags: list[str] = field(default_factory=list)
    events: list[LoadEvent] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """There are Codex DAGs, and the user may read none of them."""
        return bool(self.codex_dags) and not self.readable_dags


def _text(value: Any, *, limit: int = 200) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _identifier(value: Any) -> str | None:
    text = _text(value)
    return text if text is not None and _IDENTIFIER.match(text) else None


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def event_from_json(item: Mapping[str, Any]) -> LoadEvent | None:
    """A :class:`LoadEvent` of one ``/assets/events`` item; ``None`` unless it is a Codex table's, from a DAG."""
    keys = ("name", "source_dag_id", "source_task_id", "source_run_id")
    name, dag_id, task_id, run_id = (_text(item.get(k)) for k in keys)
    if name is None or not name.startswith(ASSET_NAME_PREFIX) or dag_id is None or task_id is None or run_id is None:
        return None
    try:
        timestamp = datetime.fromisoformat(str(item.get("timestamp")))
    except ValueError:
        return None
    extra = _object(item.get("extra"))
    destination = _object(extra.get("destination"))
    map_index = item.get("source_map_index")
    return LoadEvent(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=map_index if isinstance(map_index, int) else -1,
        table=_identifier(extra.get("table")) or name.removeprefix(ASSET_NAME_PREFIX),
        timestamp=timestamp,
        dataset=_identifier(extra.get("dataset")),
        view=_identifier(extra.get("view")),
        start=_text(extra.get("start"), limit=10),
        end=_text(extra.get("end"), limit=10),
        rows=_count(extra.get("rows")),
        sql_conn_id=_identifier(destination.get("sql_conn_id")),
        schema=_identifier(destination.get("schema")),
        workspace_id=_identifier(extra.get("workspace_id")),
        path=_text(destination.get("path"), limit=1000),
        file_format=destination.get("format") if destination.get("format") in FILE_FORMATS else None,
    )


async def codex_dag_ids(get: ApiGet) -> list[str]:
    """The DAGs producing a Codex table Asset (whoever may read them), sorted."""
    assets = await get("assets", {"name_prefix_pattern": ASSET_NAME_PREFIX, "limit": MAX_ASSETS})
    dag_ids = {
        str(task["dag_id"])
        for asset in assets.get("assets", [])
        for task in asset.get("producing_tasks", [])
        if isinstance(task, dict) and _text(task.get("dag_id"))
    }
    return sorted(dag_ids)[:MAX_DAGS]


async def may_read_dag(get: ApiGet, dag_id: str) -> bool:
    """Whether the user may read ``dag_id``: Airflow's own answer to ``GET /dags/{dag_id}``."""
    try:
        await get(f"dags/{quote(dag_id, safe='')}", {})
    except ApiRefused as refused:
        if refused.status in (403, 404):
            return False
        raise
    return True


async def latest_events(get: ApiGet, since: datetime) -> list[LoadEvent]:
    """The Codex tables' Asset events since ``since`` that the user may see, newest first (at most MAX_EVENTS)."""
    page = await get(
        "assets/events",
        {
            "name_prefix_pattern": ASSET_NAME_PREFIX,
            "timestamp_gte": since.isoformat(),
            "order_by": "-timestamp",
            "limit": MAX_EVENTS,
        },
    )
    events = (event_from_json(item) for item in page.get("asset_events", []) if isinstance(item, dict))
    return [event for event in events if event is not None]


async def read_sources(get: ApiGet, since: datetime) -> Sources:
    """The Codex DAGs, those the user may read, and the latest loads of those."""
    sources = Sources(codex_dags=await codex_dag_ids(get))
    sources.readable_dags = [dag_id for dag_id in sources.codex_dags if await may_read_dag(get, dag_id)]
    readable = set(sources.readable_dags)
    sources.events = [e for e in await latest_events(get, since) if e.dag_id in readable]
    return sources


def task_instance_path(event: LoadEvent, *, map_index: bool = True) -> str:
    """``dags/…/dagRuns/…/taskInstances/…[/map_index]``: the REST path of the task instance behind ``event``."""
    parts = ["dags", event.dag_id, "dagRuns", event.run_id, "taskInstances", event.task_id]
    path = "/".join(quote(part, safe="") for part in parts)
    return f"{path}/{event.map_index}" if map_index and event.map_index >= 0 else path


async def rendered_codex_conn_id(get: ApiGet, event: LoadEvent) -> str | None:
    """The ``codex_conn_id`` the event's task instance rendered (its workspace's connection), if readable."""
    try:
        instance = await get(task_instance_path(event), {})
    except ApiRefused:
        return None
    rendered = instance.get("rendered_fields") if isinstance(instance, dict) else None
    return _identifier(rendered.get("codex_conn_id")) if isinstance(rendered, dict) else None


def latest_per_task(events: Iterable[LoadEvent]) -> list[LoadEvent]:
    """The newest event of each (DAG, task, table): what the destinations are read from."""
    seen: dict[tuple[str, str, str], LoadEvent] = {}
    for event in events:
        key = (event.dag_id, event.task_id, event.table)
        if key not in seen or event.timestamp > seen[key].timestamp:
            seen[key] = event
    return sorted(seen.values(), key=lambda e: e.timestamp, reverse=True)
