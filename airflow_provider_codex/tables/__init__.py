"""API rows -> typed flat records, one table per grain. Pure functions: no I/O, no Airflow.

Every flattener has one signature, ``flatten(rows, ctx) -> Iterator[(table_name, record)]``,
so a loader needs no per-endpoint code: it hands a dataset's tables and the
tagged records to a sink's ``replace_tables``. Which flattener and tables a
dataset uses is said once, in :mod:`airflow_provider_codex.datasets`;
:data:`TABLES` lists every :class:`TableSpec` by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, TypeAlias

from airflow_provider_codex.tables._rows import EXTRA_JSON, FlattenContext
from airflow_provider_codex.tables.analytics import (
    CODE_REVIEW_RESPONSES_DAILY,
    CODE_REVIEWS_DAILY,
    USAGE_USER_CLIENT_DAILY,
    USAGE_USER_DAILY,
    USAGE_USER_MODEL_DAILY,
    USAGE_USER_TABLES,
    USAGE_WORKSPACE_CLIENT_DAILY,
    USAGE_WORKSPACE_DAILY,
    USAGE_WORKSPACE_MODEL_DAILY,
    USAGE_WORKSPACE_TABLES,
    flatten_code_review_responses,
    flatten_code_reviews,
    flatten_usage_users,
    flatten_usage_workspace,
)
from airflow_provider_codex.tables.compliance import COMPLIANCE_EVENTS, flatten_compliance_events
from airflow_provider_codex.tables.content import CONTENT_FIELDS, ContentAction, ContentPolicy
from airflow_provider_codex.tables.schema import (
    Column,
    ColumnType,
    ColumnValueError,
    Record,
    TableSpec,
    Tagged,
    infer_type,
    validate_identifier,
)
from airflow_provider_codex.tables.snapshots import (
    CODEX_ENVIRONMENTS,
    CODEX_TASKS,
    flatten_codex_environments,
    flatten_codex_tasks,
)

#: ``flatten(rows, ctx)``: API rows of one endpoint -> records tagged with their table name.
Flattener: TypeAlias = Callable[[Iterable[Mapping[str, Any]], FlattenContext], Iterator[Tagged]]


TABLES: Mapping[str, TableSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            *USAGE_USER_TABLES,
            *USAGE_WORKSPACE_TABLES,
            CODE_REVIEWS_DAILY,
            CODE_REVIEW_RESPONSES_DAILY,
            COMPLIANCE_EVENTS,
            CODEX_TASKS,
            CODEX_ENVIRONMENTS,
        )
    }
)

__all__ = [
    "CODEX_ENVIRONMENTS",
    "CODEX_TASKS",
    "CODE_REVIEWS_DAILY",
    "CODE_REVIEW_RESPONSES_DAILY",
    "COMPLIANCE_EVENTS",
    "CONTENT_FIELDS",
    "EXTRA_JSON",
    "TABLES",
    "USAGE_USER_CLIENT_DAILY",
    "USAGE_USER_DAILY",
    "USAGE_USER_MODEL_DAILY",
    "USAGE_USER_TABLES",
    "USAGE_WORKSPACE_CLIENT_DAILY",
    "USAGE_WORKSPACE_DAILY",
    "USAGE_WORKSPACE_MODEL_DAILY",
    "USAGE_WORKSPACE_TABLES",
    "Column",
    "ColumnType",
    "ColumnValueError",
    "ContentAction",
    "ContentPolicy",
    "FlattenContext",
    "Flattener",
    "Record",
    "TableSpec",
    "Tagged",
    "flatten_code_review_responses",
    "flatten_code_reviews",
    "flatten_codex_environments",
    "flatten_codex_tasks",
    "flatten_compliance_events",
    "flatten_usage_users",
    "flatten_usage_workspace",
    "infer_type",
    "validate_identifier",
]
