"""JSON in and out, with the fastest parser installed.

One home for JSON, shared by the client, the tables, the sinks and the sandbox.
Large pages make parsing a hot path: ``orjson`` (the ``fast`` extra) is used
when installed, the standard library otherwise. A large body is parsed with
the cyclic garbage collector paused (:func:`._gc.paused`): a parse makes many
containers and no cycles, so collections during it are pure cost
(``bench/RESULTS.md``).
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

from airflow_provider_codex import _gc


def _import_orjson() -> ModuleType | None:
    try:
        return importlib.import_module("orjson")
    except ImportError:  # pragma: no cover - exercised only without the extra
        return None


orjson = _import_orjson()


#: Bodies at least this long are parsed with the cyclic GC paused.
GC_PAUSE_BYTES = 1 << 20


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ``ValueError`` on bad input whichever parser runs."""
    if len(data) < GC_PAUSE_BYTES:
        return _parse(data)
    with _gc.paused():
        return _parse(data)


def _parse(data: bytes | str) -> Any:
    if orjson is not None:
        return orjson.loads(data)
    return json.loads(data)


def dumps(value: Any) -> bytes:
    """Serialise to compact UTF-8 JSON bytes."""
    if orjson is not None:
        return orjson.dumps(value)  # type: ignore[no-any-return]
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
