"""JSON in and out, with the fastest parser installed.

Pages of 30,000 rows make parsing a hot path: ``orjson`` (the ``fast`` extra)
is several times faster than the standard library, which stays the fallback.
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any


def _import_orjson() -> ModuleType | None:
    try:
        return importlib.import_module("orjson")
    except ImportError:  # pragma: no cover - exercised only without the extra
        return None


orjson = _import_orjson()


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ``ValueError`` on bad input whichever parser runs."""
    if orjson is not None:
        return orjson.loads(data)
    return json.loads(data)


def dumps(value: Any) -> bytes:
    """Serialise to compact UTF-8 JSON bytes."""
    if orjson is not None:
        return orjson.dumps(value)  # type: ignore[no-any-return]
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
