"""Where table records go. Sinks take a ``TableSpec`` and records, never an endpoint.

- :class:`SqlSink`: any database with an Airflow ``DbApiHook``;
- :class:`StorageSink`: any ``ObjectStoragePath`` (local, S3, GCS, ...).

Both are a :class:`TableSink`: they replace a workspace's days atomically, so reloads and retries leave one
copy, and both return a :class:`ReplaceResult` per table. :class:`LogFileArchive` keeps compliance log
files verbatim, with a manifest per day.
"""

from __future__ import annotations

from airflow_provider_codex.sinks.archive import LOG_FILES_FOLDER, ArchiveFile, ArchiveResult, LogFileArchive
from airflow_provider_codex.sinks.base import ReplaceResult, Stage, TableSink
from airflow_provider_codex.sinks.sql import SqlSink, hook_from_conn_id
from airflow_provider_codex.sinks.storage import StorageSink

__all__ = [
    "LOG_FILES_FOLDER",
    "ArchiveFile",
    "ArchiveResult",
    "LogFileArchive",
    "ReplaceResult",
    "SqlSink",
    "Stage",
    "StorageSink",
    "TableSink",
    "hook_from_conn_id",
]
