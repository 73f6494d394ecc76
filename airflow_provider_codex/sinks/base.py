"""What every sink offers: replace a workspace's days of several tables at once.

A sink implements :meth:`TableSink.replace_tables`; the one-table form
:meth:`TableSink.replace` is written here, once, for all of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import date

from airflow_provider_codex.sinks._staging import ReplaceResult
from airflow_provider_codex.tables.schema import Record, TableSpec, Tagged


class TableSink(ABC):
    """A destination whose loads replace whole workspace-days, so retries and reruns leave one copy."""

    @abstractmethod
    def replace_tables(
        self,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: Iterable[date],
        tagged: Iterable[Tagged],
    ) -> dict[str, ReplaceResult]:
        """Replace ``days`` of ``workspace_id`` in several tables with ``(table name, record)`` pairs."""

    def replace(
        self, spec: TableSpec, workspace_id: str, days: Iterable[date], records: Iterable[Record]
    ) -> ReplaceResult:
        """Replace ``days`` of ``workspace_id`` in ``spec``'s table with ``records``."""
        name = spec.name
        return self.replace_tables([spec], workspace_id, days, ((name, r) for r in records))[name]
