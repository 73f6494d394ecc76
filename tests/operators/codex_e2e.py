"""Helpers of the end-to-end operator tests: real destinations, DAG runs, and the expected rows.

Every destination is isolated per test: a SQLite file, a PostgreSQL schema (the
connection's ``search_path``), a MariaDB database, a ``file://`` folder. Tables
are read back with the plain drivers (not the provider's hooks) and values are
normalized to Python types, so rows compare field by field with what the
sandbox served.

The expected rows are built here from the sandbox's data accessors, with code
of its own: it does not call the provider's flatteners, content policy or table
specs (only the column *types* are taken from the specs, to read values back).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import MySQLdb
import psycopg
from codex_testing.sandbox import RunningSandbox

from airflow_provider_codex.tables import TABLES, ColumnType

PG_URI = os.environ.get("CODEX_TEST_PG_URI", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""}
SQL_KINDS = ("sqlite", "postgres", "mysql")
CONTENT_FIELDS = ("prompt_text", "response_text", "tool_input")
#: The salt of the test connection; hashes are checked against HMAC-SHA256 computed here.
HASH_SALT = "e2e-pepper-0f3c"
GRACE = timedelta(hours=6)  # the operators' default grace for late compliance events

#: The tables each dataset fills (written here, not read from the registry: a dataset that lost
#: or gained a table must show up as a failure).
DATASET_TABLES: dict[str, tuple[str, ...]] = {
    "usage": ("codex_usage_user_daily", "codex_usage_user_client_daily", "codex_usage_user_model_daily"),
    "usage_workspace": (
        "codex_usage_workspace_daily",
        "codex_usage_workspace_client_daily",
        "codex_usage_workspace_model_daily",
    ),
    "code_reviews": ("codex_code_reviews_daily",),
    "code_review_responses": ("codex_code_review_responses_daily",),
    "compliance_events": ("codex_compliance_events",),
    "codex_tasks": ("codex_tasks",),
    "codex_environments": ("codex_environments",),
}
#: The key of each table (one row per key value).
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "codex_usage_user_daily": ("day", "user_id"),
    "codex_usage_user_client_daily": ("day", "user_id", "client_id"),
    "codex_usage_user_model_daily": ("day", "user_id", "model", "speed"),
    "codex_usage_workspace_daily": ("day",),
    "codex_usage_workspace_client_daily": ("day", "client_id"),
    "codex_usage_workspace_model_daily": ("day", "model", "speed"),
    "codex_code_reviews_daily": ("day",),
    "codex_code_review_responses_daily": ("day",),
    "codex_compliance_events": ("event_id",),
    "codex_tasks": ("snapshot_day", "id"),
    "codex_environments": ("snapshot_day", "id"),
}
DAY_COLUMN = {t: ("snapshot_day" if t in ("codex_tasks", "codex_environments") else "day") for t in TABLE_KEYS}
ANALYTICS = ("usage", "usage_workspace", "code_reviews", "code_review_responses")
#: The load ledger every SQL load writes with its days (one row per workspace, day and table), and its types.
LEDGER_TABLE = "codex_load_ledger"
LEDGER_TYPES = {"day": ColumnType.DATE, "row_count": ColumnType.INTEGER, "loaded_at": ColumnType.TIMESTAMP}
SNAPSHOTS = ("codex_tasks", "codex_environments")


def days_of(start: date, end: date) -> list[date]:
    """``[start, end)`` as a list of days."""
    return [start + timedelta(days=i) for i in range((end - start).days)]


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- connections ------------------------------------------------------------------------


def codex_connection(sandbox: RunningSandbox, **extra: Any) -> str:
    """The JSON of a ``codex`` connection to ``sandbox`` (``extra`` overrides fields)."""
    fields = {"content_hash_secret": HASH_SALT, "requests_per_minute": 100_000} | extra
    return json.dumps(sandbox.connection(**fields))


# -- normalizing values read back -------------------------------------------------------


def normalize(value: Any, kind: ColumnType | None) -> Any:
    """A value as a database driver (or a JSON Lines file) gives it -> the Python value it stands for."""
    if value is None:
        return None
    if kind is ColumnType.DATE:
        if isinstance(value, datetime):
            return value.date()
        return date.fromisoformat(value) if isinstance(value, str) else value
    if kind is ColumnType.TIMESTAMP:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if kind is ColumnType.JSON:
        return json.loads(value) if isinstance(value, str | bytes) else value
    if kind is ColumnType.FLOAT:
        return float(value)
    if kind is ColumnType.BOOLEAN:
        return bool(value)
    if kind is ColumnType.INTEGER:
        return int(value)
    return value


def column_types(table: str, extra: Mapping[str, ColumnType] | None = None) -> dict[str, ColumnType]:
    known = LEDGER_TYPES if table == LEDGER_TABLE else TABLES[table].types
    return {**known, **(extra or {})}


def assert_ledger(ledger: Iterable[Mapping[str, Any]], table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """The load ledger has every day ``rows`` (the table's) hold, each with their count; its other days hold none.

    (A quiet day the loads covered is in the ledger with 0 rows.)
    """
    rows = list(rows)
    workspaces = {r["workspace_id"] for r in rows}
    counts = Counter((r["workspace_id"], r[DAY_COLUMN[table]]) for r in rows)
    got = {(r["workspace_id"], r["day"]): r["row_count"] for r in ledger if r["table_name"] == table}
    got = {key: n for key, n in got.items() if key[0] in workspaces or not workspaces}
    assert set(counts) <= set(got), f"{table}: days with rows but no ledger row: {sorted(set(counts) - set(got))}"
    wrong = {key: (n, counts.get(key, 0)) for key, n in got.items() if n != counts.get(key, 0)}
    assert not wrong, f"{table}: (ledger, table) rows differ on {wrong}"


# -- destinations -----------------------------------------------------------------------


@dataclass
class SqlDestination:
    """One real database, isolated for one test (its own SQLite file, schema or database)."""

    kind: str
    conn_id: str
    name: str  # SQLite: the file; PostgreSQL: the schema; MariaDB: the database
    conn_json: str

    @contextmanager
    def connect(self) -> Iterator[Any]:
        if self.kind == "sqlite":
            import sqlite3

            conn: Any = sqlite3.connect(self.name)
        elif self.kind == "postgres":
            conn = psycopg.connect(PG_URI, options=f"-c search_path={self.name}")
        else:
            conn = MySQLdb.connect(db=self.name, **MYSQL)
        with closing(conn):
            yield conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self.connect() as conn:
            cur = conn.cursor()
            cur.execute(sql, params)
            rows = [tuple(r) for r in cur.fetchall()]
            names = [d[0] for d in cur.description]
            conn.rollback()
        return names, rows

    def quote(self, name: str) -> str:
        return f"`{name}`" if self.kind == "mysql" else f'"{name}"'

    def tables(self) -> set[str]:
        if self.kind == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        elif self.kind == "postgres":
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        else:
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        return {r[0] for r in self.query(sql)[1]}

    def columns(self, table: str) -> list[str]:
        return self.query(f"SELECT * FROM {self.quote(table)} WHERE 1 = 0")[0]

    def read(self, table: str, extra_types: Mapping[str, ColumnType] | None = None) -> list[dict[str, Any]]:
        """Every row of ``table``, values normalized."""
        types = column_types(table, extra_types)
        names, rows = self.query(f"SELECT * FROM {self.quote(table)}")
        return [{n: normalize(v, types.get(n)) for n, v in zip(names, row, strict=True)} for row in rows]

    def drop(self) -> None:
        if self.kind == "sqlite":
            Path(self.name).unlink(missing_ok=True)
        elif self.kind == "postgres":
            with closing(psycopg.connect(PG_URI, autocommit=True)) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        else:
            with closing(MySQLdb.connect(**MYSQL)) as conn:
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{self.name}`")


def make_sql_destination(kind: str, tmp_path: Path) -> SqlDestination:
    """Create an empty, uniquely named place in a real database and an Airflow connection to it."""
    token = uuid.uuid4().hex[:10]
    conn_id = f"codex_e2e_{kind}_{token}"
    if kind == "sqlite":
        path = str(tmp_path / f"{token}.db")
        conn = {"conn_type": "sqlite", "host": path}
        return SqlDestination(kind, conn_id, path, json.dumps(conn))
    name = f"codex_e2e_{token}"
    if kind == "postgres":
        with closing(psycopg.connect(PG_URI, autocommit=True)) as pg:
            pg.execute(f'CREATE SCHEMA "{name}"')
        conn = {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": 5432,
            "login": "postgres",
            "schema": PG_URI.rsplit("/", 1)[-1],
            "extra": {"options": f"-c search_path={name}"},
        }
        return SqlDestination(kind, conn_id, name, json.dumps(conn))
    if kind == "mysql":
        with closing(MySQLdb.connect(**MYSQL)) as my:
            my.cursor().execute(f"CREATE DATABASE `{name}`")
        conn = {"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "schema": name}
        return SqlDestination(kind, conn_id, name, json.dumps(conn))
    raise ValueError(kind)


@contextmanager
def temporary_sql_destination(kind: str, tmp_path: Path) -> Iterator[SqlDestination]:
    """:func:`make_sql_destination`, dropped when the block exits (also on failure)."""
    destination = make_sql_destination(kind, tmp_path)
    try:
        yield destination
    finally:
        destination.drop()


@dataclass
class StorageDestination:
    """A ``file://`` folder read back as Hive-style partitions of gzip JSON Lines."""

    root: Path

    @property
    def url(self) -> str:
        return f"file://{self.root}"

    def partition_files(self, table: str) -> list[Path]:
        return sorted((self.root / table).glob("workspace_id=*/*=*/*"))

    def read(self, table: str, extra_types: Mapping[str, ColumnType] | None = None) -> list[dict[str, Any]]:
        """Every row of ``table``: the partition values from the path, the rest from the files."""
        types = column_types(table, extra_types)
        rows = []
        for path in self.partition_files(table):
            if path.name.startswith(("_", ".")):
                continue
            workspace = path.parent.parent.name.split("=", 1)[1]
            day_column, day = path.parent.name.split("=", 1)
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                for line in fh:
                    record = json.loads(line)
                    record["workspace_id"] = workspace
                    record[day_column] = day
                    rows.append({n: normalize(v, types.get(n)) for n, v in record.items()})
        return rows


# -- comparing ----------------------------------------------------------------------------


def strip_loaded_at(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "loaded_at"} for r in rows]


