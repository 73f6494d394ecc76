"""StorageSink and LogFileArchive on local file:// paths: layout, gzip JSON Lines, Parquet, atomic replace."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
from datetime import UTC, date, datetime

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_codex.sinks import ArchiveFile, LogFileArchive, StorageSink
from airflow_provider_codex.tables import (
    CODEX_TASKS,
    USAGE_USER_CLIENT_DAILY,
    USAGE_USER_DAILY,
    USAGE_USER_TABLES,
    FlattenContext,
    flatten_codex_tasks,
    flatten_usage_users,
)

WS = "0b7e9f3c-1111-2222-3333-444455556666"
D1, D2 = date(2025, 11, 1), date(2025, 11, 2)
LOADED = datetime(2025, 11, 5, 6, 30, tzinfo=UTC)


def usage_rows(days, credits=1.0, **extra):
    rows = []
    for day in days:
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        for user in ("u1", "u2"):
            rows.append(
                {
                    "start_time": start,
                    "user_id": user,
                    "actor": {"type": "ACCOUNT_USER", "user_id": user, "email": None},
                    "totals": {"threads": 1, "turns": 2, "credits": credits, "cost_usd": None},
                    "clients": [{"client_id": "CODEX_CLI", "threads": 1, "text_total_tokens": None}],
                    **extra,
                }
            )
    return list(flatten_usage_users(rows, FlattenContext(WS, LOADED)))


@pytest.fixture
def base(tmp_path):
    return ObjectStoragePath(f"file://{tmp_path}/lake")


def files_under(path: ObjectStoragePath) -> list[str]:
    root = str(path.path)
    return sorted(str(p.path)[len(root) + 1 :] for p in path.rglob("*") if p.is_file())


def read_jsonl(path: ObjectStoragePath) -> list[dict]:
    with gzip.open(path.path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_hive_layout_and_gzip_json_lines(base):
    sink = StorageSink(base)
    results = sink.replace_tables(USAGE_USER_TABLES, WS, [D1, D2], usage_rows([D1, D2]))
    assert results[USAGE_USER_DAILY.name].inserted == {D1: 2, D2: 2}
    assert results[USAGE_USER_DAILY.name].deleted is None
    layout = files_under(base)
    assert f"codex_usage_user_daily/workspace_id={WS}/day=2025-11-01/part-0000.jsonl.gz" in layout
    # model rows: none came, but each replaced day still gets its (empty) file
    assert f"codex_usage_user_model_daily/workspace_id={WS}/day=2025-11-02/part-0000.jsonl.gz" in layout
    assert len(layout) == 6 and not any("_tmp" in f for f in layout)
    lines = read_jsonl(sink.partition_path(USAGE_USER_DAILY, WS, D1) / "part-0000.jsonl.gz")
    assert lines[0] == {
        "user_id": "u1",
        "email": None,
        "actor_type": "ACCOUNT_USER",
        "threads": 1,
        "turns": 2,
        "credits": 1.0,
        "cost_usd": None,
        "estimated_cost_usd": None,
        "lines_added": None,
        "lines_removed": None,
        "extra_json": None,
        "loaded_at": "2025-11-05T06:30:00+00:00",
    }  # every column, partition columns in the path only
    assert (
        read_jsonl(sink.partition_path(USAGE_USER_CLIENT_DAILY, WS, D2) / "part-0000.jsonl.gz")[1]["client_id"]
        == "CODEX_CLI"
    )


def test_rerun_replaces_the_day_and_leaves_no_stale_parts(base):
    sink = StorageSink(base)
    sink.replace(USAGE_USER_DAILY, WS, [D1], [r for n, r in usage_rows([D1]) if n == USAGE_USER_DAILY.name])
    folder = sink.partition_path(USAGE_USER_DAILY, WS, D1)
    (folder / "part-0001.jsonl.gz").write_bytes(b"stale")
    (folder / "_tmp-other-run").write_bytes(b"someone else's temporary file")
    new = [r for n, r in usage_rows([D1], credits=5.0) if n == USAGE_USER_DAILY.name]
    sink.replace(USAGE_USER_DAILY, WS, [D1], new)
    assert sorted(p.name for p in folder.iterdir()) == ["_tmp-other-run", "part-0000.jsonl.gz"]
    assert [r["credits"] for r in read_jsonl(folder / "part-0000.jsonl.gz")] == [5.0, 5.0]
    sink.replace(USAGE_USER_DAILY, WS, [D1], [])
    assert read_jsonl(folder / "part-0000.jsonl.gz") == []


def test_failure_mid_stream_keeps_the_old_partition(base):
    sink = StorageSink(base)
    old = [r for n, r in usage_rows([D1]) if n == USAGE_USER_DAILY.name]
    sink.replace(USAGE_USER_DAILY, WS, [D1], old)
    folder = sink.partition_path(USAGE_USER_DAILY, WS, D1)
    before = (folder / "part-0000.jsonl.gz").read_bytes()

    def broken():
        yield old[0]
        raise RuntimeError("API died")

    with pytest.raises(RuntimeError):
        sink.replace(USAGE_USER_DAILY, WS, [D1], broken())
    assert (folder / "part-0000.jsonl.gz").read_bytes() == before
    assert [p.name for p in folder.iterdir()] == ["part-0000.jsonl.gz"]


def test_parquet_with_extra_columns_reads_back_with_hive_partitioning(base):
    import pyarrow.dataset as pads

    sink = StorageSink(base, file_format="parquet")
    tagged = usage_rows([D1, D2], newCounter=3)
    sink.replace_tables(USAGE_USER_TABLES, WS, [D1, D2], tagged)
    folder = sink.partition_path(USAGE_USER_DAILY, WS, D1)
    assert [p.name for p in folder.iterdir()] == ["part-0000.parquet"]
    table = pads.dataset(str((base / USAGE_USER_DAILY.name).path), format="parquet", partitioning="hive").to_table()
    rows = sorted(table.to_pylist(), key=lambda r: (r["day"], r["user_id"]))
    assert len(rows) == 4
    first = rows[0]
    assert first["workspace_id"] == WS and str(first["day"]) == "2025-11-01"
    assert first["credits"] == 1.0 and first["cost_usd"] is None and first["new_counter"] == 3
    assert first["loaded_at"] == LOADED
    schema = table.schema
    assert str(schema.field("loaded_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("threads").type) == "int64"
    # switching format replaces the day's part: no JSON Lines left over, and vice versa
    StorageSink(base).replace(USAGE_USER_DAILY, WS, [D1], [])
    assert [p.name for p in folder.iterdir()] == ["part-0000.jsonl.gz"]


def test_parquet_needs_pyarrow(base, monkeypatch):
    real = importlib.import_module

    def no_pyarrow(name, *args):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_pyarrow)
    with pytest.raises(ImportError, match=r"airflow-provider-codex\[parquet\]"):
        StorageSink(base, file_format="parquet")
    with pytest.raises(ValueError, match="unknown file format"):
        StorageSink(base, file_format="csv")  # type: ignore[arg-type]


def test_snapshot_tables_partition_by_snapshot_day(base):
    sink = StorageSink(base)
    ctx = FlattenContext(WS, LOADED)
    sink.replace_tables([CODEX_TASKS], WS, [LOADED.date()], flatten_codex_tasks([{"id": "t1"}], ctx))
    assert files_under(base) == [f"codex_tasks/workspace_id={WS}/snapshot_day=2025-11-05/part-0000.jsonl.gz"]


def test_path_values_are_checked(base):
    sink = StorageSink(base)
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="workspace id"):
            sink.replace(USAGE_USER_DAILY, bad, [D1], [])
    assert not base.exists()


def log_file(file_id: str, text: str, **kwargs) -> ArchiveFile:
    return ArchiveFile(
        file_id=file_id,
        content=text.encode(),
        event_type="CODEX_LOG",
        end_time="2025-11-01T00:15:00Z",
        **kwargs,
    )


def test_archive_keeps_files_verbatim_with_a_manifest(base):
    sink = LogFileArchive(base)
    first = '{"event_id": "e1"}\n{"event_id": "e2"}\n'
    second = '{"event_id": "e3"}\n'
    result = sink.archive_files(
        WS,
        D1,
        [
            log_file("lf_1", first, sha256=hashlib.sha256(first.encode()).hexdigest()),
            log_file("lf_2", second),
            log_file("lf_1", first),  # listed twice: stored once
        ],
    )
    folder = base / "codex_compliance_log_files" / f"workspace_id={WS}" / "day=2025-11-01"
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "lf_1.jsonl", "lf_2.jsonl"]
    assert (folder / "lf_1.jsonl").read_bytes() == first.encode()
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert manifest["day"] == "2025-11-01" and manifest["workspace_id"] == WS
    assert manifest["files"] == result.files
    assert manifest["files"][0] == {
        "id": "lf_1",
        "event_type": "CODEX_LOG",
        "end_time": "2025-11-01T00:15:00Z",
        "sha256": hashlib.sha256(first.encode()).hexdigest(),
        "size": len(first.encode()),
        "path": str(folder / "lf_1.jsonl"),
    }

    # a reload of the day with other files replaces the manifest and removes the stale file
    third = '{"event_id": "e4"}\n'
    result = sink.archive_files(WS, D1, [log_file("lf_1", first), log_file("lf_3", third)])
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "lf_1.jsonl", "lf_3.jsonl"]
    assert [f["id"] for f in json.loads((folder / "_manifest.json").read_text())["files"]] == ["lf_1", "lf_3"]
    assert result.removed == 1


def test_archive_refuses_a_checksum_mismatch_and_keeps_the_day(base):
    sink = LogFileArchive(base)
    sink.archive_files(WS, D1, [log_file("lf_1", "a\n")])
    folder = base / "codex_compliance_log_files" / f"workspace_id={WS}" / "day=2025-11-01"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ValueError, match="SHA-256"):
        sink.archive_files(WS, D1, [log_file("lf_2", "b\n"), log_file("lf_3", "c\n", sha256="00" * 32)])
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    with pytest.raises(ValueError, match="log file id"):
        sink.archive_files(WS, D1, [log_file("../../etc/passwd", "x")])
