"""Starting and stopping a sandbox: ports known at once, nothing left listening, no hang on busy connections."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest
from codex_testing.sandbox import SandboxConfig, SandboxServer, running_sandbox
from sandbox_helpers import SANDBOX_CONFIG, path

from airflow_provider_codex.api.endpoints import MAX_EVENT_TIME


def _refuses(url: str) -> bool:
    split = urlsplit(url)
    with socket.socket() as sock:
        return sock.connect_ex((split.hostname or "", split.port or 0)) != 0


def test_stopping_closes_both_ports_despite_idle_and_busy_connections():
    outcome = []
    with running_sandbox(**SANDBOX_CONFIG) as sandbox:
        idle = httpx.Client(timeout=30)
        assert idle.get(sandbox.control_url + "/info").status_code == 200  # a pooled keep-alive connection
        sandbox.faults.slow_ms = 60_000  # a request still running when the block exits

        def slow() -> None:
            try:
                key = {"Authorization": f"Bearer {sandbox.compliance_key}"}
                outcome.append(httpx.get(sandbox.base_url + path(sandbox, MAX_EVENT_TIME), headers=key, timeout=120))
            except httpx.HTTPError as error:
                outcome.append(error)

        caller = threading.Thread(target=slow, daemon=True)
        caller.start()
        time.sleep(0.2)  # most likely in flight by now; what follows holds either way
    caller.join(timeout=60)
    assert not caller.is_alive()
    assert outcome, "the slow request ended (cancelled) when the sandbox stopped"
    assert _refuses(sandbox.base_url)
    assert _refuses(sandbox.download_url)
    idle.close()


def test_ports_are_bound_at_construction_and_a_taken_port_fails_there():
    server = SandboxServer(SandboxConfig(**SANDBOX_CONFIG))
    try:
        port = urlsplit(server.base_url).port
        assert port
        with pytest.raises(OSError):
            SandboxServer(SandboxConfig(**{**SANDBOX_CONFIG, "port": port}))
    finally:
        server.stop()  # never started: closes the sockets
    assert _refuses(server.base_url)