def assert_same_rows(table: str, actual: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]]) -> None:
    """One actual row per expected row, equal field by field (``loaded_at`` aside); no duplicates."""
    key = TABLE_KEYS[table]

    def key_of(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(str(row.get(k)) for k in key)

    counts = Counter(key_of(r) for r in actual)
    duplicates = [k for k, n in counts.items() if n > 1]
    assert not duplicates, f"{table}: {len(duplicates)} keys stored more than once, e.g. {duplicates[:3]}"
    assert len({key_of(r) for r in expected}) == len(expected), f"{table}: the expected rows repeat a key"
    got = {key_of(r): r for r in strip_loaded_at(actual)}
    want = {key_of(r): dict(r) for r in expected}
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, (
        f"{table}: {len(missing)} expected rows missing (e.g. {missing[:3]}), "
        f"{len(extra)} unexpected (e.g. {extra[:3]})"
    )
    for k, row in want.items():
        if got[k] != row:
            diff = {c: (got[k].get(c, "<absent>"), row.get(c, "<absent>")) for c in set(got[k]) | set(row)}
            diff = {c: v for c, v in diff.items() if v[0] != v[1]}
            raise AssertionError(f"{table} row {k}: (stored, served) differ in {diff}")


def counts_per_day(table: str, rows: Iterable[Mapping[str, Any]], days: Iterable[date]) -> dict[str, int]:
    """Rows per day, every day of ``days`` present (0 when none), as the summary reports them."""
    column = DAY_COLUMN[table]
    counts = {d.isoformat(): 0 for d in days}
    for row in rows:
        counts[row[column].isoformat()] += 1
    return counts


# -- the expected rows, from what the sandbox served -----------------------------------------


def hmac_hex(text: str) -> str:
    return hmac.new(HASH_SALT.encode(), text.encode(), hashlib.sha256).hexdigest()


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_content(node: Any) -> Any:
    """A copy of a record with every content field (at any depth) hashed, as the default policy stores it."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in CONTENT_FIELDS and value is not None:
                out[key] = hmac_hex(value if isinstance(value, str) else canonical(value))
            else:
                out[key] = hash_content(value)
        return out
    if isinstance(node, list):
        return [hash_content(v) for v in node]
    return node


def cleartexts(events: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every content text the events carry (prompts, responses, tool inputs)."""
    return {e[f] for e in events for f in CONTENT_FIELDS if isinstance(e.get(f), str) and e[f]}


def _usage(ws: str, day: date, row: Mapping[str, Any], per_user: bool) -> dict[str, list[dict[str, Any]]]:
    actor = row.get("actor") or {}
    totals = row.get("totals") or {}
    attribution = row.get("code_attribution") or {}
    lead: dict[str, Any] = {"workspace_id": ws, "day": day}
    if per_user:
        lead["user_id"] = row.get("user_id") or actor.get("user_id") or ""
    daily = {
        **lead,
        **({"email": actor.get("email"), "actor_type": actor.get("type")} if per_user else {}),
        **{k: totals.get(k) for k in ("threads", "turns", "credits", "cost_usd", "estimated_cost_usd")},
        "lines_added": attribution.get("lines_added"),
        "lines_removed": attribution.get("lines_removed"),
        "extra_json": None,
    }
    token_fields = ("uncached_text_input_tokens", "cached_text_input_tokens", "text_output_tokens", "text_total_tokens")
    clients = [
        {
            **lead,
            "client_id": c["client_id"],
            **{k: c.get(k) for k in ("threads", "turns", "credits", *token_fields)},
            "extra_json": None,
        }
        for c in row.get("clients") or []
    ]
    models = [
        {**lead, "model": m["model"], "speed": m["speed"], "credits": m.get("credits"), "extra_json": None}
        for m in row.get("models") or []
    ]
    return {"daily": [daily], "client": clients, "model": models}


def _event_row(ws: str, event: Mapping[str, Any]) -> dict[str, Any]:
    stored = hash_content(event)
    moment = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).astimezone(UTC)
    actor = event.get("actor") or {}
    principal = event.get("principal") or {}
    details = event.get("event_details") or {}
    usage = details.get("token_usage") or {}
    meta = event.get("request_metadata") or {}
    return {
        "workspace_id": ws,
        "event_id": event["event_id"],
        "day": moment.date(),
        "timestamp": moment,
        "event_type": event.get("type"),
        "event_subtype": event.get("event_type"),
        "actor_type": actor.get("type"),
        "actor_user_id": actor.get("user_id"),
        "actor_email": actor.get("user_email"),
        "principal_id": principal.get("id"),
        "principal_type": principal.get("type"),
        "client_id": event.get("client_id"),
        "session_id": details.get("session_id"),
        "model": details.get("model"),
        **{
            k: usage.get(k) for k in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_output_tokens")
        },
        "decision": details.get("decision"),
        "client_ip": meta.get("client_ip"),
        "user_agent": meta.get("client_user_agent"),
        **{k: stored.get(k) for k in CONTENT_FIELDS},
        "record_json": stored,
    }


