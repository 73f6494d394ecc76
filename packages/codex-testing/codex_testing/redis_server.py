"""A Redis server of the deployment's own: the Celery broker, on a free loopback port.

A Redis may well run on the machine already (port 6379), but a test must not
depend on it nor share its queues with other runs: each CeleryExecutor cluster
starts Debian's ``redis-server`` on a port of its own, in memory only (no RDB
snapshot, no append-only file), bound to 127.0.0.1, with its working directory
and log in the cluster's ``AIRFLOW_HOME``. ``scripts/bootstrap.sh`` installs the
package when the binary is missing.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

#: Where Debian's package puts the binary, for a ``PATH`` without ``/usr/bin`` (rare, but CI images vary).
_FALLBACKS = ("/usr/bin/redis-server", "/usr/local/bin/redis-server")


class RedisNotInstalledError(RuntimeError):
    """No ``redis-server`` binary on this machine."""


def redis_server_binary() -> str:
    """The path of ``redis-server``, or an error that says how to get it."""
    found = shutil.which("redis-server") or next((p for p in _FALLBACKS if Path(p).is_file()), None)
    if found is None:
        raise RedisNotInstalledError(
            "redis-server not found: the CeleryExecutor deployment needs it as its broker; "
            "install Debian's package (`apt-get install -y redis-server`; scripts/bootstrap.sh does it)"
        )
    return found


def redis_command(port: int, workdir: Path) -> list[str]:
    """The argv of a throwaway server: loopback only, nothing written to disk, logging to stdout."""
    return [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]


def redis_url(port: int, db: int) -> str:
    return f"redis://127.0.0.1:{port}/{db}"


def redis_answers(port: int, timeout: float = 1.0) -> bool:
    """Whether a server on ``port`` answers ``PING`` (plain RESP over a socket: no client library needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
