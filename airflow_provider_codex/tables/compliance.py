"""Compliance log records -> ``codex_compliance_events``, one row per event.

Delivery is at least once (the same event can sit in two files), so the table
is keyed on ``(workspace_id, event_id)`` and flagged ``deduplicate``: the sink
keeps the first copy. An event belongs to the UTC day of its ``timestamp``.

The envelope fields and the ``CODEX_LOG`` fields become columns; every record
is also kept whole in ``record_json`` (``CODEX_SECURITY_LOG`` fields are not
public, so that is where they live). Unknown fields are therefore never lost,
and are not promoted to columns: security records would otherwise widen the
table unpredictably. Content fields go through the load's
:class:`~airflow_provider_codex.tables.content.ContentPolicy`, in the columns
and in ``record_json`` alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from airflow_provider_codex import _json
from airflow_provider_codex.tables._rows import (
    DAY,
    EARLIEST,
    LATEST,
    LOADED_AT,
    WORKSPACE_ID,
    FlattenContext,
    json_text,
    key_text,
    text_or_json,
    timestamp_error,
    utc_from_unix,
)
from airflow_provider_codex.tables.content import ContentPolicy
from airflow_provider_codex.tables.schema import (
    CONTRACT_HINT,
    Column,
    ColumnType,
    ColumnValueError,
    TableSpec,
    Tagged,
    describe,
)

_T, _I = ColumnType.TEXT, ColumnType.INTEGER

COMPLIANCE_EVENTS = TableSpec(
    name="codex_compliance_events",
    columns=(
        WORKSPACE_ID,
        Column("event_id", _T, "unique per event; duplicates across files are dropped"),
        DAY,
        Column("timestamp", ColumnType.TIMESTAMP, "when the event happened (UTC)"),
        Column("event_type", _T, "the log type: CODEX_LOG, CODEX_SECURITY_LOG"),
        Column("event_subtype", _T, "PROMPT_SENT, PROMPT_RESPONSE_RECEIVED, TOOL_CALL_COMPLETED, ..."),
        Column("actor_type", _T),
        Column("actor_user_id", _T),
        Column("actor_email", _T),
        Column("principal_id", _T),
        Column("principal_type", _T),
        Column("client_id", _T),
        Column("session_id", _T),
        Column("model", _T),
        Column("input_tokens", _I),
        Column("output_tokens", _I),
        Column("cached_input_tokens", _I),
        Column("reasoning_output_tokens", _I),
        Column("decision", _T),
        Column("client_ip", _T),
        Column("user_agent", _T),
        Column("prompt_text", _T, "per the content policy: kept, HMAC-SHA256 hex, or null"),
        Column("response_text", _T, "per the content policy"),
        Column("tool_input", _T, "per the content policy (JSON text when not a string)"),
        Column("record_json", ColumnType.JSON, "the whole record, content fields per the policy"),
        LOADED_AT,
    ),
    key=("workspace_id", "event_id"),
    deduplicate=True,
    doc="Codex compliance log events (CODEX_LOG, CODEX_SECURITY_LOG), one row per event_id.",
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _obj(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    return value if isinstance(value, dict) else _EMPTY


def parse_timestamp(value: Any, what: str = "timestamp") -> datetime:
    """An event ``timestamp`` (ISO 8601, or Unix seconds) as an aware UTC datetime.

    A timestamp without a zone is read as UTC, the API's zone. Anything else
    (no timestamp, garbage, an instant no destination stores) is a
    :class:`~.schema.ColumnValueError` naming ``what``.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return utc_from_unix(value, what)
    if not isinstance(value, str):
        raise timestamp_error(what, value, "ISO 8601 text or a Unix time")
    try:
        moment = datetime.fromisoformat(value)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that moves year 1 or 9999 out of range
        raise timestamp_error(what, value) from None
    if not EARLIEST <= moment <= LATEST:
        raise timestamp_error(what, value)
    return moment


#: ``redact(policy, record) -> (stored record, its JSON text)``: the content policy applied, and ``record_json``.
Redact = Callable[[ContentPolicy, Mapping[str, Any]], tuple[Mapping[str, Any], str]]


