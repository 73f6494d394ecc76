"""The nine dashboards and five exports: each view's table, columns, sources, and how a day's row is made.

A view is a :class:`View`: a table (``workspace_id``, ``day``, maybe a series
key, its figures, ``built_at``) and a function from the window's
:class:`~.facts.Facts` to rows. Daily views have one row per day of the
window, every day present: a figure whose source has no row that day is
``0`` when the source's dataset was loaded for the day (:mod:`.loaded`) and
``NULL`` (a gap) when not. A figure the source holds as null (unavailable)
stays null. ``docs/views.md`` lists them all for the people who read them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from airflow_provider_codex.tables import Column, ColumnType, Record, TableSpec
from airflow_provider_codex.views.facts import Facts
from airflow_provider_codex.views.loaded import LoadedDays
from airflow_provider_codex.views.products import ALL, ProductRegistry

_T, _I, _D = ColumnType.TEXT, ColumnType.INTEGER, ColumnType.DATE
WORKSPACE = Column("workspace_id", _T, "the Codex workspace")
DAY = Column("day", _D, "the UTC day")
BUILT_AT = Column("built_at", ColumnType.TIMESTAMP, "when the views builder wrote the row (UTC)")

#: A day's value of a figure: the value, or ``ABSENT`` when the source has no row that day.
ABSENT: Any = object()


@dataclass(frozen=True)
class Context:
    """What a view's rows are made from: the window's days, its facts, the loaded days, the products."""

    workspace_id: str
    days: Sequence[date]
    facts: Facts
    loaded: LoadedDays
    registry: ProductRegistry
    built_at: datetime

    def figure(self, dataset: str, day: date, value: Any) -> int | None:
        """``value``, or, when the source had no row that day, ``0`` if ``dataset`` was loaded for it, else ``None``."""
        if value is ABSENT:
            return 0 if day in self.loaded.get(dataset, set()) else None
        return None if value is None else int(value)


#: A figure: its column, the dataset whose loaded days make a missing day zero, and its value of a day.
@dataclass(frozen=True)
class Figure:
    column: str
    dataset: str
    value: Callable[[Context, date], Any]
    doc: str


@dataclass(frozen=True)
class View:
    """One view table and how its rows are made."""

    spec: TableSpec
    kind: str  # "dashboard" or "export"
    rows: Callable[[Context], Iterator[Record]]
    sources: tuple[str, ...]
    definition: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def export_columns(self) -> tuple[str, ...]:
        """The stable columns of the view's files (``built_at`` aside)."""
        return tuple(c for c in self.spec.column_names if c != BUILT_AT.name)


# -- the figures ------------------------------------------------------------------------


def _users_of(product: Callable[[ProductRegistry], str]) -> Callable[[Context, date], Any]:
    return lambda ctx, day: ctx.facts.users.get((day, product(ctx.registry)), ABSENT)


def _counter(source: str, column: str) -> Callable[[Context, date], Any]:
    def value(ctx: Context, day: date) -> Any:
        counters = getattr(ctx.facts, source).get(day)
        return ABSENT if counters is None else counters[column]

    return value


USAGE, REVIEWS, RESPONSES = "usage", "code_reviews", "code_review_responses"
_CR_USERS = Figure("users", USAGE, _users_of(lambda r: r.code_review), "distinct users of the Code Review surfaces")
_CLOUD_USERS = Figure("users", USAGE, _users_of(lambda r: r.cloud), "distinct users of the cloud surfaces")
_CLI_USERS = Figure("users", USAGE, _users_of(lambda r: r.cli), "distinct users of the CLI surfaces")
_VSCODE_USERS = Figure(
    "users", USAGE, lambda ctx, day: ctx.facts.vscode_users.get(day, ABSENT), "distinct users of the VS Code extension"
)
_CLOUD_TASKS = Figure(
    "tasks", USAGE, lambda ctx, day: ctx.facts.cloud_threads.get(day, ABSENT), "threads on the cloud surfaces"
)
_REVIEWS = Figure("reviews", REVIEWS, _counter("reviews", "pull_request_reviews"), "pull requests Codex reviewed")


