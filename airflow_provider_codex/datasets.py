"""The registry of datasets: the one vocabulary every layer uses for what can be loaded.

A dataset ties one endpoint of the contract (:mod:`.api.endpoints`, the one
place for HTTP facts) to the flattener and tables that turn its rows into
records (:mod:`.tables`), and says how its data is read for a window
(:class:`Source`). Operators, sensors, the hook and the loader take a dataset
*name* and look it up here, with :func:`get_dataset`; nothing downstream has
per-endpoint code.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from airflow_provider_codex.api import endpoints
from airflow_provider_codex.api.endpoints import Api, Endpoint
from airflow_provider_codex.tables import (
    CODE_REVIEW_RESPONSES_DAILY,
    CODE_REVIEWS_DAILY,
    CODEX_ENVIRONMENTS,
    CODEX_TASKS,
    COMPLIANCE_EVENTS,
    USAGE_USER_TABLES,
    USAGE_WORKSPACE_TABLES,
    Flattener,
    TableSpec,
    flatten_code_review_responses,
    flatten_code_reviews,
    flatten_codex_environments,
    flatten_codex_tasks,
    flatten_compliance_events,
    flatten_usage_users,
    flatten_usage_workspace,
)
from airflow_provider_codex.tables.columnar import (
    ColumnFlattener,
    flatten_code_review_responses_columns,
    flatten_code_reviews_columns,
    flatten_compliance_columns,
    flatten_usage_users_columns,
    flatten_usage_workspace_columns,
)


class Source(enum.StrEnum):
    """How a dataset's rows are read for a window."""

    #: Analytics rows of ``[start, end)``, fetched as one cursor-paged window.
    ANALYTICS_WINDOW = "analytics_window"
    #: Events of ``[start, end)`` from the compliance log files that may hold them.
    COMPLIANCE_LOGS = "compliance_logs"
    #: The whole list as it is now, dated the window's last day.
    SNAPSHOT = "snapshot"


@dataclass(frozen=True)
class Dataset:
    """One loadable dataset: its endpoint, the flattener and tables of its rows, how it is read.

    A load replaces the window's days of all of ``tables`` together.
    """

    name: str
    endpoint: Endpoint
    flatten: Flattener
    tables: tuple[TableSpec, ...]
    source: Source
    doc: str
    #: The same rows as column batches (:mod:`.tables.columnar`), for a sink that ``takes_columns``.
    flatten_columns: ColumnFlattener | None = None

    @property
    def api(self) -> Api:
        return self.endpoint.api


DATASETS: Mapping[str, Dataset] = MappingProxyType(
    {
        d.name: d
        for d in (
            Dataset(
                "usage",
                endpoints.USAGE,
                flatten_usage_users,
                USAGE_USER_TABLES,
                Source.ANALYTICS_WINDOW,
                "usage per user per day",
                flatten_usage_users_columns,
            ),
            Dataset(
                "usage_workspace",
                endpoints.USAGE_WORKSPACE,
                flatten_usage_workspace,
                USAGE_WORKSPACE_TABLES,
                Source.ANALYTICS_WINDOW,
                "usage of the whole workspace per day",
                flatten_usage_workspace_columns,
            ),
            Dataset(
                "code_reviews",
                endpoints.CODE_REVIEWS,
                flatten_code_reviews,
                (CODE_REVIEWS_DAILY,),
                Source.ANALYTICS_WINDOW,
                "code reviews per day",
                flatten_code_reviews_columns,
            ),
            Dataset(
                "code_review_responses",
                endpoints.CODE_REVIEW_RESPONSES,
                flatten_code_review_responses,
                (CODE_REVIEW_RESPONSES_DAILY,),
                Source.ANALYTICS_WINDOW,
                "engagement with code review comments per day",
                flatten_code_review_responses_columns,
            ),
            Dataset(
                "compliance_events",
                endpoints.COMPLIANCE_LOGS,
                flatten_compliance_events,
                (COMPLIANCE_EVENTS,),
                Source.COMPLIANCE_LOGS,
                "Codex activity log events (deduplicated on event_id)",
                flatten_compliance_columns,
            ),
            Dataset(
                "codex_tasks",
                endpoints.CODEX_TASKS,
                flatten_codex_tasks,
                (CODEX_TASKS,),
                Source.SNAPSHOT,
                "daily snapshot of Codex tasks",
            ),
            Dataset(
                "codex_environments",
                endpoints.CODEX_ENVIRONMENTS,
                flatten_codex_environments,
                (CODEX_ENVIRONMENTS,),
                Source.SNAPSHOT,
                "daily snapshot of Codex environments",
            ),
        )
    }
)

#: Every analytics dataset, in the order a daily DAG loads them.
ANALYTICS_DATASETS = tuple(name for name, d in DATASETS.items() if d.api is Api.ANALYTICS)


class UnknownDatasetError(ValueError, KeyError):
    """A name that is no dataset: a ``ValueError`` for callers, a ``KeyError`` for registry lookups."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_dataset(name: str) -> Dataset:
    """Look a dataset up by name, with an error that lists the known ones."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise UnknownDatasetError(f"unknown Codex dataset {name!r}; choose one of: {', '.join(DATASETS)}") from None


def endpoint_for(name: str, source: Source) -> Endpoint:
    """The endpoint of dataset ``name``, which must be read as ``source`` (the caller's way of reading)."""
    dataset = get_dataset(name)
    if dataset.source is not source:
        fits = ", ".join(d.name for d in DATASETS.values() if d.source is source)
        raise ValueError(f"dataset {name!r} is read as {dataset.source.value}, not {source.value}: use one of {fits}")
    return dataset.endpoint
