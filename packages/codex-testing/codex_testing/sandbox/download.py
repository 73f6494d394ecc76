"""The "signed URL" host that serves log file bytes, on its own port.

``GET /logs/{id}`` answers 307 to a short-lived signed URL, possibly on another
host, and a client must never send its bearer key there. The sandbox models
that host as a second server socket (a different origin: same address, other
port). It records every request's headers, so tests can assert no
``Authorization`` header ever arrived, and it refuses one the way object stores
do (400, "only one auth mechanism allowed"), so a leaking client fails loudly.
Expired or forged signatures get 403. Signatures use real time, not the
sandbox clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ._httpd import sandbox_of

if TYPE_CHECKING:
    from .server import SandboxServer

#: The path prefix of file URLs on the download host (not part of the contract).
FILES_PREFIX = "/files/"
_CHUNK = 1 << 20
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


class DownloadHandler(BaseHTTPRequestHandler):
    """Serves ``/files/{id}?expires=…&signature=…`` and records every request."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "SandboxObjectStore/1.0"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the sandbox's stats are the record."""

    def do_GET(self) -> None:
        sandbox = sandbox_of(self)
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        status, body = self._answer(sandbox, split.path, query)
        sandbox.stats.record_download("GET", self.path, list(self.headers.items()), status)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/jsonl" if status == 200 else "application/xml")
        self.end_headers()
        view = memoryview(body)
        for offset in range(0, len(body), _CHUNK):
            self.wfile.write(view[offset : offset + _CHUNK])

    def _answer(self, sandbox: SandboxServer, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        if self.headers.get("Authorization") is not None:
            return 400, _xml_error(
                "InvalidArgument", "Only one auth mechanism allowed; the signed URL already authorizes this request"
            )
        if not path.startswith(FILES_PREFIX):
            return 404, _xml_error("NoSuchKey", "The specified key does not exist.")
        file_id = unquote(path[len(FILES_PREFIX) :])
        problem = sandbox.signer.check(file_id, query.get("expires", [None])[-1], query.get("signature", [None])[-1])
        if problem is not None:
            return 403, _xml_error("AccessDenied", problem)
        try:
            body = sandbox.data.log_file_bytes(file_id)
        except KeyError:
            return 404, _xml_error("NoSuchKey", "The specified key does not exist.")
        if sandbox.faults.count_download(file_id) <= sandbox.faults.corrupt_download_first_n:
            body = corrupt(body)
        return 200, body


def file_url(base: str, file_id: str, signer: UrlSigner) -> str:
    """The signed URL of a file on the download host at ``base`` (``http://127.0.0.1:PORT``)."""
    return f"{base}{FILES_PREFIX}{quote(file_id)}?{signer.query(file_id)}"