def _review(column: str, doc: str) -> Figure:
    return Figure(column, REVIEWS, _counter("reviews", column), doc)


def _response(column: str, doc: str) -> Figure:
    return Figure(column, RESPONSES, _counter("responses", column), doc)


def _renamed(figure: Figure, column: str) -> Figure:
    return Figure(column, figure.dataset, figure.value, figure.doc)


def _daily(name: str, kind: str, figures: Sequence[Figure], definition: str, sources: Sequence[str], doc: str) -> View:
    spec = TableSpec(
        name=name,
        columns=(WORKSPACE, DAY, *(Column(f.column, _I, f.doc) for f in figures), BUILT_AT),
        key=("workspace_id", "day"),
        doc=doc,
    )

    def rows(ctx: Context) -> Iterator[Record]:
        for day in ctx.days:
            record: Record = {"workspace_id": ctx.workspace_id, "day": day}
            for f in figures:
                record[f.column] = ctx.figure(f.dataset, day, f.value(ctx, day))
            record["built_at"] = ctx.built_at
            yield record

    return View(spec, kind, rows, tuple(sources), definition)


def _users_by_product_rows(ctx: Context) -> Iterator[Record]:
    for day in ctx.days:
        for product in (*ctx.registry.names, ALL):
            yield {
                "workspace_id": ctx.workspace_id,
                "day": day,
                "product": product,
                "users": ctx.figure(USAGE, day, ctx.facts.users.get((day, product), ABSENT)),
                "built_at": ctx.built_at,
            }


def _sessions_rows(ctx: Context) -> Iterator[Record]:
    for user_day in sorted(ctx.facts.user_days, key=lambda u: (u.day, u.user_id)):
        yield {
            "workspace_id": ctx.workspace_id,
            "day": user_day.day,
            "user_id": user_day.user_id,
            "email": user_day.email,
            "sessions": user_day.threads,
            "messages": user_day.turns,
            "built_at": ctx.built_at,
        }


_USER_CLIENT = "codex_usage_user_client_daily"
_USER_DAILY = "codex_usage_user_daily"
_CR_TABLE = "codex_code_reviews_daily"
_RESP_TABLE = "codex_code_review_responses_daily"


def _keyed(
    name: str,
    kind: str,
    key: Column,
    columns: Sequence[Column],
    rows: Callable[[Context], Iterator[Record]],
    sources: Sequence[str],
    definition: str,
    doc: str,
) -> View:
    """A view with a row per day and value of ``key`` (a product, a user), then ``columns``."""
    spec = TableSpec(
        name=name,
        columns=(WORKSPACE, DAY, key, *columns, BUILT_AT),
        key=("workspace_id", "day", key.name),
        doc=doc,
    )
    return View(spec, kind, rows, tuple(sources), definition)


USERS_BY_PRODUCT = _keyed(
    "codex_view_users_by_product",
    "dashboard",
    Column("product", _T, "a product of the registry, 'other', or 'all' (every product, each user once)"),
    [Column("users", _I, "distinct users of the product that day")],
    _users_by_product_rows,
    (_USER_DAILY, _USER_CLIENT),
    "COUNT(DISTINCT user_id) per day and product, a user's surfaces mapped to products by the registry; "
    "'all' counts every user of the day once",
    "Dashboard 1: daily users by product.",
)

