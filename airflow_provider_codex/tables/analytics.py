"""Analytics API rows -> daily tables, one table per grain.

A ``/usage`` row (one user, one day) becomes one row of
``codex_usage_user_daily``, one row per client in
``codex_usage_user_client_daily`` and one per model in
``codex_usage_user_model_daily``; a ``group=workspace`` row (``user_id``
null) feeds the ``codex_usage_workspace_*`` tables the same way.

Rules from the contract: the day is the UTC day of ``start_time``; null
stays null (unavailable, not zero); ``credits``, ``cost_usd`` and
``estimated_cost_usd`` stay apart; unknown enum values (clients, models) are
kept as they come. Two entries of one row with the same client (or model and
speed), which unknown values folded into ``CODEX_UNKNOWN_DEFAULT``/``other``
can produce, are added up so the table key stays unique.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_codex.tables._rows import (
    Field,
    FlattenContext,
    Shape,
    daily_spec,
    key_text,
    merge_counters,
    row_day,
)
from airflow_provider_codex.tables.schema import ColumnType, Record, Tagged

_T, _I, _F = ColumnType.TEXT, ColumnType.INTEGER, ColumnType.FLOAT
_ROW_FIELDS = ("object", "start_time", "end_time")

_USER_ID = Field("user_id", _T, ("user_id",), key=True, doc="the user (actor.user_id when the row has none)")
_ACTOR = (
    Field("email", _T, ("actor", "email"), doc="null when the workspace hides emails"),
    Field("actor_type", _T, ("actor", "type")),
)
_TOTALS = (
    Field("threads", _I, ("totals", "threads")),
    Field("turns", _I, ("totals", "turns")),
    Field("credits", _F, ("totals", "credits")),
    Field("cost_usd", _F, ("totals", "cost_usd")),
    Field("estimated_cost_usd", _F, ("totals", "estimated_cost_usd"), doc="an estimate, not a charge"),
    Field("lines_added", _I, ("code_attribution", "lines_added")),
    Field("lines_removed", _I, ("code_attribution", "lines_removed")),
)
_CLIENT = (
    Field("client_id", _T, ("client_id",), key=True, doc="a CODEX_* surface; unknown values kept"),
    Field("threads", _I, ("threads",)),
    Field("turns", _I, ("turns",)),
    Field("credits", _F, ("credits",)),
    Field("uncached_text_input_tokens", _I, ("uncached_text_input_tokens",)),
    Field("cached_text_input_tokens", _I, ("cached_text_input_tokens",)),
    Field("text_output_tokens", _I, ("text_output_tokens",)),
    Field("text_total_tokens", _I, ("text_total_tokens",)),
)
_MODEL = (
    Field("model", _T, ("model",), key=True, doc="unknown models come as 'other'"),
    Field("speed", _T, ("speed",), key=True),
    Field("credits", _F, ("credits",)),
)


def _counters(fields: Sequence[Field]) -> tuple[str, ...]:
    return tuple(f.column for f in fields if not f.key)


@dataclass(frozen=True)
class _UsageGrain:
    """The three tables of one ``/usage`` grain, and how a row fills them."""

    daily: Shape
    clients: Shape
    models: Shape
    per_user: bool

    @classmethod
    def build(cls, grain: str, per_user: bool) -> _UsageGrain:
        lead = (_USER_ID,) if per_user else ()
        row_fields = (*(_ACTOR if per_user else ()), *_TOTALS)
        ignored = (*_ROW_FIELDS, "user_id", "clients", "models", "actor.user_id" if per_user else "actor")
        return cls(
            daily=Shape(
                daily_spec(
                    f"codex_usage_{grain}_daily",
                    (*lead, *row_fields),
                    f"Codex usage per {grain} and UTC day (analytics /usage).",
                ),
                row_fields,
                ignored,
            ),
            clients=Shape(
                daily_spec(
                    f"codex_usage_{grain}_client_daily",
                    (*lead, *_CLIENT),
                    f"Codex usage per {grain}, client surface and UTC day.",
                ),
                _CLIENT,
            ),
            models=Shape(
                daily_spec(
                    f"codex_usage_{grain}_model_daily",
                    (*lead, *_MODEL),
                    f"Codex credits per {grain}, model, speed and UTC day.",
                ),
                _MODEL,
            ),
            per_user=per_user,
        )

    def flatten(self, rows: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[Tagged]:
        daily_name = self.daily.spec.name
        fill_daily, clients, models, per_user = self.daily.fill, self.clients, self.models, self.per_user
        wants, base_of = ctx.wants, ctx.base
        for row in rows:
            day = row_day(row)
            if not wants(day):
                continue
            base = base_of(day)
            if per_user:
                base["user_id"] = key_text(_user_id(row))
            yield daily_name, fill_daily(dict(base), row)
            items = row.get("clients")
            if items:
                yield from _children(clients, base, items, _CLIENT_COUNTERS)
            items = row.get("models")
            if items:
                yield from _children(models, base, items, _MODEL_COUNTERS)


_CLIENT_COUNTERS = _counters(_CLIENT)
_MODEL_COUNTERS = _counters(_MODEL)


def _user_id(row: Mapping[str, Any]) -> Any:
    user_id = row.get("user_id")
    if user_id is None:
        actor = row.get("actor")
        if isinstance(actor, dict):
            user_id = actor.get("user_id")
    return user_id


def _children(shape: Shape, base: Record, items: Any, counters: Sequence[str]) -> Iterator[Tagged]:
    """One record per list entry (null/absent list: none), entries with one key added up."""
    if not isinstance(items, list) or not items:
        return
    name, fill, key_columns = shape.spec.name, shape.fill, shape.key_columns
    if len(items) == 1:  # the common case: nothing to add up
        if isinstance(items[0], dict):
            yield name, fill(dict(base), items[0])
        return
    by_key: dict[tuple[Any, ...], Record] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        record = fill(dict(base), item)
        key = tuple([record[c] for c in key_columns])
        first = by_key.get(key)
        if first is None:
            by_key[key] = record
        else:
            merge_counters(first, record, counters)
    for record in by_key.values():
        yield name, record


_USER = _UsageGrain.build("user", per_user=True)
_WORKSPACE = _UsageGrain.build("workspace", per_user=False)

USAGE_USER_DAILY = _USER.daily.spec
USAGE_USER_CLIENT_DAILY = _USER.clients.spec
USAGE_USER_MODEL_DAILY = _USER.models.spec
USAGE_WORKSPACE_DAILY = _WORKSPACE.daily.spec
USAGE_WORKSPACE_CLIENT_DAILY = _WORKSPACE.clients.spec
USAGE_WORKSPACE_MODEL_DAILY = _WORKSPACE.models.spec

USAGE_USER_TABLES = (USAGE_USER_DAILY, USAGE_USER_CLIENT_DAILY, USAGE_USER_MODEL_DAILY)
USAGE_WORKSPACE_TABLES = (USAGE_WORKSPACE_DAILY, USAGE_WORKSPACE_CLIENT_DAILY, USAGE_WORKSPACE_MODEL_DAILY)


def flatten_usage_users(rows: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[Tagged]:
    """``/usage`` rows (per user) -> the ``codex_usage_user_*`` tables."""
    return _USER.flatten(rows, ctx)


def flatten_usage_workspace(rows: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[Tagged]:
    """``/usage?group=workspace`` rows -> the ``codex_usage_workspace_*`` tables."""
    return _WORKSPACE.flatten(rows, ctx)


_CODE_REVIEW_FIELDS = (
    Field("pull_request_reviews", _I, ("pull_request_reviews",)),
    Field("comments", _I, ("comments",)),
    Field("p0", _I, ("comment_details", "p0")),
    Field("p1", _I, ("comment_details", "p1")),
    Field("p2", _I, ("comment_details", "p2")),
)
_RESPONSE_FIELDS = (
    Field("pull_request_reviews", _I, ("pull_request_reviews",), doc="of PRs merged that day"),
    Field("comments", _I, ("comments",)),
    Field("replies", _I, ("replies",)),
    Field("reactions", _I, ("reactions",)),
    Field("upvotes", _I, ("reaction_details", "upvotes")),
    Field("downvotes", _I, ("reaction_details", "downvotes")),
    Field("other_reactions", _I, ("reaction_details", "other")),
    *(
        Field(name, _I, ("comment_response_details", name))
        for name in ("engaged", "reacted", "upvoted", "downvoted", "reacted_other", "replied")
    ),
)

_CODE_REVIEWS = Shape(
    daily_spec("codex_code_reviews_daily", _CODE_REVIEW_FIELDS, "Codex code reviews per UTC day."),
    _CODE_REVIEW_FIELDS,
    _ROW_FIELDS,
)
_CODE_REVIEW_RESPONSES = Shape(
    daily_spec(
        "codex_code_review_responses_daily",
        _RESPONSE_FIELDS,
        "Responses to Codex review comments per UTC day (PRs merged in the period).",
    ),
    _RESPONSE_FIELDS,
    _ROW_FIELDS,
)
CODE_REVIEWS_DAILY = _CODE_REVIEWS.spec
CODE_REVIEW_RESPONSES_DAILY = _CODE_REVIEW_RESPONSES.spec


def _one_row_per_day(shape: Shape, rows: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[Tagged]:
    name = shape.spec.name
    for row in rows:
        day = row_day(row)
        if ctx.wants(day):
            yield name, shape.fill(ctx.base(day), row)


def flatten_code_reviews(rows: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[Tagged]:
    """``/code_reviews`` rows -> ``codex_code_reviews_daily``."""
    return _one_row_per_day(_CODE_REVIEWS, rows, ctx)


def flatten_code_review_responses(rows: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[Tagged]:
    """``/code_review_responses`` rows -> ``codex_code_review_responses_daily``."""
    return _one_row_per_day(_CODE_REVIEW_RESPONSES, rows, ctx)
