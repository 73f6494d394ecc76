"""Start, query and stop a sandbox process (see ``sandbox_server.py``) from the orchestrator."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.config import ANALYTICS_KEY, COMPLIANCE_KEY, WORKSPACE_ID

SERVER = Path(__file__).with_name("sandbox_server.py")


@dataclass
class SandboxProcess:
    """A running sandbox: its URLs and control API."""

    process: subprocess.Popen[str]
    info: dict[str, Any]

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    @property
    def control_url(self) -> str:
        return str(self.info["control_url"])

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.control_url}/stats", timeout=60).json()  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Counters, stats and rate limiter back to zero (faults back to the process's config)."""
        httpx.post(f"{self.control_url}/reset", timeout=60).raise_for_status()

    def counts(self) -> dict[str, int]:
        """API requests, downloads and 429s since the last reset."""
        stats = self.stats()
        return {
            "requests": int(stats["requests_total"]) + sum(int(v) for v in stats["downloads"].values()),
            "api_requests": int(stats["requests_total"]),
            "downloads": sum(int(v) for v in stats["downloads"].values()),
            "responses_429": int(stats["responses_429"]),
        }

    def connection(self, **extra: Any) -> dict[str, Any]:
        """A ``codex`` Airflow connection (JSON form) for this sandbox."""
        return {
            "conn_type": "codex",
            "host": self.base_url,
            "extra": {
                "workspace_id": WORKSPACE_ID,
                "analytics_api_key": ANALYTICS_KEY,
                "compliance_api_key": COMPLIANCE_KEY,
                "content_hash_secret": "bench-pepper",
                **extra,
            },
        }


@contextmanager
def running(config: dict[str, Any], log_path: Path, env: dict[str, str] | None = None) -> Iterator[SandboxProcess]:
    """A sandbox process with ``config`` (SandboxConfig fields), stopped on exit; ``env``: its environment."""
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [sys.executable, str(SERVER), json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=SERVER.parent.parent,
            env=env,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox did not start; see {log_path}")
        yield SandboxProcess(process, json.loads(line))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
