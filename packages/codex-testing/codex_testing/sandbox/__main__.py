"""``python -m codex_testing.sandbox``: the ``codex-sandbox`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
