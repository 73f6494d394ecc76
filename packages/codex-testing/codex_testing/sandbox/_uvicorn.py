"""One ASGI app served by uvicorn from a daemon thread, with bounded start and stop.

Airflow 3 already installs uvicorn (with httptools and uvloop). The socket is
bound at construction, so the port is known at once (port 0: a free one).
Signal handlers stay off: the process's owner decides what a signal does.
Neither start nor stop can hang a test: both give up after a few seconds; a
request still running at stop gets ``GRACE_SECONDS``, then is cancelled (the
old http.server let it finish in its thread after stop had returned).
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

#: How long start() waits for the server to listen, and stop() for it to finish.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
#: Requests still running when stopping get this long before they are cancelled.
GRACE_SECONDS = 1


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """No signal handlers, even on the main thread."""
        yield


class ServerThread:
    """``app`` served on ``(host, port)`` from a daemon thread named ``name``."""

    def __init__(self, app: ASGIApp, host: str, port: int, name: str, server_name: str) -> None:
        self.socket = socket.create_server((host, port), backlog=128)
        #: Where it listens (still known after stop).
        self.address: tuple[str, int] = self.socket.getsockname()[:2]
        self.name = name
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # no proxy in front: X-Forwarded-* headers are the client's own
            server_header=False,
            headers=[("server", f"{server_name} Python/{sys.version.split()[0]}")],
            # Like http.server, never drop an idle keep-alive connection: a client's pooled
            # connection must not race the server's close. stop() closes them.
            timeout_keep_alive=24 * 3600,
            timeout_graceful_shutdown=GRACE_SECONDS,
            backlog=128,
        )
        self._server = _Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve; return once the server listens (``RuntimeError`` if it did not within START_TIMEOUT)."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.socket]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name}: uvicorn did not start within {START_TIMEOUT:g} s")
            time.sleep(0.005)

    def request_stop(self) -> None:
        """Ask the server to stop, without waiting (stop several at once, then :meth:`stop` each)."""
        self._server.should_exit = True

    def stop(self) -> None:
        """Stop serving (idempotent); a server that will not stop is forced, then left to its daemon thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self.request_stop()
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                self._server.force_exit = True
                thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                log.warning("%s did not stop within %g s; left to its daemon thread", self.name, 2 * STOP_TIMEOUT)
        self.socket.close()
