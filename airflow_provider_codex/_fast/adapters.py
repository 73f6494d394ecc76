"""Dialect adapters over a batch column by column, one call per run of the very same object.

The reference (``sql_dialects.adapt_rows``) calls a column's adapter on every
non-null value. Adapters are pure, and most columns a load writes hold the
same object row after row (its ``workspace_id``, ``day`` and ``loaded_at``):
here a value that *is* the previous row's (identity, not equality, so that
``1`` and ``True`` or two equal but distinct datetimes are never mixed up)
reuses the previous row's adapted value, and a timestamp is formatted once a
run instead of once a row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Adapter = Callable[[Any], Any]


def adapt_rows(batch: Sequence[Sequence[Any]], adapters: Sequence[tuple[int, Adapter]]) -> list[list[Any]]:
    """What ``sql_dialects.adapt_rows`` returns, with an adapter called once per run of one object."""
    out = [list(row) for row in batch]
    for i, adapt in adapters:
        last: Any = None
        last_adapted: Any = None
        for row in out:
            value = row[i]
            if value is None:
                continue
            if value is not last:
                last, last_adapted = value, adapt(value)
            row[i] = last_adapted
    return out


#: What the binary COPY's adapters replace (``sql_dialects``: NUL, in text and as a JSON escape).
RARE_MARKS = ("\x00", "\\u0000")


def adapt_rare(batch: Sequence[Sequence[Any]], adapters: Sequence[tuple[int, Adapter]]) -> Sequence[Sequence[Any]]:
    """What :func:`adapt_rows` returns, for adapters that change only text holding one of :data:`RARE_MARKS`.

    One C-speed pass a column (its text joined) finds whether any value holds
    one; only then is the batch adapted, value by value. A mark split across
    two joined values only costs that pass.
    """
    if not batch:
        return batch
    columns = list(zip(*batch, strict=True))
    for i, _ in adapters:
        try:
            text = "".join(filter(None, columns[i]))
        except TypeError:  # not all text: adapt
            return adapt_rows(batch, adapters)
        if any(mark in text for mark in RARE_MARKS):
            return adapt_rows(batch, adapters)
    return batch
