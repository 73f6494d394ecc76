"""``first_misfit`` over a batch's column in a few C-speed passes instead of one :func:`fits` a value.

One pass collects the values' types; when they are all allowed, one or two
more check the numbers' range (a sum is finite only if every float is; the
minimum and maximum bound every integer). Only a column that fails that goes
value by value, through the reference (:func:`~airflow_provider_codex.tables.schema.first_misfit`),
to find the culprit, or to find that a float beyond 64 bits was only large.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from airflow_provider_codex.tables import schema
from airflow_provider_codex.tables.schema import INT64_MAX, INT64_MIN, VALUE_TYPES, ColumnType


def first_misfit(kind: ColumnType, values: Sequence[Any]) -> int | None:
    """What :func:`.schema.first_misfit` returns; a column that fits takes a few passes, not one call a value."""
    allowed, excluded = VALUE_TYPES[kind]
    types = set(map(type, values))
    types.discard(type(None))
    if not types:
        return None
    if all(issubclass(t, allowed) and not issubclass(t, excluded) for t in types):
        floats = any(issubclass(t, float) for t in types)
        ints = any(issubclass(t, int) and not issubclass(t, bool) for t in types)
        if (not floats or _finite(values)) and (not ints or _within_64_bits(values)):
            return None
    return schema.first_misfit(kind, values)


def _finite(values: Sequence[Any]) -> bool:
    """Whether a column of numbers and nulls is finite: inf and NaN spread into a sum (``False``: look closer)."""
    try:
        return math.isfinite(sum(filter(None, values), 0.0))  # filter(None, …) drops nulls and zeros
    except OverflowError:  # an int too large for a float
        return False


def _within_64_bits(values: Sequence[Any]) -> bool:
    """Whether the numbers of a column of numbers and nulls are within 64 bits (``False``: look closer)."""
    return bool(min(filter(None, values), default=0) >= INT64_MIN and max(filter(None, values), default=0) <= INT64_MAX)
