"""The figures of a window, read from the loaded tables with small portable queries.

Every query is one ``SELECT`` of plain SQL every dialect the sinks support
runs alike (SQLite, PostgreSQL, MySQL/MariaDB, generic): quoted names from the
sink's dialect, values as parameters, ``COUNT(DISTINCT …)``, ``SUM``,
``GROUP BY`` on columns (the product is computed in a subquery, so no dialect
has to group by an expression with parameters in it), ``CASE … IN (…)``
with the surfaces classified beforehand in Python. No ``LIKE``, no string or
date functions, no JSON operators.

The aggregates come back small (a row per day, or per day and product) and
are turned into view rows in Python (:mod:`.catalog`), where a day without
rows becomes a zero or a gap (:mod:`.loaded`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.tables import (
    CODE_REVIEW_RESPONSES_DAILY,
    CODE_REVIEWS_DAILY,
    USAGE_USER_CLIENT_DAILY,
    USAGE_USER_DAILY,
    TableSpec,
)
from airflow_provider_codex.views.products import ALL, OTHER, ProductRegistry
from airflow_provider_codex.windows import Window

#: The counters of ``codex_code_reviews_daily`` the views read.
REVIEW_COLUMNS = ("pull_request_reviews", "comments", "p0", "p1", "p2")
#: The counters of ``codex_code_review_responses_daily`` the views read.
RESPONSE_COLUMNS = ("comments", "replies", "reactions", "upvotes", "downvotes", "other_reactions")

Counters = dict[str, int | None]


@dataclass(frozen=True)
class UserDay:
    """One user's day across surfaces (``codex_usage_user_daily``)."""

    day: date
    user_id: str
    email: str | None
    threads: int | None
    turns: int | None


@dataclass
class Facts:
    """What the tables hold for one workspace and window. A day absent from a mapping had no rows."""

    users: dict[tuple[date, str], int] = field(default_factory=dict)
    vscode_users: dict[date, int] = field(default_factory=dict)
    cloud_threads: dict[date, int | None] = field(default_factory=dict)
    reviews: dict[date, Counters] = field(default_factory=dict)
    responses: dict[date, Counters] = field(default_factory=dict)
    user_days: list[UserDay] = field(default_factory=list)

    def days_with_rows(self) -> dict[str, set[date]]:
        """Per dataset, the days its tables hold rows for: such a day was certainly loaded."""
        return {
            "usage": {day for day, product in self.users if product == ALL},
            "code_reviews": set(self.reviews),
            "code_review_responses": set(self.responses),
        }


def as_day(value: Any) -> date:
    """A day column as a driver returns it (``date``, ``datetime`` or ISO text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def as_count(value: Any) -> int | None:
    """A count or sum as a driver returns it (``int``, ``Decimal``, ``float``); ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, Decimal | float):
        return int(value)
    return int(value)


