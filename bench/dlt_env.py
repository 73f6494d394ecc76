"""The dlt virtualenv (``bench/.venv-dlt``): dlt is benchmarked, never a dependency of the project.

The full run creates it when missing (``python -m venv`` + ``pip install``,
PyPI needed once); the quick run only uses it if it is already there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv-dlt"
PYTHON = VENV / "bin" / "python"
#: What the dlt cases need: dlt with its PostgreSQL and SQLAlchemy (SQLite) destinations, and orjson.
REQUIREMENTS = ("dlt[postgres,sqlalchemy]==1.31.0", "orjson")


def available() -> bool:
    if not PYTHON.exists():
        return False
    probe = subprocess.run([str(PYTHON), "-c", "import dlt, orjson, psycopg2, sqlalchemy"], capture_output=True)
    return probe.returncode == 0


def ensure(install: bool) -> Path | None:
    """The venv's Python if dlt is usable (installing it first when ``install``), else ``None``."""
    if available():
        return PYTHON
    if not install:
        return None
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
    return PYTHON if available() else None
