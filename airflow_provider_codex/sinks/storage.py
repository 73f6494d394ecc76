"""Load table records into object storage (local files, S3, GCS, ...) as Hive-style partitions.

Layout: ``<base>/<table>/workspace_id=<id>/<day column>=<YYYY-MM-DD>/part-0000.jsonl.gz``
(or ``.parquet``). The partition values live in the path, not in the files,
as Hive, Spark, Athena and ``pyarrow.dataset`` expect (a column in both places
makes them fail).

Each day of a table is ONE object with a fixed name, replaced whole
(:mod:`._objects`): readers see the old day or the new day, never half of one.
Then any other part in the folder (an older layout, the other format) is
removed: a rerun leaves no stale parts. A day without records gets an empty
file: the source said that day is empty now. The verbatim archive of log
files is :mod:`.archive`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Literal

from airflow.sdk import ObjectStoragePath

from airflow_provider_codex.sinks._formats import FileFormat, make_format
from airflow_provider_codex.sinks._objects import open_for_write, path_value, remove_stale, replacing
from airflow_provider_codex.sinks._staging import (
    DEFAULT_BUFFER_ROWS,
    StagedTable,
    check_days,
    stage,
)
from airflow_provider_codex.sinks.base import ReplaceResult, TableSink
from airflow_provider_codex.tables.schema import TableSpec, Tagged, validate_identifier

log = logging.getLogger(__name__)


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

    def partition_path(self, spec: TableSpec, workspace_id: str, day: date) -> ObjectStoragePath:
        """The folder of one workspace's day of ``spec``."""
        validate_identifier(spec.name, "table name")
        return (
            self.base
            / spec.name
            / f"{spec.workspace_column}={path_value(workspace_id, 'workspace id')}"
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
        path_value(workspace_id, "workspace id")
        for spec in specs:
            validate_identifier(spec.name, "table name")
        day_list = check_days(days)
        with stage(specs, workspace_id, day_list, tagged, buffer_rows=self.buffer_rows) as staged:
            self._write(staged, workspace_id)
            return {t.name: t.result() for t in staged}

    def _write(self, staged: list[StagedTable], workspace_id: str) -> None:
        with replacing(uuid.uuid4().hex) as replacement:
            for table in staged:
                columns = [(n, t) for n, t in table.columns if n not in table.spec.partition]
                for day in table.days:
                    folder = self.partition_path(table.spec, workspace_id, day)
                    folder.mkdir(parents=True, exist_ok=True)
                    with open_for_write(replacement.temporary(folder / self.part_name)) as fh:
                        count = self.format.write(fh, columns, table.records(day))
                    log.info("%s %s: wrote %d rows", table.name, day, count)
            for final in replacement.commit():
                removed = remove_stale(final.parent, keep={final.name})
                log.debug("%s: in place, %d stale objects removed", final.parent, removed)
