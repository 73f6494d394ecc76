"""The governance views, end to end: sandbox → the real load operators → SQLite, PostgreSQL, MariaDB →
``CodexGovernanceViewsOperator`` → every dashboard and export, figure by figure and day by day.

The expected figures are computed here, straight from what the sandbox served
(``SandboxData``'s rows), with a product table of the test's own, never from
the SQL under test. The days: 2026-02-08 (never loaded: a gap, NULL),
2026-02-09 and 02-10 (quiet days the loads covered: zeros), 02-11 and 02-12
(data). Two view builds of one window and a third overlapping it leave one
row per key; the loaded days the first build learnt from the loads' Asset
events are still known to the later builds.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.sqlite.hooks.sqlite import SqliteHook
from codex_e2e import SqlDestination, asset_events, days_of
from codex_testing.sandbox import RunningSandbox

from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.tables import ColumnType
from airflow_provider_codex.transfers.base import table_asset
from airflow_provider_codex.transfers.codex_views import CodexGovernanceViewsOperator
from airflow_provider_codex.views import VIEWS, VIEWS_BY_NAME, build_views, read_view
from airflow_provider_codex.windows import Window

#: The default registry's products, written out for the surfaces the sandbox serves.
PRODUCT_OF = {
    "CODEX_CLI": "cli",
    "CODEX_EXEC": "cli",
    "CODEX_IDE_VSCODE": "ide",
    "CODEX_IDE_CURSOR": "ide",
    "CODEX_IDE_WINDSURF": "ide",
    "CODEX_IDE_JETBRAINS_PYCHARM": "ide",
    "CODEX_IDE_JETBRAINS_INTELLIJ": "ide",
    "CODEX_WEB": "cloud",
    "CODEX_MOBILE_IOS": "cloud",
    "CODEX_GITHUB": "code_review",
    "CODEX_SLACK": "integrations",
    "CODEX_LINEAR": "integrations",
}  # anything else (CODEX_SDK, CODEX_UNKNOWN_DEFAULT, CODEX_FUTURE_SURFACE): "other"
PRODUCTS = ("cli", "ide", "cloud", "code_review", "integrations", "other", "all")
QUIET = (date(2026, 2, 9), date(2026, 2, 10))
LOAD_FIRST, LOAD_SECOND = (date(2026, 2, 9), date(2026, 2, 12)), (date(2026, 2, 11), date(2026, 2, 13))
VIEW_FIRST, VIEW_SECOND = (date(2026, 2, 8), date(2026, 2, 12)), (date(2026, 2, 11), date(2026, 2, 13))


# -- the expected figures, from what the sandbox served ---------------------------------------


def _total(values: Iterable[int | None]) -> int | None:
    """A SQL SUM: nulls skipped, null when every value is null; 0 for no values (the day is loaded)."""
    values = list(values)
    known = [v for v in values if v is not None]
    return sum(known) if known or not values else None


class Served:
    """The figures of each day, computed from the sandbox's rows; ``None`` everywhere on a day not loaded."""

    def __init__(self, sandbox: RunningSandbox, loaded: set[date]) -> None:
        self.data, self.ws, self.loaded = sandbox.data, sandbox.workspace_id, loaded

    def users(self, day: date) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {p: set() for p in PRODUCTS}
        out["vscode"] = set()
        for row in self.data.usage_rows(day):
            user = row.get("user_id") or (row.get("actor") or {}).get("user_id")
            out["all"].add(user)
            clients = row.get("clients") or []
            if not clients:
                out["other"].add(user)
            for client in clients:
                out[PRODUCT_OF.get(client["client_id"], "other")].add(user)
                if client["client_id"] == "CODEX_IDE_VSCODE":
                    out["vscode"].add(user)
        return out

    def daily(self, day: date) -> dict[str, int | None]:
        """Every daily figure of the day, by ``view.column``."""
        if day not in self.loaded:
            return {}
        users = {k: len(v) for k, v in self.users(day).items()}
        cloud_threads = [
            c.get("threads")
            for row in self.data.usage_rows(day)
            for c in row.get("clients") or []
            if PRODUCT_OF.get(c["client_id"]) == "cloud"
        ]
        review = (self.data.code_review_rows(day) or [{}])[0]
        priority = review.get("comment_details") or {}
        response = (self.data.code_review_response_rows(day) or [{}])[0]
        reactions = response.get("reaction_details") or {}
        reviews = review.get("pull_request_reviews", 0)
        out = {
            "codex_view_code_review_users.users": users["code_review"],
            "codex_view_code_reviews.reviews": reviews,
            "codex_view_cloud_tasks.tasks": _total(cloud_threads),
            "codex_view_cloud_users.users": users["cloud"],
            "codex_view_vscode_users.users": users["vscode"],
            "codex_view_cli_users.users": users["cli"],
            "codex_view_code_review_feedback.upvotes": reactions.get("upvotes", 0),
            "codex_view_code_review_feedback.downvotes": reactions.get("downvotes", 0),
            "codex_view_code_review_feedback.other_reactions": reactions.get("other", 0),
            "codex_view_code_review_feedback.replies": response.get("replies", 0),
            "codex_export_code_review_users_and_reviews.code_review_users": users["code_review"],
            "codex_export_code_review_users_and_reviews.reviews_completed": reviews,
            "codex_export_code_review_findings_and_feedback.comments": review.get("comments", 0),
            "codex_export_code_review_findings_and_feedback.reactions": response.get("reactions", 0),
            "codex_export_code_review_findings_and_feedback.replies": response.get("replies", 0),
            "codex_export_cloud_users_and_tasks.cloud_users": users["cloud"],
            "codex_export_cloud_users_and_tasks.cloud_tasks": _total(cloud_threads),
            "codex_export_cli_and_vscode_users.cli_users": users["cli"],
            "codex_export_cli_and_vscode_users.vscode_users": users["vscode"],
        }
        for p in ("p0", "p1", "p2"):
            out[f"codex_view_code_reviews_by_priority.{p}"] = priority.get(p, 0)
            out[f"codex_export_code_review_findings_and_feedback.{p}"] = priority.get(p, 0)
        out.update({f"codex_view_users_by_product.{p}": users[p] for p in PRODUCTS})
        return out

    def sessions(self, day: date) -> dict[str, tuple[Any, ...]]:
        """Per user: email, sessions, messages; no user at all on a day not loaded (nothing to show)."""
        out: dict[str, tuple[Any, ...]] = {}
        if day not in self.loaded:
            return out
        for row in self.data.usage_rows(day):
            actor = row.get("actor") or {}
            totals = row.get("totals") or {}
            user = row.get("user_id") or actor.get("user_id")
            out[user] = (actor.get("email"), totals.get("threads"), totals.get("turns"))
        return out