@dataclass
class Expected:
    """The expected rows of each table of a dataset, and the cleartext content served."""

    tables: dict[str, list[dict[str, Any]]]
    days: list[date]
    cleartext: set[str] = field(default_factory=set)

    def merged(self, later: Expected) -> Expected:
        """This load followed by ``later`` (which replaces the days it covers)."""
        tables = {}
        for table, rows in self.tables.items():
            column = DAY_COLUMN[table]
            kept = [r for r in rows if r[column] not in set(later.days)]
            tables[table] = kept + later.tables[table]
        return Expected(tables, sorted({*self.days, *later.days}), self.cleartext | later.cleartext)


def expected_rows(
    dataset: str, sandbox: RunningSandbox, days: Sequence[date], *, files_before: datetime | None = None
) -> Expected:
    """What a load of ``days`` must store, built from the sandbox's data accessors.

    ``files_before``: compliance only, the end of the file listing the load used
    (its window's end plus the grace).
    """
    data, ws = sandbox.data, sandbox.workspace_id
    names = DATASET_TABLES[dataset]
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    if dataset in ("usage", "usage_workspace"):
        per_user = dataset == "usage"
        for day in days:
            for row in data.usage_rows(day, None if per_user else "workspace"):
                parts = _usage(ws, day, row, per_user)
                for part, name in zip(("daily", "client", "model"), names, strict=True):
                    tables[name].extend(parts[part])
        return Expected(tables, list(days))
    if dataset == "code_reviews":
        for day in days:
            for row in data.code_review_rows(day):
                details = row.get("comment_details") or {}
                tables[names[0]].append(
                    {
                        "workspace_id": ws,
                        "day": day,
                        "pull_request_reviews": row.get("pull_request_reviews"),
                        "comments": row.get("comments"),
                        **{p: details.get(p) for p in ("p0", "p1", "p2")},
                        "extra_json": None,
                    }
                )
        return Expected(tables, list(days))
    if dataset == "code_review_responses":
        for day in days:
            for row in data.code_review_response_rows(day):
                reactions = row.get("reaction_details") or {}
                responses = row.get("comment_response_details") or {}
                tables[names[0]].append(
                    {
                        "workspace_id": ws,
                        "day": day,
                        **{k: row.get(k) for k in ("pull_request_reviews", "comments", "replies", "reactions")},
                        "upvotes": reactions.get("upvotes"),
                        "downvotes": reactions.get("downvotes"),
                        "other_reactions": reactions.get("other"),
                        **{
                            k: responses.get(k)
                            for k in ("engaged", "reacted", "upvoted", "downvoted", "reacted_other", "replied")
                        },
                        "extra_json": None,
                    }
                )
        return Expected(tables, list(days))
    if dataset == "compliance_events":
        assert files_before is not None, "compliance: give the end of the load's file listing"
        events = [
            e
            for day in days
            for event_type in ("CODEX_LOG", "CODEX_SECURITY_LOG")
            for e in data.events(event_type, day, files_before=files_before)
        ]
        tables[names[0]] = [_event_row(ws, e) for e in events]
        return Expected(tables, list(days), cleartexts(events))
    if dataset in SNAPSHOTS:
        records = data.tasks() if dataset == "codex_tasks" else data.environments()
        snapshot_day = days[-1]
        tables[names[0]] = [
            {"workspace_id": ws, "snapshot_day": snapshot_day, "id": r["id"], "record_json": r} for r in records
        ]
        return Expected(tables, [snapshot_day])
    raise ValueError(dataset)


