"""The registry of datasets: what an operator can load, by name.

A dataset ties one endpoint of the contract (:mod:`.api.endpoints`) to the
table family that flattens its rows (:mod:`.tables`) and says how its data is
read: a time window of analytics rows, the compliance log files of a window,
or a snapshot of a list. Operators take a dataset *name*; nothing downstream
has per-endpoint code.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from airflow_provider_codex.api.endpoints import (
    CODE_REVIEW_RESPONSES,
    CODE_REVIEWS,
    CODEX_ENVIRONMENTS,
    CODEX_TASKS,
    COMPLIANCE_LOGS,
    USAGE,
    USAGE_WORKSPACE,
    Api,
    Endpoint,
)
from airflow_provider_codex.tables import FAMILIES, TableFamily, TableSpec


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
    name: str
    endpoint: Endpoint
    family: TableFamily
    source: Source
    doc: str

    @property
    def tables(self) -> tuple[TableSpec, ...]:
        return self.family.tables

    @property
    def api(self) -> Api:
        return self.endpoint.api


def _dataset(name: str, endpoint: Endpoint, family: str, source: Source, doc: str) -> Dataset:
    return Dataset(name, endpoint, FAMILIES[family], source, doc)


DATASETS: Mapping[str, Dataset] = MappingProxyType(
    {
        d.name: d
        for d in (
            _dataset("usage", USAGE, "usage_users", Source.ANALYTICS_WINDOW, "usage per user per day"),
            _dataset(
                "usage_workspace",
                USAGE_WORKSPACE,
                "usage_workspace",
                Source.ANALYTICS_WINDOW,
                "usage of the whole workspace per day",
            ),
            _dataset("code_reviews", CODE_REVIEWS, "code_reviews", Source.ANALYTICS_WINDOW, "code reviews per day"),
            _dataset(
                "code_review_responses",
                CODE_REVIEW_RESPONSES,
                "code_review_responses",
                Source.ANALYTICS_WINDOW,
                "engagement with code review comments per day",
            ),
            _dataset(
                "compliance_events",
                COMPLIANCE_LOGS,
                "compliance_events",
                Source.COMPLIANCE_LOGS,
                "Codex activity log events (deduplicated on event_id)",
            ),
            _dataset("codex_tasks", CODEX_TASKS, "codex_tasks", Source.SNAPSHOT, "daily snapshot of Codex tasks"),
            _dataset(
                "codex_environments",
                CODEX_ENVIRONMENTS,
                "codex_environments",
                Source.SNAPSHOT,
                "daily snapshot of Codex environments",
            ),
        )
    }
)

#: Every analytics dataset, in the order a daily DAG loads them.
ANALYTICS_DATASETS = tuple(name for name, d in DATASETS.items() if d.api is Api.ANALYTICS)


def get_dataset(name: str) -> Dataset:
    """Look a dataset up by name, with an error that lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown Codex dataset {name!r}; choose one of: {', '.join(DATASETS)}") from None
