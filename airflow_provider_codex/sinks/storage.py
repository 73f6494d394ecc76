"""Load table records into object storage (local files, S3, GCS, ...) as Hive-style partitions.

Layout: ``<base>/<table>/workspace_id=<id>/<day column>=<YYYY-MM-DD>/part-0000.jsonl.gz``
(or ``.parquet``). The partition values live in the path, not in the files,
as Hive, Spark, Athena and ``pyarrow.dataset`` expect (a column in both places
makes them fail).

Each day of a table is ONE object with a fixed name. A replace writes every
partition to a temporary object in the same folder (``_tmp-…``: a leading
underscore makes readers skip it), and only when all are written moves each
into place. A single object move is atomic on a file system and on object
stores (the new object appears whole), so readers see the old day or the new
day, never half of one. Then any other part in the folder (an older layout,
the other format) is removed: a rerun leaves no stale parts. A day without
records gets an empty file: the source said that day is empty now.

Archive mode keeps downloaded compliance log files verbatim, with a manifest
per day; see :meth:`StorageSink.archive_files`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any, Literal, cast

from airflow.sdk import ObjectStoragePath

from airflow_provider_codex import _json
from airflow_provider_codex.sinks._formats import FileFormat, make_format
from airflow_provider_codex.sinks._staging import (
    DEFAULT_BUFFER_ROWS,
    ReplaceResult,
    StagedTable,
    check_days,
    stage,
)
from airflow_provider_codex.sinks.base import TableSink
from airflow_provider_codex.tables.schema import TableSpec, Tagged, validate_identifier

log = logging.getLogger(__name__)

#: The folder of archived compliance log files under the sink's base.
LOG_FILES_FOLDER = "codex_compliance_log_files"
MANIFEST_NAME = "_manifest.json"
_PATH_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def _path_value(value: str, what: str) -> str:
    """A value that becomes a path segment: refuse anything that could escape its folder."""
    if not isinstance(value, str) or _PATH_VALUE.fullmatch(value) is None or ".." in value:
        raise ValueError(f"invalid {what} {value!r} for a storage path: letters, digits, '.', '_', '-'")
    return value


def _hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def _open_for_write(path: ObjectStoragePath) -> IO[bytes]:
    return cast("IO[bytes]", path.open("wb"))  # type: ignore[no-untyped-call]


def _move(source: ObjectStoragePath, target: ObjectStoragePath) -> None:
    """Move one object into place (overwriting): a rename, or a copy then delete on object stores."""
    source.fs.mv(source.path, target.path)


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


class StorageSink(TableSink):
    """Replace a workspace's days of tables as files under an ``ObjectStoragePath``.

    :param base: the root folder, e.g. ``ObjectStoragePath("s3://aws_default@bucket/codex")``
        or ``"file:///data/codex"``.
    :param file_format: ``"jsonl"`` (gzip JSON Lines) or ``"parquet"`` (needs pyarrow).
    :param row_group_size: Parquet rows per row group.
    :param compression: Parquet compression codec.
    :param buffer_rows: records held in memory while staging.
    """

    def __init__(
        self,
        base: ObjectStoragePath | str,
        *,
        file_format: Literal["jsonl", "parquet"] = "jsonl",
        row_group_size: int = 50_000,
        compression: str = "zstd",
        buffer_rows: int = DEFAULT_BUFFER_ROWS,
    ) -> None:
        self.base = base if isinstance(base, ObjectStoragePath) else ObjectStoragePath(base)
        self.format: FileFormat = make_format(file_format, row_group_size=row_group_size, compression=compression)
        self.part_name = f"part-0000{self.format.suffix}"
        self.buffer_rows = buffer_rows

    # -- tables ----------------------------------------------------------------------

    def partition_path(self, spec: TableSpec, workspace_id: str, day: date) -> ObjectStoragePath:
        """The folder of one workspace's day of ``spec``."""
        validate_identifier(spec.name, "table name")
        return (
            self.base
            / spec.name
            / f"{spec.workspace_column}={_path_value(workspace_id, 'workspace id')}"
            / f"{spec.day_column}={day.isoformat()}"
        )

    def replace_tables(
        self,
        specs: Sequence[TableSpec],
        workspace_id: str,
        days: Iterable[date],
        tagged: Iterable[Tagged],
    ) -> dict[str, ReplaceResult]:
        """Replace ``days`` of ``workspace_id`` in several tables (``(table name, record)`` pairs)."""
        _path_value(workspace_id, "workspace id")
        for spec in specs:
            validate_identifier(spec.name, "table name")
        day_list = check_days(days)
        with stage(specs, workspace_id, day_list, tagged, buffer_rows=self.buffer_rows) as staged:
            self._write(staged, workspace_id)
            return {t.name: t.result() for t in staged}

    def _write(self, staged: list[StagedTable], workspace_id: str) -> None:
        pending: list[tuple[ObjectStoragePath, ObjectStoragePath]] = []
        try:
            for table in staged:
                columns = [(n, t) for n, t in table.columns if n not in table.spec.partition]
                for day in table.days:
                    folder = self.partition_path(table.spec, workspace_id, day)
                    folder.mkdir(parents=True, exist_ok=True)
                    temporary = folder / f"_tmp-{uuid.uuid4().hex}-{self.part_name}"
                    pending.append((temporary, folder / self.part_name))
                    with _open_for_write(temporary) as fh:
                        count = self.format.write(fh, columns, table.records(day))
                    log.info("%s %s: wrote %d rows", table.name, day, count)
            while pending:
                temporary, final = pending[0]
                _move(temporary, final)
                pending.pop(0)
                removed = self._remove_stale(final.parent, keep={final.name})
                log.debug("%s: in place, %d stale objects removed", final.parent, removed)
        finally:
            for temporary, _ in pending:
                with suppress(Exception):
                    temporary.unlink()

    @staticmethod
    def _remove_stale(folder: ObjectStoragePath, keep: set[str]) -> int:
        """Remove the visible objects of ``folder`` not in ``keep``; temporary ones are left alone
        (they may belong to a concurrent load; readers skip them)."""
        removed = 0
        for path in folder.iterdir():
            if path.name in keep or _hidden(path.name) or not path.is_file():
                continue
            path.unlink()
            removed += 1
        return removed

    # -- archive ---------------------------------------------------------------------

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
        new manifest does not list are removed. The manifest is the day's
        commit point: it always lists complete files. A file id given twice is
        stored once.
        """
        validate_identifier(folder, "archive folder")
        day = check_days([day])[0]
        directory = self.base / folder / f"workspace_id={_path_value(workspace_id, 'workspace id')}" / f"day={day}"
        directory.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        pending: list[tuple[ObjectStoragePath, ObjectStoragePath]] = []
        entries: list[dict[str, Any]] = []
        seen: set[str] = set()
        try:
            for item in files:
                name = f"{_path_value(item.file_id, 'log file id')}.jsonl"
                if item.file_id in seen:
                    continue
                seen.add(item.file_id)
                digest = hashlib.sha256(item.content).hexdigest()
                if item.sha256 is not None and item.sha256.lower() != digest:
                    raise ValueError(f"log file {item.file_id}: SHA-256 differs from the listing; not archived")
                temporary = directory / f"_tmp-{token}-{name}"
                with _open_for_write(temporary) as fh:
                    fh.write(item.content)
                pending.append((temporary, directory / name))
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
            temporary = directory / f"_tmp-{token}-{MANIFEST_NAME}"
            with _open_for_write(temporary) as fh:
                fh.write(_json.dumps(manifest))
            pending.append((temporary, directory / MANIFEST_NAME))
            while pending:
                _move(*pending[0])
                pending.pop(0)
        finally:
            for temporary, _ in pending:
                with suppress(Exception):
                    temporary.unlink()
        removed = self._remove_stale(directory, keep={f"{e['id']}.jsonl" for e in entries})
        log.info("archived %d log files for %s (%d stale removed)", len(entries), day, removed)
        return ArchiveResult(str(directory / MANIFEST_NAME), entries, removed)
