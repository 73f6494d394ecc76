"""JSON for the sandbox: orjson when importable, else the standard library.

Pages of 30,000 usage rows must not make the sandbox the bottleneck of a
benchmark, so rows are serialised once with the fastest encoder available and
the bytes are cached. Both encoders write compact JSON; a sandbox always uses
the same one, so its answers stay byte-identical for a given config.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is an optional extra
    _orjson = None  # type: ignore[assignment]


def dumps(value: Any) -> bytes:
    """Serialise ``value`` to compact UTF-8 JSON bytes."""
    if _orjson is not None:
        return _orjson.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes or text."""
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data)