VIEWS: tuple[View, ...] = (
    USERS_BY_PRODUCT,
    _daily(
        "codex_view_code_review_users",
        "dashboard",
        [_CR_USERS],
        "COUNT(DISTINCT user_id) per day over the code_review product's surfaces",
        (_USER_CLIENT,),
        "Dashboard 2: daily code review users.",
    ),
    _daily(
        "codex_view_code_reviews",
        "dashboard",
        [_REVIEWS],
        "pull_request_reviews per day",
        (_CR_TABLE,),
        "Dashboard 3: daily code reviews.",
    ),
    _daily(
        "codex_view_code_reviews_by_priority",
        "dashboard",
        [_review("p0", "P0 findings"), _review("p1", "P1 findings"), _review("p2", "P2 findings")],
        "comment_details p0, p1, p2 per day",
        (_CR_TABLE,),
        "Dashboard 4: code reviews by priority level.",
    ),
    _daily(
        "codex_view_code_review_feedback",
        "dashboard",
        [
            _response("upvotes", "upvotes on Codex review comments"),
            _response("downvotes", "downvotes"),
            _response("other_reactions", "other reactions"),
            _response("replies", "replies"),
        ],
        "reaction_details upvotes, downvotes, other, and replies per day (PRs merged that day)",
        (_RESP_TABLE,),
        "Dashboard 5: daily code reviews by feedback sentiment.",
    ),
    _daily(
        "codex_view_cloud_tasks",
        "dashboard",
        [_CLOUD_TASKS],
        "SUM(threads) per day over the cloud product's surfaces",
        (_USER_CLIENT,),
        "Dashboard 6: daily cloud tasks.",
    ),
    _daily(
        "codex_view_cloud_users",
        "dashboard",
        [_CLOUD_USERS],
        "COUNT(DISTINCT user_id) per day over the cloud product's surfaces",
        (_USER_CLIENT,),
        "Dashboard 7: daily cloud users.",
    ),
    _daily(
        "codex_view_vscode_users",
        "dashboard",
        [_VSCODE_USERS],
        "COUNT(DISTINCT user_id) per day over the VS Code extension's surfaces",
        (_USER_CLIENT,),
        "Dashboard 8: daily VS Code extension users.",
    ),
    _daily(
        "codex_view_cli_users",
        "dashboard",
        [_CLI_USERS],
        "COUNT(DISTINCT user_id) per day over the cli product's surfaces",
        (_USER_CLIENT,),
        "Dashboard 9: daily CLI users.",
    ),
    _daily(
        "codex_export_code_review_users_and_reviews",
        "export",
        [_renamed(_CR_USERS, "code_review_users"), _renamed(_REVIEWS, "reviews_completed")],
        "dashboards 2 and 3 side by side",
        (_USER_CLIENT, _CR_TABLE),
        "Export 1: code review users and reviews.",
    ),
    _daily(
        "codex_export_code_review_findings_and_feedback",
        "export",
        [
            _review("comments", "review comments Codex made"),
            _response("reactions", "reactions to Codex review comments"),
            _response("replies", "replies to them"),
            _review("p0", "P0 findings"),
            _review("p1", "P1 findings"),
            _review("p2", "P2 findings"),
        ],
        "comments and p0/p1/p2 of codex_code_reviews_daily, reactions and replies of the responses",
        (_CR_TABLE, _RESP_TABLE),
        "Export 2: code review findings and feedback.",
    ),
    _daily(
        "codex_export_cloud_users_and_tasks",
        "export",
        [_renamed(_CLOUD_USERS, "cloud_users"), _renamed(_CLOUD_TASKS, "cloud_tasks")],
        "dashboards 7 and 6 side by side",
        (_USER_CLIENT,),
        "Export 3: cloud users and tasks.",
    ),
    _daily(
        "codex_export_cli_and_vscode_users",
        "export",
        [_renamed(_CLI_USERS, "cli_users"), _renamed(_VSCODE_USERS, "vscode_users")],
        "dashboards 9 and 8 side by side",
        (_USER_CLIENT,),
        "Export 4: CLI and VS Code users.",
    ),
    _keyed(
        "codex_export_sessions_and_messages_per_user",
        "export",
        Column("user_id", _T, "the user"),
        [
            Column("email", _T, "null when the workspace hides emails"),
            Column("sessions", _I, "threads the user started that day, all surfaces"),
            Column("messages", _I, "turns (user messages) that day, all surfaces"),
        ],
        _sessions_rows,
        (_USER_DAILY,),
        "threads and turns of codex_usage_user_daily, per user and day",
        "Export 5: sessions and messages per user (a row per active user and day).",
    ),
)

VIEWS_BY_NAME: Mapping[str, View] = MappingProxyType({v.name: v for v in VIEWS})
DASHBOARDS = tuple(v for v in VIEWS if v.kind == "dashboard")
EXPORTS = tuple(v for v in VIEWS if v.kind == "export")