def redact_walking(policy: ContentPolicy, record: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The reference: :meth:`.ContentPolicy.redact` walks the whole record, then it is written as JSON."""
    stored = policy.redact(record)
    return stored, json_text(stored)


def redact_dumped(policy: ContentPolicy, record: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """What :func:`redact_walking` returns, the record's JSON text written first (in C) to find its content fields.

    A key appears in compact JSON as ``"name":`` and nowhere else (a quote
    inside a string is escaped), so the text says whether the record holds a
    content field at all (most security records do not: their text is
    ``record_json`` as it is) and whether all of them sit at its top level (a
    ``CODEX_LOG`` record's do: they are replaced there, no walk). Any other
    record is walked as the reference walks it.
    """
    try:
        text = _json.dumps(record)
    except TypeError:  # an integer beyond 64 bits: the reference writes it
        return redact_walking(policy, record)
    keys = policy.json_keys.findall(text)  # one regex pass for all fields, not a search per field
    if not keys:
        return record, text.decode()
    found = {key.decode() for key in keys}
    if len(keys) != sum(name in record for name in found):
        return redact_walking(policy, record)
    out: dict[str, Any] | None = None
    for name in found:
        value = record[name]
        new = policy.apply(name, value)
        if new is not value:
            if out is None:
                out = dict(record)
            out[name] = new
    if out is None:
        return record, text.decode()
    return out, json_text(out)


def flatten_compliance_events(records: Iterable[Mapping[str, Any]], ctx: FlattenContext) -> Iterator[Tagged]:
    """Compliance log records (parsed JSON lines) -> ``codex_compliance_events``.

    ``ctx.content_policy`` is required; ``ctx.days`` keeps only those days'
    events. A record without ``event_id`` or ``timestamp`` cannot be placed
    and raises :class:`~.schema.ColumnValueError` (the contract says both are always there).
    """
    return flatten_events(records, ctx, redact_walking)


def flatten_events(records: Iterable[Mapping[str, Any]], ctx: FlattenContext, redact: Redact) -> Iterator[Tagged]:
    """:func:`flatten_compliance_events`, the content policy applied by ``redact``."""
    name, names = COMPLIANCE_EVENTS.name, COMPLIANCE_EVENTS.column_names
    for values in event_values(records, ctx, redact):
        yield name, dict(zip(names, values, strict=True))


def event_values(
    records: Iterable[Mapping[str, Any]], ctx: FlattenContext, redact: Redact
) -> Iterator[tuple[Any, ...]]:
    """Each wanted event's values, in ``COMPLIANCE_EVENTS``' column order (a record, or a column batch's row)."""
    policy = ctx.content_policy
    if policy is None:
        raise ValueError(
            "compliance events need a content policy (keep/hash/drop per content field); "
            "pass FlattenContext(content_policy=ContentPolicy(salt=...))"
        )
    name = COMPLIANCE_EVENTS.name
    workspace_id, loaded_at = ctx.workspace_id, ctx.loaded_at
    for record in records:
        event_id = record.get("event_id")
        if event_id is None or event_id == "":
            raise ColumnValueError(f"{name}: a compliance record without an event_id. {CONTRACT_HINT}")
        try:
            moment = parse_timestamp(record.get("timestamp"))
        except ColumnValueError as bad:
            raise ColumnValueError(f"{name}, event_id={describe(event_id)}: {bad}") from None
        day = moment.date()
        if not ctx.wants(day):
            continue
        stored, record_json = redact(policy, record)
        actor = _obj(stored, "actor")
        principal = _obj(stored, "principal")
        details = _obj(stored, "event_details")
        usage = _obj(details, "token_usage")
        meta = _obj(stored, "request_metadata")
        yield (
            workspace_id,
            key_text(event_id),
            day,
            moment,
            stored.get("type"),
            stored.get("event_type"),
            actor.get("type"),
            actor.get("user_id"),
            actor.get("user_email"),
            principal.get("id"),
            principal.get("type"),
            stored.get("client_id"),
            details.get("session_id"),
            details.get("model"),
            usage.get("input_tokens"),
            usage.get("output_tokens"),
            usage.get("cached_input_tokens"),
            usage.get("reasoning_output_tokens"),
            text_or_json(details.get("decision")),
            meta.get("client_ip"),
            meta.get("client_user_agent"),
            text_or_json(stored.get("prompt_text")),
            text_or_json(stored.get("response_text")),
            text_or_json(stored.get("tool_input")),
            record_json,
            loaded_at,
        )
