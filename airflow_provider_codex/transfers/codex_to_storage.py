"""Codex → object storage: a window of a dataset as Hive-style partitions, each day replaced atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from airflow.sdk import ObjectStoragePath

from airflow_provider_codex.datasets import Dataset
from airflow_provider_codex.sinks import StorageSink
from airflow_provider_codex.transfers.base import CodexLoadOperator
from airflow_provider_codex.transfers.lineage import Written, rows_of, storage_place


class CodexToStorageOperator(CodexLoadOperator):
    """Load a window of a Codex dataset into object storage, as Hive-style partitions.

    Files go to ``<path>/<table>/workspace_id=<id>/day=<YYYY-MM-DD>/part-0000.jsonl.gz``
    (or ``.parquet``); each day's partition is replaced atomically. The
    compliance log files themselves, verbatim, are
    :class:`~.codex_log_files_to_storage.CodexLogFilesToStorageOperator`'s.

    :param path: the base folder: ``file:///data/codex``, ``s3://conn_id@bucket/codex``…
    :param file_format: ``jsonl`` (gzip JSON Lines) or ``parquet`` (needs pyarrow).
    """

    template_fields: Sequence[str] = (*CodexLoadOperator.template_fields, "path")

    def __init__(
        self,
        *,
        path: str | ObjectStoragePath,
        file_format: Literal["jsonl", "parquet"] = "jsonl",
        **kwargs: Any,
    ) -> None:
        kwargs["outlets"] = self.outlets_for(kwargs["dataset"], kwargs)
        super().__init__(**kwargs)
        self.path = str(path)
        self.file_format = file_format

    def destination(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.file_format}

    def lineage_outputs(self, dataset: Dataset, result: Mapping[str, Any] | None) -> list[Written]:
        base = ObjectStoragePath(self.path)
        return [
            Written(storage_place(base / spec.name), spec, rows=rows_of(result, spec.name)) for spec in dataset.tables
        ]

    def make_sink(self) -> StorageSink:
        return StorageSink(ObjectStoragePath(self.path), file_format=self.file_format)
