"""The five exports as files: CSV and JSON Lines per workspace and window, each replaced atomically.

Layout: ``<base>/<export>/workspace_id=<id>/<first day>_<last day>.csv`` (and
``.jsonl``), both days included. The columns are the export view's, in its
order, ``built_at`` aside (see ``docs/views.md``); a gap is an empty CSV cell
and a JSON ``null``; days are ``YYYY-MM-DD``. Every file of a run is written
to a temporary twin first and moved into place when all are written
(:mod:`..sinks._objects`), so a reader sees the previous files or the new
ones; a rerun of the window replaces them.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_codex.sinks._objects import open_for_write, path_value, replacing
from airflow_provider_codex.tables import Record
from airflow_provider_codex.views.catalog import EXPORTS, View
from airflow_provider_codex.windows import Window

FORMATS = ("csv", "jsonl")


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def csv_bytes(columns: Sequence[str], records: Iterable[Record]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow(["" if record.get(c) is None else _cell(record.get(c)) for c in columns])
    return out.getvalue().encode("utf-8")


def jsonl_bytes(columns: Sequence[str], records: Iterable[Record]) -> bytes:
    lines = [json.dumps({c: _cell(record.get(c)) for c in columns}, ensure_ascii=False) for record in records]
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def window_file(
    base: ObjectStoragePath, name: str, workspace_id: str, first: date, last: date, fmt: str
) -> ObjectStoragePath:
    """``<base>/<name>/workspace_id=<id>/<first>_<last>.<fmt>``: a file of one workspace and range of days."""
    folder = base / name / f"workspace_id={path_value(workspace_id, 'workspace id')}"
    return folder / f"{first.isoformat()}_{last.isoformat()}.{fmt}"


def export_path(base: ObjectStoragePath, view: View, workspace_id: str, window: Window, fmt: str) -> ObjectStoragePath:
    """Where ``view``'s file of one workspace and window goes."""
    return window_file(base, view.name, workspace_id, window.days[0], window.days[-1], fmt)


def write_exports(
    base: ObjectStoragePath | str,
    workspace_id: str,
    window: Window,
    rows: Mapping[str, list[Record]],
    formats: Sequence[str] = FORMATS,
) -> list[ObjectStoragePath]:
    """Write every export's rows of the window in each of ``formats``; the paths written, once in place."""
    root = base if isinstance(base, ObjectStoragePath) else ObjectStoragePath(base)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"export formats {unknown or list(formats)}: choose among {list(FORMATS)}")
    render = {"csv": csv_bytes, "jsonl": jsonl_bytes}
    return replace_files(
        (export_path(root, view, workspace_id, window, fmt), render[fmt](view.export_columns, rows.get(view.name, [])))
        for view in EXPORTS
        for fmt in formats
    )


def replace_files(contents: Iterable[tuple[ObjectStoragePath, bytes]]) -> list[ObjectStoragePath]:
    """Write each ``(path, bytes)`` to a temporary twin, then move all into place; the paths, once there."""
    with replacing(uuid.uuid4().hex) as replacement:
        for final, data in contents:
            final.parent.mkdir(parents=True, exist_ok=True)
            with open_for_write(replacement.temporary(final)) as fh:
                fh.write(data)
        return list(replacement.commit())
