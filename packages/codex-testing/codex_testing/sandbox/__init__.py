"""A local stand-in for the Codex governance APIs, for tests, demos and benchmarks.

A real HTTP server on loopback that implements every route of the contract
(``shared/codex-api.md``, as registered in :mod:`airflow_provider_codex.api.endpoints`)
with deterministic synthetic data, a second "signed URL" host for log file
downloads, deterministic fault injection and a control API under ``/_sandbox/``.
It does not import Airflow.

Entry points: :func:`~.testing.running_sandbox` (in-process, for tests), the
``codex-sandbox`` command (:mod:`.cli`), and :class:`~.data.SandboxData` to check
what a loader wrote against what was served.
"""

from __future__ import annotations

from .clock import SandboxClock
from .compliance import LogFileInfo
from .config import (
    DEFAULT_ANALYTICS_KEY,
    DEFAULT_COMPLIANCE_KEY,
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_WORKSPACE_ID,
    SandboxConfig,
)
from .data import SandboxData
from .faults import Faults
from .server import SandboxServer
from .testing import RunningSandbox, running_sandbox

__all__ = [
    "DEFAULT_ANALYTICS_KEY",
    "DEFAULT_COMPLIANCE_KEY",
    "DEFAULT_ORGANIZATION_ID",
    "DEFAULT_WORKSPACE_ID",
    "Faults",
    "LogFileInfo",
    "RunningSandbox",
    "SandboxClock",
    "SandboxConfig",
    "SandboxData",
    "SandboxServer",
    "running_sandbox",
]
