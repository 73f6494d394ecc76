"""A sandbox: the API host and the signed-URL download host, sharing data, faults, clock and stats.

Both hosts are ASGI apps (:mod:`.app` on FastAPI, :mod:`.download` on Starlette)
served by uvicorn from daemon threads (:mod:`._uvicorn`), the web stack Airflow 3
installs anyway. The API host serves the contract under ``/v1``
(:mod:`.contract`, answers in :mod:`.answers`) and the control API under
``/_sandbox/`` (:mod:`.control`; ``POST /_sandbox/faults`` *replaces* every
fault, fields left out return to their defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_codex.api.endpoints import Api, Owner

from . import download
from ._synth import iso_s
from ._uvicorn import ServerThread
from .app import api_app
from .clock import SandboxClock
from .config import SandboxConfig
from .contract import API_PREFIX
from .control import CONTROL_PREFIX
from .cursor import CursorCodec
from .data import SandboxData
from .download import UrlSigner
from .faults import Faults, RateLimiter
from .stats import Stats


class SandboxServer:
    """The API server and the download server of one sandbox; both sockets are bound at construction."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = SandboxClock(config.today, config.now)
        self.faults: Faults = config.faults.copy()
        self.data = SandboxData(config, self.clock, self.faults)
        self.stats = Stats()
        self.limiter = RateLimiter()
        self.signer = UrlSigner(config.signed_url_ttl_seconds)
        self.cursors = CursorCodec(config.seed)
        self.keys: Mapping[str, Api] = {config.analytics_key: Api.ANALYTICS, config.compliance_key: Api.COMPLIANCE}
        self.owner_ids: Mapping[Owner, str] = {
            Owner.WORKSPACE: config.workspace_id,
            Owner.ORGANIZATION: config.organization_id,
        }
        self._api = ServerThread(api_app(self), config.host, config.port, "codex-sandbox-api", "CodexSandbox/1.0")
        self._download = ServerThread(
            download.app(self), config.host, config.download_port, "codex-sandbox-download", "SandboxObjectStore/1.0"
        )

    @property
    def root_url(self) -> str:
        host, port = self._api.address
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The service URL to give a client (``http://127.0.0.1:PORT/v1``)."""
        return self.root_url + API_PREFIX

    @property
    def control_url(self) -> str:
        return self.root_url + CONTROL_PREFIX

    @property
    def download_url(self) -> str:
        host, port = self._download.address
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Serve both sockets from background threads; return once both listen."""
        try:
            self._api.start()
            self._download.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop both servers (at once, bounded: see :mod:`._uvicorn`) and close their sockets."""
        self._api.request_stop()
        self._download.request_stop()
        self._api.stop()
        self._download.stop()

    def reset(self) -> None:
        """Faults back to the config's, counters, stats, rate limiter and clock reset."""
        self.faults.replace_all(self.config.faults.as_dict())
        self.stats.reset()
        self.limiter.reset()
        self.clock.set(None)

    def info(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "control_url": self.control_url,
            "download_url": self.download_url,
            "workspace_id": self.config.workspace_id,
            "organization_id": self.config.organization_id,
            "analytics_key": self.config.analytics_key,
            "compliance_key": self.config.compliance_key,
            "seed": self.config.seed,
            "today": self.config.today.isoformat(),
            "now": iso_s(self.clock.now()),
            "clock_live": self.clock.live,
        }

    def stats_snapshot(self) -> dict[str, Any]:
        snapshot = self.stats.snapshot()
        snapshot["faults"] = self.faults.as_dict()
        snapshot["now"] = iso_s(self.clock.now())
        return snapshot
