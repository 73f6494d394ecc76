"""The deferral tests reuse the destinations and expected-row builders of the operator tests (``tests/operators``)."""

from __future__ import annotations

import sys
from pathlib import Path

_OPERATORS = str(Path(__file__).resolve().parents[1] / "operators")
if _OPERATORS not in sys.path:
    sys.path.insert(0, _OPERATORS)
