"""A staged row in one C call: ``operator.itemgetter`` of the table's columns.

The reference (``_staging.row_reference``) reads each column with ``record.get``
and checks the record's keys against the columns. The flatteners' records
hold every column of their table (a missing field is null, a missing key part
``""``), so here one ``itemgetter`` call reads the row, and a record with as
many keys as the table has columns has no field beyond them. A record that
lacks a column (``KeyError``) takes the reference.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from airflow_provider_codex.tables.schema import Record

#: ``read(record) -> (row, only_columns)``, as ``_staging.RowReader``.
RowReader = Callable[[Record], tuple[tuple[Any, ...], bool]]


def row_reader(columns: tuple[str, ...], reference: RowReader) -> RowReader:
    """What ``reference`` returns, for a record holding every one of ``columns``, in one call."""
    if len(columns) < 2:  # an itemgetter of one name returns the bare value, not a tuple
        return reference
    get, width = operator.itemgetter(*columns), len(columns)

    def read(record: Record) -> tuple[tuple[Any, ...], bool]:
        try:
            row: tuple[Any, ...] = get(record)
        except KeyError:
            return reference(record)
        return row, len(record) == width

    return read