# -- DAG runs, their summary and their Asset events -------------------------------------------


@dataclass
class Run:
    dag_run: Any
    ti: Any

    @property
    def state(self) -> str:
        return str(self.dag_run.state)

    def summary(self) -> dict[str, Any]:
        value = self.ti.xcom_pull(task_ids="load")
        assert isinstance(value, dict), f"no summary in XCom (got {value!r})"
        return value


def run_dag(test_dags: Mapping[str, Any], dag_id: str, **conf: str) -> Run:
    dag_run = test_dags[dag_id].test(run_conf=conf)
    (ti,) = dag_run.get_task_instances()
    return Run(dag_run, ti)


def asset_events(run: Run) -> list[tuple[str, dict[str, Any]]]:
    """``(asset name, extra)`` of every Asset event the run recorded in the metadata database."""
    from airflow.models.asset import AssetEvent, AssetModel  # noqa: TID251 - the metadata DB's own records
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetModel.name, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .filter(AssetEvent.source_dag_id == run.dag_run.dag_id, AssetEvent.source_run_id == run.dag_run.run_id)
            .all()
        )
    return [(name, dict(extra or {})) for name, extra in rows]


def check_summary_and_assets(run: Run, dataset: str, expected: Expected, window: tuple[date, date]) -> dict[str, Any]:
    """The XCom summary and the Asset events of a successful run match what was expected of it."""
    assert run.state == "success", f"run {run.dag_run.run_id} ended {run.state}"
    summary = run.summary()
    names = DATASET_TABLES[dataset]
    per_day = {t: counts_per_day(t, expected.tables[t], expected.days) for t in names}
    assert summary["dataset"] == dataset
    assert (summary["start"], summary["end"]) == (window[0].isoformat(), window[1].isoformat())
    assert summary["rows"] == per_day, f"summary rows {summary['rows']} != served {per_day}"
    assert summary["total_rows"] == sum(sum(d.values()) for d in per_day.values())
    assert summary["requests"] >= 1 and summary["by_status"].get("200", 0) >= 1
    assert summary["retries"] == 0
    events = asset_events(run)
    assert sorted(name for name, _ in events) == sorted(f"codex.{t}" for t in names), events
    for name, extra in events:
        table = name.removeprefix("codex.")
        assert extra["table"] == table and extra["dataset"] == dataset
        assert extra["rows"] == sum(per_day[table].values())
        assert extra["rows_per_day"] == per_day[table]
        assert (extra["start"], extra["end"]) == (window[0].isoformat(), window[1].isoformat())
    return summary


def string_leaves(value: Any) -> Iterator[str]:
    """Every string inside a value (JSON text parsed)."""
    if isinstance(value, str):
        yield value
        if value[:1] in "{[":
            try:
                parsed = json.loads(value)
            except ValueError:
                return
            yield from string_leaves(parsed)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from string_leaves(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from string_leaves(v)


def leaked(texts: set[str], cells: Iterable[Any]) -> list[str]:
    """The texts of ``texts`` that appear (whole, or their first 40 characters) in any cell."""
    haystack = "\x00".join(s for cell in cells for s in string_leaves(cell))
    return [t for t in texts if t[:40] in haystack]


Reader = Callable[[str], list[dict[str, Any]]]
