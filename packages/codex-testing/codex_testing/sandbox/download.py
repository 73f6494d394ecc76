"""The "signed URL" host that serves log file bytes, on its own port.

``GET /logs/{id}`` answers 307 to a short-lived signed URL, possibly on another
host, and a client must never send its bearer key there. The sandbox models
that host as a second server socket (a different origin: same address, other
port). It records every request's headers, so tests can assert no
``Authorization`` header ever arrived, and it refuses one the way object stores
do (400, "only one auth mechanism allowed"), so a leaking client fails loudly.
Expired or forged signatures get 403. Signatures use real time, not the
sandbox clock. It is a Starlette app of its own, served by its own uvicorn.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:
    from .server import SandboxServer

#: The path prefix of file URLs on the download host (not part of the contract).
FILES_PREFIX = "/files/"
_TIMESTAMP_KEY = b'"timestamp":"'


class UrlSigner:
    """Makes and checks ``expires`` + ``signature`` query strings (HMAC-SHA256, random key)."""

    def __init__(self, ttl_seconds: float) -> None:
        self._key = secrets.token_bytes(32)
        self.ttl_seconds = ttl_seconds

    def _signature(self, file_id: str, expires: int) -> str:
        return hmac.new(self._key, f"{file_id}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def query(self, file_id: str) -> str:
        expires = int(time.time() + self.ttl_seconds)
        return f"expires={expires}&signature={self._signature(file_id, expires)}"

    def check(self, file_id: str, expires: str | None, signature: str | None) -> str | None:
        """``None`` when valid, else why not."""
        if not expires or not signature:
            return "missing signature"
        try:
            expires_at = int(expires)
        except ValueError:
            return "malformed expiry"
        if not hmac.compare_digest(self._signature(file_id, expires_at), signature):
            return "signature does not match"
        if time.time() > expires_at:
            return "request has expired"
        return None


def corrupt(body: bytes) -> bytes:
    """Same size, still valid JSONL, different sha256: one timestamp's last seconds digit changes.

    The nastiest corruption: only a client that checks ``file_sha256`` notices.
    """
    if not body:
        return b"\n"
    data = bytearray(body)
    at = data.find(_TIMESTAMP_KEY, len(data) // 2)
    if at < 0:
        at = data.find(_TIMESTAMP_KEY)
    if at < 0:
        data[-1] ^= 0x01
    else:
        digit = at + len(_TIMESTAMP_KEY) + 18  # "2026-11-01T00:03:1|2|"
        data[digit] ^= 0x01  # "0"<->"1", ..., "8"<->"9"
    return bytes(data)


def _xml_error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>\n'
    ).encode()


def app(server: SandboxServer) -> Starlette:
    """The download host: ``GET /files/{id}?expires=…&signature=…``, every request recorded."""

    def download(request: Request) -> Response:
        status, body = _answer(server, request)
        target = request.scope["raw_path"].decode("latin-1")  # the request target as sent, as http.server had it
        if request.scope["query_string"]:
            target += "?" + request.scope["query_string"].decode("latin-1")
        server.stats.record_download(request.method, target, request.headers.items(), status)
        return Response(body, status, media_type="application/jsonl" if status == 200 else "application/xml")

    return Starlette(routes=[Route("/{path:path}", download, methods=["GET"])])


def _answer(server: SandboxServer, request: Request) -> tuple[int, bytes]:
    if "authorization" in request.headers:
        return 400, _xml_error(
            "InvalidArgument", "Only one auth mechanism allowed; the signed URL already authorizes this request"
        )
    path: str = request.scope["path"]
    if not path.startswith(FILES_PREFIX):
        return 404, _xml_error("NoSuchKey", "The specified key does not exist.")
    file_id = path[len(FILES_PREFIX) :]
    query = request.query_params
    problem = server.signer.check(file_id, query.get("expires"), query.get("signature"))
    if problem is not None:
        return 403, _xml_error("AccessDenied", problem)
    try:
        body = server.data.log_file_bytes(file_id)
    except KeyError:
        return 404, _xml_error("NoSuchKey", "The specified key does not exist.")
    if server.faults.count_download(file_id) <= server.faults.corrupt_download_first_n:
        body = corrupt(body)
    return 200, body


def file_url(base: str, file_id: str, signer: UrlSigner) -> str:
    """The signed URL of a file on the download host at ``base`` (``http://127.0.0.1:PORT``)."""
    return f"{base}{FILES_PREFIX}{quote(file_id)}?{signer.query(file_id)}"
