"""Codex compliance log files → object storage, verbatim, with a manifest per day.

For eDiscovery and SIEM pipelines that want the files as the API served them:
each file is downloaded, checked against its listing's SHA-256, and kept as it
came (content included), one folder per day, each day replaced whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import ObjectStoragePath

from airflow_provider_codex.datasets import Dataset
from airflow_provider_codex.hooks.codex import CodexHook
from airflow_provider_codex.load import Checkpoint, LoadSummary, archive_log_files
from airflow_provider_codex.sinks import LOG_FILES_FOLDER, LogFileArchive
from airflow_provider_codex.transfers.base import CodexLoadOperator, ContentPolicyArg
from airflow_provider_codex.transfers.lineage import Written, rows_of, storage_place
from airflow_provider_codex.windows import Window


class CodexLogFilesToStorageOperator(CodexLoadOperator):
    """Archive a window's compliance log files verbatim under ``<path>/codex_compliance_log_files/``.

    Layout: ``workspace_id=<id>/day=<YYYY-MM-DD>/<file id>.jsonl`` and a
    ``_manifest.json`` per day (id, event type, end time, SHA-256, size, path
    of each file), the day's commit point. A file holding events of two days
    is archived under both. Takes the other transfers' window, connection,
    ``event_types``, ``grace`` and ``deferrable`` arguments; after a long rate
    limit it starts the window over.

    :param path: the base folder: ``file:///data/codex``, ``s3://conn_id@bucket/codex``…
    """

    template_fields: Sequence[str] = (*CodexLoadOperator.template_fields, "path")
    default_content_policy: ClassVar[ContentPolicyArg] = "keep"

    def __init__(
        self,
        *,
        path: str | ObjectStoragePath,
        dataset: str = "compliance_events",
        **kwargs: Any,
    ) -> None:
        if dataset != "compliance_events":
            raise ValueError(
                f"the archive stores compliance log files: use dataset='compliance_events', not {dataset!r}"
            )
        kwargs["outlets"] = self.outlets_for(dataset, kwargs)
        super().__init__(dataset=dataset, **kwargs)
        self.path = str(path)

    @classmethod
    def tables_written(cls, dataset: Dataset, arguments: Mapping[str, Any]) -> list[str]:
        return [LOG_FILES_FOLDER]

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        kwargs.setdefault("dataset", "compliance_events")
        return super().partial(**kwargs)

    def destination(self) -> dict[str, Any]:
        return {"path": self.path, "format": "verbatim"}

    def lineage_outputs(self, dataset: Dataset, result: Mapping[str, Any] | None) -> list[Written]:
        """The archive folder: verbatim files, so no schema; the files it holds for the window, once it ran."""
        place = storage_place(ObjectStoragePath(self.path) / LOG_FILES_FOLDER)
        return [Written(place, files=rows_of(result, LOG_FILES_FOLDER))]

    def load(
        self,
        hook: CodexHook,
        dataset: Dataset,
        window: Window,
        *,
        previous: LoadSummary | None = None,
        resume: Checkpoint | None = None,
        stage_id: str | None = None,
    ) -> LoadSummary:
        archive = LogFileArchive(ObjectStoragePath(self.path))
        return archive_log_files(hook.client, window, archive, event_types=self.event_types, grace=self.grace)