def expected_tables(served: Served, days: Iterable[date]) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every view's rows of ``days``, by key (day, then product or user), without workspace and ``built_at``."""
    tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {v.name: {} for v in VIEWS}
    for day in days:
        figures = served.daily(day)
        for view in VIEWS:
            name = view.name
            if name == "codex_view_users_by_product":
                for p in PRODUCTS:
                    tables[name][(day, p)] = {"day": day, "product": p, "users": figures.get(f"{name}.{p}")}
            elif name == "codex_export_sessions_and_messages_per_user":
                for user, (email, threads, turns) in served.sessions(day).items():
                    row = {"day": day, "user_id": user, "email": email, "sessions": threads, "messages": turns}
                    tables[name][(day, user)] = row
            else:
                columns = [c for c in view.export_columns if c not in ("workspace_id", "day")]
                tables[name][(day,)] = {"day": day, **{c: figures.get(f"{name}.{c}") for c in columns}}
    return tables


# -- reading the views back ------------------------------------------------------------------


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        return date.fromisoformat(value)
    if value is None or isinstance(value, str | date):
        return value
    return int(value)


def stored(dest: SqlDestination, name: str, workspace_id: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """A view table by key; fails on a key stored twice."""
    view = VIEWS_BY_NAME[name]
    names, rows = dest.query(f"SELECT * FROM {dest.quote(name)}")
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for raw in rows:
        row = {n: _value(v) for n, v in zip(names, raw, strict=True) if n != "built_at"}
        assert row.pop("workspace_id") == workspace_id
        key = tuple(row[c] for c in view.spec.key if c != "workspace_id")
        assert key not in out, f"{name}: key {key} stored twice"
        out[key] = row
    return out


def assert_views(dest: SqlDestination, served: Served, days: list[date]) -> None:
    want = expected_tables(served, days)
    for view in VIEWS:
        got = stored(dest, view.name, served.ws)
        assert sorted(got, key=str) == sorted(want[view.name], key=str), view.name
        for key, row in want[view.name].items():
            assert got[key] == row, f"{view.name} {key}: stored {got[key]}, served {row}"


# -- running it ------------------------------------------------------------------------------


def load(test_dags: Mapping[str, Any], dest: SqlDestination, window: tuple[date, date]) -> list[dict[str, Any]]:
    """Load the views' three datasets for ``window``; the extras of the run's Asset events."""
    conf = {"start": window[0].isoformat(), "end": window[1].isoformat(), "sql_conn_id": dest.conn_id}
    dag_run = test_dags["load_sql_view_sources"].test(run_conf=conf)
    assert str(dag_run.state) == "success"
    return [extra for _, extra in asset_events(SimpleNamespace(dag_run=dag_run))]


def build(dest: SqlDestination, window: tuple[date, date], events: list[dict[str, Any]], export: str) -> dict[str, Any]:
    """Run the views operator as an Asset-triggered run: the loads' events in its context."""
    operator = CodexGovernanceViewsOperator(
        task_id="views",
        sql_conn_id=dest.conn_id,
        start=window[0].isoformat(),
        end=window[1].isoformat(),
        export_path=export,
    )
    outlets: dict[Any, SimpleNamespace] = {}

    class Outlets(dict[Any, SimpleNamespace]):
        def __missing__(self, key: Any) -> SimpleNamespace:
            outlets[key] = self[key] = SimpleNamespace(extra=None)
            return self[key]

    triggering = {table_asset("source"): [SimpleNamespace(extra=e) for e in events]}
    summary = operator.execute({"triggering_asset_events": triggering, "outlet_events": Outlets()})
    assert set(outlets) == {table_asset(v.name) for v in VIEWS}, "one Asset event per view"
    for asset, event in outlets.items():
        assert event.extra["table"] == asset.name.removeprefix("codex.")
        assert (event.extra["start"], event.extra["end"]) == (window[0].isoformat(), window[1].isoformat())
    return summary


def _csv_value(view: Any, column: str, text: str) -> Any:
    """A CSV cell as the value it stands for: empty is null, integer columns are integers."""
    if text == "":
        return None
    return int(text) if view.spec.types[column] is ColumnType.INTEGER else _value(text)


def check_exports(root: Any, served: Served, window: tuple[date, date]) -> None:
    """Each export's CSV and JSON Lines files of the window: the expected rows, columns as documented."""
    days = days_of(*window)
    want = expected_tables(served, days)
    for view in (v for v in VIEWS if v.kind == "export"):
        folder = root / view.name / f"workspace_id={served.ws}"
        stem = f"{days[0].isoformat()}_{days[-1].isoformat()}"
        assert sorted(p.name for p in folder.iterdir() if p.name.startswith(stem)) == [f"{stem}.csv", f"{stem}.jsonl"]
        assert not [p for p in folder.iterdir() if p.name.startswith("_")], "a temporary object left behind"
        with (folder / f"{stem}.csv").open() as fh:
            reader = csv.DictReader(fh)
            assert tuple(reader.fieldnames or ()) == view.export_columns
            from_csv = [{k: _csv_value(view, k, v) for k, v in r.items()} for r in reader]
        from_json = [
            {k: _value(v) for k, v in json.loads(line).items()}
            for line in (folder / f"{stem}.jsonl").read_text().splitlines()
        ]
        rows_wanted = ({"workspace_id": served.ws, **row} for row in want[view.name].values())
        expected = sorted(rows_wanted, key=lambda r: str(list(r.values())))
        for rows in (from_csv, from_json):
            assert sorted(rows, key=lambda r: str(list(r.values()))) == expected, view.name


@pytest.mark.databases
@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mysql"])
def test_views_equal_the_figures_served_once_per_key(
    kind: str, make_destination, sandbox: RunningSandbox, use_sandbox, test_dags, tmp_path
) -> None:
    use_sandbox(sandbox)
    dest = make_destination(kind)
    export = tmp_path / "exports"
    export.mkdir()
    for day in QUIET:
        assert sandbox.data.usage_rows(day) == [] and sandbox.data.code_review_rows(day) == []
    # the data holds users on two products, and on two surfaces of one: distinct counts are not sums
    served = Served(sandbox, set(days_of(*LOAD_SECOND)))
    users = [served.users(day) for day in days_of(*LOAD_SECOND)]
    assert any(sum(len(u[p]) for p in PRODUCTS if p != "all") > len(u["all"]) for u in users)
    two_ide = [
        row
        for day in days_of(*LOAD_SECOND)
        for row in sandbox.data.usage_rows(day)
        if sum(PRODUCT_OF.get(c["client_id"]) == "ide" for c in row["clients"]) > 1
    ]
    assert two_ide, "no user on two IDE surfaces in a day: pick other days"

    first_events = load(test_dags, dest, LOAD_FIRST)
    loaded = set(days_of(*LOAD_FIRST))
    for _ in range(2):  # a rerun of the same window: one row per key
        summary = build(dest, VIEW_FIRST, first_events, f"file://{export}")
        assert_views(dest, Served(sandbox, loaded), days_of(*VIEW_FIRST))
    assert summary["loaded_days"]["usage"] == [d.isoformat() for d in sorted(loaded)]
    check_exports(export, Served(sandbox, loaded), VIEW_FIRST)

    second_events = load(test_dags, dest, LOAD_SECOND)
    loaded |= set(days_of(*LOAD_SECOND))
    build(dest, VIEW_SECOND, second_events, f"file://{export}")
    every_day = days_of(VIEW_FIRST[0], VIEW_SECOND[1])
    assert_views(dest, Served(sandbox, loaded), every_day)
    check_exports(export, Served(sandbox, loaded), VIEW_SECOND)

    # a rebuild of the first window without any event: the loaded days are remembered, the quiet days stay zeros
    build(dest, VIEW_FIRST, [], f"file://{export}")
    assert_views(dest, Served(sandbox, loaded), every_day)
    if kind == "sqlite":  # the generic (ANSI) dialect's SQL, over the same database, gives the same views
        generic = SqlSink(SqliteHook(sqlite_conn_id=dest.conn_id), dialect="generic")
        build_views(generic, sandbox.workspace_id, Window.of_days(every_day[0], every_day[-1]))
        assert_views(dest, Served(sandbox, loaded), every_day)
        # read_view gives what the plain driver reads, values as Python types, ordered by key
        by_product = read_view(generic, "codex_view_users_by_product", sandbox.workspace_id, *VIEW_SECOND)
        want = stored(dest, "codex_view_users_by_product", sandbox.workspace_id)
        assert [{k: v for k, v in r.items() if k not in ("workspace_id", "built_at")} for r in by_product] == [
            want[key] for key in sorted(want) if VIEW_SECOND[0] <= key[0] < VIEW_SECOND[1]
        ]
        # in a real task (dag.test): the same views, and one Asset event per view in the metadata database
        conf = {"start": VIEW_SECOND[0].isoformat(), "end": VIEW_SECOND[1].isoformat(), "sql_conn_id": dest.conn_id}
        dag_run = test_dags["build_sql_views"].test(run_conf={**conf, "path": f"file://{export}"})
        assert str(dag_run.state) == "success"
        names = sorted(name for name, _ in asset_events(SimpleNamespace(dag_run=dag_run)))
        assert names == sorted(f"codex.{v.name}" for v in VIEWS)
        assert_views(dest, Served(sandbox, loaded), every_day)
    gap = stored(dest, "codex_view_cli_users", sandbox.workspace_id)[(VIEW_FIRST[0],)]
    zero = stored(dest, "codex_view_cli_users", sandbox.workspace_id)[(QUIET[0],)]
    assert (gap["users"], zero["users"]) == (None, 0)
    assert VIEW_FIRST[0] + timedelta(days=1) == QUIET[0]
