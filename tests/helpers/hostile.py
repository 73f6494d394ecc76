"""A small misbehaving HTTP server on 127.0.0.1, for the client's tests against hostile answers.

Each test gives the server one function, ``answer(request) -> Reply | Raw``: a
:class:`Reply` is a whole HTTP/1.1 answer (keep-alive, ``Content-Length``); a
:class:`Raw` writes whatever bytes it likes to the socket (a trickle, a broken
head) and the connection closes after it. The server records every request it
parsed and counts every connection, including ones that never sent HTTP (a TLS
handshake), and stops its trickles when the test ends.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO

from airflow_provider_codex.api.config import ClientConfig, Secret
from airflow_provider_codex.api.retry import RetryPolicy

WORKSPACE = "0b4c5d7e-1111-4222-8333-944455556666"
#: Long random keys: a test can look for any piece of them in what the client printed.
ANALYTICS_KEY = "sk-analytics-" + secrets.token_hex(20)
COMPLIANCE_KEY = "sk-compliance-" + secrets.token_hex(20)
KEYS = (ANALYTICS_KEY, COMPLIANCE_KEY)


@dataclass(frozen=True)
class Seen:
    """One request the server parsed."""

    method: str
    path: str
    headers: dict[str, str]

    @property
    def route(self) -> str:
        return self.path.partition("?")[0]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    """Bytes written by hand: ``write(out, stopping)``; the connection closes after it."""

    write: Callable[[BinaryIO, threading.Event], None]


Answer = Callable[[Seen], Reply | Raw]


def json_reply(value: Any, status: int = 200, **headers: str) -> Reply:
    import json

    return Reply(status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers})


def trickle(head: bytes, drip: bytes = b"x", every: float = 0.05, limit: float = 20.0) -> Raw:
    """``head`` at once, then ``drip`` one byte at a time, ``every`` seconds, for up to ``limit`` seconds.

    Each byte arrives well within any per-read timeout, so only a total deadline ends it;
    ``limit`` only keeps a client without one from hanging a test forever.
    """

    def write(out: BinaryIO, stopping: threading.Event) -> None:
        out.write(head)
        out.flush()
        for _ in range(int(limit / every)):
            if stopping.wait(every):
                return
            out.write(drip[:1])
            out.flush()

    return Raw(write)


class HostileServer:
    """A threading HTTP/1.1 server answering with ``answer``; see the module docstring."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[Seen] = []
        self.connections = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def handle(self) -> None:
                with owner._lock:
                    owner.connections += 1
                with contextlib.suppress(ConnectionError, TimeoutError):  # the client hung up: a deadline
                    super().handle()

            def do_GET(self) -> None:
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                with owner._lock:
                    owner.requests.append(seen)
                reply = owner.answer(seen)
                if isinstance(reply, Raw):
                    self.close_connection = True
                    reply.write(self.wfile, owner.stopping)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def root(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def routes(self) -> list[str]:
        with self._lock:
            return [seen.route for seen in self.requests]

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextmanager
def hostile_server(answer: Answer) -> Iterator[HostileServer]:
    server = HostileServer(answer).start()
    try:
        yield server
    finally:
        server.stop()


def client_config(base_url: str, **overrides: Any) -> ClientConfig:
    """A config for a hostile server: both keys, a fast retry policy, no client-side pacing."""
    settings: dict[str, Any] = {
        "base_url": base_url,
        "workspace_id": WORKSPACE,
        "analytics_api_key": Secret(ANALYTICS_KEY),
        "compliance_api_key": Secret(COMPLIANCE_KEY),
        "requests_per_minute": 100_000,
        "retry": RetryPolicy(backoff_base=0.01, backoff_max=0.05),
        "source": "connection 'hostile'",
    }
    settings.update(overrides)
    return ClientConfig(**settings)


def leaked_pieces(text: str, keys: tuple[str, ...] = KEYS, piece: int = 12) -> list[str]:
    """Every ``piece``-long part of a key found in ``text`` (a cut excerpt can show half a key)."""
    return sorted(
        {key[i : i + piece] for key in keys for i in range(len(key) - piece + 1) if key[i : i + piece] in text}
    )
