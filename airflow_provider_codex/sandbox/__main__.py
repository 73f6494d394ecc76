"""``python -m airflow_provider_codex.sandbox``: the ``codex-sandbox`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
