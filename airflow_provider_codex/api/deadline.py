"""The sync face's bound on one attempt: connect, send, headers and body within ``request_deadline``.

httpx's timeout applies to each socket wait on its own, so a server that
trickles a byte at a time keeps a request open forever. The async face wraps
an attempt in ``asyncio.timeout``; the sync one has no such thing, so
:func:`bound_by_deadline` puts a network backend under its ``httpx.Client``
that caps every socket wait at what is left of the attempt in progress
(:func:`attempt_deadline`, read from a context variable at each wait, since
pooled connections outlive an attempt).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx


class DeadlineExceeded(httpx.TimeoutException):
    """An attempt outlived the connection's ``request_deadline``: a retryable timeout."""


class AttemptDeadline:
    """When the attempt in progress (in this thread or task) must be over."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        #: Whether the deadline, rather than a per-read timeout, bounded a wait.
        self.bound = False

    def cap(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """``timeout`` or the time left, whichever is shorter; raises ``expired`` once none is left."""
        left = self.at - time.monotonic()
        if left <= 0:
            self.bound = True
            raise expired("the request deadline has passed")
        if timeout is None or left < timeout:
            self.bound = True
            return left
        return timeout


_DEADLINE: ContextVar[AttemptDeadline | None] = ContextVar("codex_request_deadline", default=None)


@contextmanager
def attempt_deadline(seconds: float) -> Iterator[AttemptDeadline]:
    """Inside: every socket wait of a :func:`bound_by_deadline` client ends within ``seconds`` in all."""
    deadline = AttemptDeadline(seconds)
    token = _DEADLINE.set(deadline)
    try:
        yield deadline
    finally:
        _DEADLINE.reset(token)


def _capped(timeout: float | None, expired: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    return timeout if deadline is None else deadline.cap(timeout, expired)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every wait ends by the current attempt's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync network backend, with every socket wait capped at the attempt's time left."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _capped(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(path, _capped(timeout, httpcore.ConnectTimeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def bound_by_deadline(http: httpx.Client) -> httpx.Client:
    """``http`` with :class:`_DeadlineBackend` under each of its pools.

    That is its own transport and any proxy transport httpx mounted from the
    environment (``HTTPS_PROXY``...). httpx offers no argument for a network
    backend, so this reaches into its transports; should a future httpx rename
    them, this fails loudly here rather than leaving requests unbounded.
    """
    for transport in (http._transport, *http._mounts.values()):
        if isinstance(transport, httpx.HTTPTransport):
            pool = transport._pool
            pool._network_backend = _DeadlineBackend(pool._network_backend)
    return http
