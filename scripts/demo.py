"""The demo behind ``./scripts/demo``: the sandbox, a codex connection, and the provider at work.

Everything it starts, it stops, even on failure or Ctrl-C. State lives in
``.demo/`` (an Airflow home with its SQLite metadata database and the loaded data).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".demo"
PYTHON = sys.executable


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sandbox(port: int) -> Iterator[str]:
    """``codex-sandbox`` in a child process; yields its base URL once it answers."""
    log = (STATE / "sandbox.log").open("w")
    proc = subprocess.Popen(
        [PYTHON, "-m", "airflow_provider_codex.sandbox", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the sandbox did not start; see {log.name}") from None
                time.sleep(0.2)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main() -> int:
    STATE.mkdir(exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(STATE / "airflow")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow_provider_codex.sandbox.config import (
        DEFAULT_ANALYTICS_KEY,
        DEFAULT_COMPLIANCE_KEY,
        DEFAULT_WORKSPACE_ID,
    )

    with sandbox(free_port()) as base_url:
        print(f"sandbox Codex API at {base_url}")
        os.environ["AIRFLOW_CONN_CODEX_DEFAULT"] = json.dumps(
            {
                "conn_type": "codex",
                "host": base_url,
                "extra": {
                    "workspace_id": DEFAULT_WORKSPACE_ID,
                    "analytics_api_key": DEFAULT_ANALYTICS_KEY,
                    "compliance_api_key": DEFAULT_COMPLIANCE_KEY,
                },
            }
        )
        from airflow_provider_codex.hooks.codex import CodexHook

        ok, message = CodexHook("codex_default").test_connection()
        print(f"test_connection: {'passed' if ok else 'FAILED'}: {message}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
