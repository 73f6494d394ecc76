"""Keep compliance log files verbatim in object storage, with a manifest per day.

For eDiscovery and SIEM pipelines that want the files as the API served them:
``<base>/codex_compliance_log_files/workspace_id=<id>/day=<YYYY-MM-DD>/<file id>.jsonl``.
Each day is replaced whole (:mod:`._objects`); its manifest is the commit
point and always lists complete files whose SHA-256 matched the listing.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_codex import _json
from airflow_provider_codex.sinks._objects import open_for_write, path_value, remove_stale, replacing
from airflow_provider_codex.sinks._staging import check_days
from airflow_provider_codex.tables.schema import validate_identifier

log = logging.getLogger(__name__)

#: The folder of archived compliance log files under the archive's base.
LOG_FILES_FOLDER = "codex_compliance_log_files"
MANIFEST_NAME = "_manifest.json"


@dataclass(frozen=True)
class ArchiveFile:
    """One downloaded log file to archive, as it came.

    ``sha256`` is the digest the listing announced (``file_sha256``); when
    given, the content must match it or nothing of the day is replaced.
    """

    file_id: str
    content: bytes
    event_type: str | None = None
    end_time: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class ArchiveResult:
    """The manifest written for the day, its entries, and stale files removed."""

    manifest_path: str
    files: list[dict[str, Any]]
    removed: int


class LogFileArchive:
    """Replace a workspace's days of verbatim log files under an ``ObjectStoragePath``.

    :param base: the root folder, e.g. ``ObjectStoragePath("s3://aws_default@bucket/codex")``
        or ``"file:///data/codex"``.
    """

    def __init__(self, base: ObjectStoragePath | str) -> None:
        self.base = base if isinstance(base, ObjectStoragePath) else ObjectStoragePath(base)

    def archive_files(
        self,
        workspace_id: str,
        day: date,
        files: Iterable[ArchiveFile],
        *,
        folder: str = LOG_FILES_FOLDER,
    ) -> ArchiveResult:
        """Keep log files verbatim: ``<base>/<folder>/workspace_id=<id>/day=<day>/<file_id>.jsonl``.

        Replaces the day: every file is written under a temporary name first
        (one file in memory at a time), then moved into place, then the
        day's manifest (``_manifest.json``: id, event_type, end_time, sha256,
        size, path per file) is replaced, then files of earlier loads that the
        new manifest does not list are removed. A file id given twice is
        stored once.
        """
        validate_identifier(folder, "archive folder")
        day = check_days([day])[0]
        directory = self.base / folder / f"workspace_id={path_value(workspace_id, 'workspace id')}" / f"day={day}"
        directory.mkdir(parents=True, exist_ok=True)
        entries: list[dict[str, Any]] = []
        seen: set[str] = set()
        with replacing(uuid.uuid4().hex) as replacement:
            for item in files:
                name = f"{path_value(item.file_id, 'log file id')}.jsonl"
                if item.file_id in seen:
                    continue
                seen.add(item.file_id)
                digest = hashlib.sha256(item.content).hexdigest()
                if item.sha256 is not None and item.sha256.lower() != digest:
                    raise ValueError(f"log file {item.file_id}: SHA-256 differs from the listing; not archived")
                with open_for_write(replacement.temporary(directory / name)) as fh:
                    fh.write(item.content)
                entries.append(
                    {
                        "id": item.file_id,
                        "event_type": item.event_type,
                        "end_time": item.end_time,
                        "sha256": digest,
                        "size": len(item.content),
                        "path": str(directory / name),
                    }
                )
            manifest = {
                "workspace_id": workspace_id,
                "day": day.isoformat(),
                "written_at": datetime.now(UTC).isoformat(),
                "files": entries,
            }
            with open_for_write(replacement.temporary(directory / MANIFEST_NAME)) as fh:
                fh.write(_json.dumps(manifest))
            for _ in replacement.commit():
                pass
        removed = remove_stale(directory, keep={f"{e['id']}.jsonl" for e in entries})
        log.info("archived %d log files for %s (%d stale removed)", len(entries), day, removed)
        return ArchiveResult(str(directory / MANIFEST_NAME), entries, removed)
