"""PostgreSQL ``COPY … FROM STDIN`` text format, for psycopg2's ``copy_expert``.

psycopg 3 formats rows itself (``cursor.copy().write_row``); psycopg2 reads a
file, so rows are rendered lazily into the text format as it reads: tab
separated, ``\\N`` for null, backslash escapes. Memory: one read buffer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_field(value: Any) -> str:
    """One value in COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, date):  # date and datetime (ISO 8601 with the offset)
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value).translate(_ESCAPES)


class CopyText:
    """A read-only text file over rows, rendered as COPY text on demand; :attr:`rows_read` counts them."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = iter(rows)
        self._buffer = ""
        self.rows_read = 0

    def read(self, size: int = -1) -> str:
        chunks = [self._buffer]
        have = len(self._buffer)
        while size < 0 or have < size:
            row = next(self._rows, None)
            if row is None:
                break
            line = "\t".join(map(copy_field, row)) + "\n"
            chunks.append(line)
            have += len(line)
            self.rows_read += 1
        text = "".join(chunks)
        if size < 0:
            self._buffer = ""
            return text
        self._buffer = text[size:]
        return text[:size]
