"""API rows -> typed flat records, one table per grain. Pure functions: no I/O, no Airflow.

Every flattener has one signature, ``flatten(rows, ctx) -> Iterator[(table_name, record)]``,
so a loader needs no per-endpoint code: it hands a family's tables and the
tagged records to a sink's ``replace_tables``. This module is the registry:

- :data:`TABLES`: every :class:`TableSpec`, by name;
- :data:`FAMILIES`: each family's flattener and the tables it fills (the
  tables a load of that family replaces together).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TableFamily:
    """A flattener and the tables it fills; loaded (replaced) together."""

    name: str
    flatten: Flattener
    tables: tuple[TableSpec, ...]


FAMILIES: Mapping[str, TableFamily] = MappingProxyType(
    {
        f.name: f
        for f in (
            TableFamily("usage_users", flatten_usage_users, USAGE_USER_TABLES),
            TableFamily("usage_workspace", flatten_usage_workspace, USAGE_WORKSPACE_TABLES),
            TableFamily("code_reviews", flatten_code_reviews, (CODE_REVIEWS_DAILY,)),
            TableFamily("code_review_responses", flatten_code_review_responses, (CODE_REVIEW_RESPONSES_DAILY,)),
            TableFamily("compliance_events", flatten_compliance_events, (COMPLIANCE_EVENTS,)),
            TableFamily("codex_tasks", flatten_codex_tasks, (CODEX_TASKS,)),
            TableFamily("codex_environments", flatten_codex_environments, (CODEX_ENVIRONMENTS,)),
        )
    }
)

TABLES: Mapping[str, TableSpec] = MappingProxyType(
    {spec.name: spec for family in FAMILIES.values() for spec in family.tables}
)

__all__ = [
    "CODEX_ENVIRONMENTS",
    "CODEX_TASKS",
    "CODE_REVIEWS_DAILY",
    "CODE_REVIEW_RESPONSES_DAILY",
    "COMPLIANCE_EVENTS",
    "CONTENT_FIELDS",
    "EXTRA_JSON",
    "FAMILIES",
    "TABLES",
    "USAGE_USER_CLIENT_DAILY",
    "USAGE_USER_DAILY",
    "USAGE_USER_MODEL_DAILY",
    "USAGE_WORKSPACE_CLIENT_DAILY",
    "USAGE_WORKSPACE_DAILY",
    "USAGE_WORKSPACE_MODEL_DAILY",
    "Column",
    "ColumnType",
    "ColumnValueError",
    "ContentAction",
    "ContentPolicy",
    "FlattenContext",
    "Flattener",
    "Record",
    "TableFamily",
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
