"""Run a sandbox in-process for tests and benchmarks.

::

    with running_sandbox(seed=7, users=40, today=date(2026, 11, 25)) as sandbox:
        client = httpx.Client(base_url=sandbox.base_url,
                              headers={"Authorization": f"Bearer {sandbox.analytics_key}"})
        ...
        sandbox.faults.fail_429_first_n = 2   # takes effect at once
        assert sandbox.stats()["responses_429"] == 2

Both servers (API and signed-URL download host) listen on free loopback ports
in daemon threads and stop when the block exits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from .clock import SandboxClock
from .config import SandboxConfig
from .data import SandboxData
from .faults import Faults
from .server import SandboxServer


class RunningSandbox:
    """A started sandbox: its URLs, keys, data, live faults and clock."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server

    @property
    def config(self) -> SandboxConfig:
        return self.server.config

    @property
    def data(self) -> SandboxData:
        """What the server serves; compare loads with its accessors."""
        return self.server.data

    @property
    def faults(self) -> Faults:
        """The live faults: set fields directly (``sandbox.faults.short_pages = True``)."""
        return self.server.faults

    @property
    def clock(self) -> SandboxClock:
        return self.server.clock

    @property
    def base_url(self) -> str:
        """The service URL to give a client, e.g. ``http://127.0.0.1:PORT/v1``."""
        return self.server.base_url

    @property
    def control_url(self) -> str:
        """``http://127.0.0.1:PORT/_sandbox``."""
        return self.server.control_url

    @property
    def download_url(self) -> str:
        """The signed-URL host, ``http://127.0.0.1:OTHER_PORT``."""
        return self.server.download_url

    @property
    def workspace_id(self) -> str:
        return self.config.workspace_id

    @property
    def organization_id(self) -> str:
        return self.config.organization_id

    @property
    def analytics_key(self) -> str:
        return self.config.analytics_key

    @property
    def compliance_key(self) -> str:
        return self.config.compliance_key

    def connection(self, content_hash_secret: str = "sandbox-salt", **extra: Any) -> dict[str, Any]:  # noqa: S107
        """An Airflow ``codex`` connection to this sandbox, as a dict (``json.dumps`` it for ``AIRFLOW_CONN_*``).

        ``content_hash_secret`` is a salt for hashing test content, not a credential. ``extra``
        adds or overrides connection extras; a ``None`` value leaves the field out.
        """
        fields = {
            "workspace_id": self.workspace_id,
            "analytics_api_key": self.analytics_key,
            "compliance_api_key": self.compliance_key,
            "content_hash_secret": content_hash_secret,
        } | extra
        return {
            "conn_type": "codex",
            "host": self.base_url,
            "extra": {k: v for k, v in fields.items() if v is not None},
        }

    def stats(self) -> dict[str, Any]:
        """The same document as ``GET /_sandbox/stats``."""
        return self.server.stats_snapshot()

    def set_clock(self, now: datetime | None) -> None:
        """Freeze "now" (tz-aware); ``None`` returns to the default clock."""
        self.server.clock.set(now)

    def advance_clock(self, seconds: float) -> datetime:
        return self.server.clock.advance(seconds)

    def reset(self) -> None:
        """Faults from the config; counters, stats, rate limiter and clock reset."""
        self.server.reset()


@contextmanager
def running_sandbox(config: SandboxConfig | None = None, **overrides: Any) -> Iterator[RunningSandbox]:
    """Start a sandbox on free loopback ports; ``overrides`` replace fields of ``config``."""
    base = config if config is not None else SandboxConfig(**overrides)
    if config is not None and overrides:
        base = dataclasses.replace(config, **overrides)
    server = SandboxServer(base)
    server.start()
    try:
        yield RunningSandbox(server)
    finally:
        server.stop()