class FactReader:
    """The portable queries of one workspace's window over the tables a sink wrote."""

    def __init__(self, sink: SqlSink, workspace_id: str, window: Window) -> None:
        self.sink = sink
        self.workspace_id = workspace_id
        self.window = window
        self._q = sink.dialect.quote
        self._p = sink.placeholder

    # -- pieces --------------------------------------------------------------------------

    def where(self, alias: str = "") -> tuple[str, list[Any]]:
        """``workspace_id = ? AND day >= ? AND day < ?`` (columns of ``alias`` when given) and its values."""
        q, p, prefix = self._q, self._p, f"{alias}." if alias else ""
        days = self.window.days
        end = self.sink.sql_day(days[-1] + timedelta(days=1))
        sql = f"{prefix}{q('workspace_id')} = {p} AND {prefix}{q('day')} >= {p} AND {prefix}{q('day')} < {p}"
        return sql, [self.workspace_id, self.sink.sql_day(days[0]), end]

    def in_list(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        """``column IN (?, …)`` and its values (``values`` not empty)."""
        return f"{column} IN ({', '.join([self._p] * len(values))})", list(values)

    def table(self, spec: TableSpec) -> str:
        return self.sink.qualified_name(spec)

    def exists(self, *specs: TableSpec) -> bool:
        return all(self.sink.has_table(spec) for spec in specs)

    # -- the queries ---------------------------------------------------------------------

    def client_ids(self) -> list[str]:
        """The distinct surfaces the window's usage holds."""
        q, (where, params) = self._q, self.where()
        sql = f"SELECT DISTINCT {q('client_id')} FROM {self.table(USAGE_USER_CLIENT_DAILY)} WHERE {where}"  # noqa: S608
        return [str(r[0]) for r in self.sink.query(sql, params) if r[0] is not None]

    def users_by_product(self, groups: Mapping[str, Sequence[str]]) -> dict[tuple[date, str], int]:
        """Distinct users per day and product, and per day over all products (:data:`ALL`).

        A user row without any surface row counts as :data:`OTHER`; a user on
        two surfaces of one product counts once in it.
        """
        q = self._q
        cases: list[str] = []
        params: list[Any] = []
        for product, ids in groups.items():
            if product == OTHER or not ids:
                continue
            test, values = self.in_list(f"c.{q('client_id')}", ids)
            cases.append(f"WHEN {test} THEN '{product}'")  # product names are validated identifiers
            params.extend(values)
        product_sql = f"CASE {' '.join(cases)} ELSE '{OTHER}' END" if cases else f"'{OTHER}'"
        where, where_params = self.where("u")
        join = " AND ".join(f"c.{q(col)} = u.{q(col)}" for col in ("workspace_id", "day", "user_id"))
        inner = (
            f"SELECT u.{q('day')} AS d, u.{q('user_id')} AS who, {product_sql} AS product "  # noqa: S608
            f"FROM {self.table(USAGE_USER_DAILY)} u LEFT JOIN {self.table(USAGE_USER_CLIENT_DAILY)} c ON {join} "
            f"WHERE {where}"
        )
        sql = f"SELECT t.d, t.product, COUNT(DISTINCT t.who) FROM ({inner}) t GROUP BY t.d, t.product"  # noqa: S608
        out = {(as_day(d), str(product)): int(n) for d, product, n in self.sink.query(sql, [*params, *where_params])}
        where, where_params = self.where()
        total = (
            f"SELECT {q('day')}, COUNT(DISTINCT {q('user_id')}) FROM {self.table(USAGE_USER_DAILY)} "  # noqa: S608
            f"WHERE {where} GROUP BY {q('day')}"
        )
        out.update({(as_day(d), ALL): int(n) for d, n in self.sink.query(total, where_params)})
        return out

    def distinct_users_on(self, client_ids: Sequence[str]) -> dict[date, int]:
        """Distinct users per day with usage on any of ``client_ids``."""
        if not client_ids:
            return {}
        q, (where, params) = self._q, self.where()
        test, values = self.in_list(q("client_id"), client_ids)
        sql = (
            f"SELECT {q('day')}, COUNT(DISTINCT {q('user_id')}) FROM {self.table(USAGE_USER_CLIENT_DAILY)} "  # noqa: S608
            f"WHERE {where} AND {test} GROUP BY {q('day')}"
        )
        return {as_day(d): int(n) for d, n in self.sink.query(sql, [*params, *values])}

    def sums(
        self, spec: TableSpec, columns: Sequence[str], client_ids: Sequence[str] | None = None
    ) -> dict[date, Counters]:
        """``SUM`` of ``columns`` per day (null only where every value summed is null), optionally of some surfaces."""
        if client_ids is not None and not client_ids:
            return {}
        q, (where, params) = self._q, self.where()
        if client_ids is not None:
            test, values = self.in_list(q("client_id"), client_ids)
            where, params = f"{where} AND {test}", [*params, *values]
        sums = ", ".join(f"SUM({q(c)})" for c in columns)
        sql = f"SELECT {q('day')}, {sums} FROM {self.table(spec)} WHERE {where} GROUP BY {q('day')}"  # noqa: S608
        return {
            as_day(row[0]): {c: as_count(v) for c, v in zip(columns, row[1:], strict=True)}
            for row in self.sink.query(sql, params)
        }

    def user_days(self) -> list[UserDay]:
        """Every user's day of the window, across surfaces."""
        q, (where, params) = self._q, self.where()
        cols = ", ".join(q(c) for c in ("day", "user_id", "email", "threads", "turns"))
        sql = f"SELECT {cols} FROM {self.table(USAGE_USER_DAILY)} WHERE {where}"  # noqa: S608
        return [
            UserDay(as_day(d), str(user), None if email is None else str(email), as_count(threads), as_count(turns))
            for d, user, email, threads, turns in self.sink.query(sql, params)
        ]


def read_facts(sink: SqlSink, workspace_id: str, window: Window, registry: ProductRegistry) -> Facts:
    """Every figure the views need, for one workspace and window; tables never loaded read as empty."""
    reader = FactReader(sink, workspace_id, window)
    facts = Facts()
    if reader.exists(USAGE_USER_DAILY, USAGE_USER_CLIENT_DAILY):
        present = reader.client_ids()
        groups = registry.classify(present)
        facts.users = reader.users_by_product(groups)
        facts.vscode_users = reader.distinct_users_on([c for c in present if registry.vscode.matches(c)])
        cloud = groups.get(registry.cloud, ())
        facts.cloud_threads = {
            d: c["threads"] for d, c in reader.sums(USAGE_USER_CLIENT_DAILY, ["threads"], cloud).items()
        }
        facts.user_days = reader.user_days()
    if reader.exists(CODE_REVIEWS_DAILY):
        facts.reviews = reader.sums(CODE_REVIEWS_DAILY, REVIEW_COLUMNS)
    if reader.exists(CODE_REVIEW_RESPONSES_DAILY):
        facts.responses = reader.sums(CODE_REVIEW_RESPONSES_DAILY, RESPONSE_COLUMNS)
    return facts
