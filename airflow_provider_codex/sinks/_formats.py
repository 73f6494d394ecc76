"""File formats of the storage sink: gzip JSON Lines (default) and Parquet.

A format writes one partition's records, streaming, into an open binary file.
The column list is complete before writing starts (extra columns were learnt
while staging), so every line or row group has the same columns.
"""

from __future__ import annotations

import gzip
import importlib
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import IO, Any, Protocol

from airflow_provider_codex import _json
from airflow_provider_codex.sinks._staging import rebatch
from airflow_provider_codex.tables._rows import text_or_json
from airflow_provider_codex.tables.schema import ColumnType, Record

Columns = Sequence[tuple[str, ColumnType]]


class FileFormat(Protocol):
    suffix: str

    def write(self, fh: IO[bytes], columns: Columns, batches: Iterable[list[Record]]) -> int:
        """Write the records; return how many."""
        ...


class JsonLinesGzip:
    """One JSON object per line, every column present (null included), gzip.

    Dates and timestamps are ISO 8601 strings; JSON columns stay JSON text
    (a string), the same as in the Parquet files and the SQL tables. The gzip
    header carries no time, so equal records give equal bytes.
    """

    suffix = ".jsonl.gz"

    def __init__(self, compresslevel: int = 6) -> None:
        self.compresslevel = compresslevel

    def write(self, fh: IO[bytes], columns: Columns, batches: Iterable[list[Record]]) -> int:
        names = [n for n, _ in columns]
        iso = [n for n, t in columns if t in (ColumnType.DATE, ColumnType.TIMESTAMP)]
        count = 0
        with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="", compresslevel=self.compresslevel) as gz:
            for batch in batches:
                lines = []
                for record in batch:
                    obj = {n: record.get(n) for n in names}
                    for n in iso:
                        value = obj[n]
                        if value is not None:
                            obj[n] = value.isoformat()
                    lines.append(_json.dumps(obj))
                lines.append(b"")
                gz.write(b"\n".join(lines))
                count += len(batch)
        return count


def _import_pyarrow() -> tuple[ModuleType, ModuleType]:
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise ImportError("Parquet output needs pyarrow: pip install 'airflow-provider-codex[parquet]'") from None


class Parquet:
    """Parquet with a typed schema (timestamps in UTC), row groups of ``row_group_size`` rows."""

    suffix = ".parquet"

    def __init__(self, row_group_size: int = 50_000, compression: str = "zstd") -> None:
        self.pa, self.pq = _import_pyarrow()
        self.row_group_size = row_group_size
        self.compression = compression

    def _type(self, kind: ColumnType) -> Any:
        pa = self.pa
        return {
            ColumnType.TEXT: pa.string(),
            ColumnType.INTEGER: pa.int64(),
            ColumnType.FLOAT: pa.float64(),
            ColumnType.BOOLEAN: pa.bool_(),
            ColumnType.DATE: pa.date32(),
            ColumnType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
            ColumnType.JSON: pa.string(),
        }[kind]

    def write(self, fh: IO[bytes], columns: Columns, batches: Iterable[list[Record]]) -> int:
        schema = self.pa.schema([(n, self._type(t)) for n, t in columns])
        texts = {n for n, t in columns if t in (ColumnType.TEXT, ColumnType.JSON)}
        count = 0
        with self.pq.ParquetWriter(fh, schema, compression=self.compression) as writer:
            for batch in rebatch(batches, self.row_group_size):
                data = {}
                for name, _ in columns:
                    values = [r.get(name) for r in batch]
                    if name in texts:  # a column whose values were not all strings (merged types)
                        values = [v if v is None or type(v) is str else text_or_json(v) for v in values]
                    data[name] = values
                writer.write_table(self.pa.Table.from_pydict(data, schema=schema))
                count += len(batch)
        return count


def make_format(name: str, *, row_group_size: int = 50_000, compression: str = "zstd") -> FileFormat:
    """``"jsonl"`` (gzip JSON Lines) or ``"parquet"``."""
    if name == "jsonl":
        return JsonLinesGzip()
    if name == "parquet":
        return Parquet(row_group_size, compression)
    raise ValueError(f"unknown file format {name!r}: use 'jsonl' or 'parquet'")
