"""The opaque ``next_page`` cursor of the analytics routes.

The contract says clients pass ``next_page`` back unchanged and never parse it.
To catch clients that mangle it, the sandbox's cursor is standard (not URL-safe)
base64 of a packed struct, built so that it always contains ``+``, ``/`` and a
``=`` pad: a client that forgets to URL-encode it sends a space for ``+`` and
gets a 422. The struct carries the query window and the offset of the next row,
with a keyed checksum, so a tampered or foreign cursor is refused too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import zlib
from dataclasses import dataclass

# b"\xfb\xff\xbf" encodes to "+/+/"; 32 bytes in all leave one "=" of padding.
_MAGIC = b"\xfb\xff\xbf"
_VERSION = 1
_BODY = struct.Struct(">BIqqI")
_TAG_BYTES = 4


class CursorError(ValueError):
    """The cursor was not made by this sandbox for this route (or was mangled in transit)."""


@dataclass(frozen=True)
class PageCursor:
    """Where the next page of an analytics query starts."""

    route: str  # registry endpoint name
    start_time: int
    end_time: int
    offset: int


class CursorCodec:
    """Encodes and checks cursors with a per-sandbox key."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"codex-sandbox-cursor/{seed}".encode()).digest()

    def _tag(self, body: bytes) -> bytes:
        return hashlib.blake2b(body, key=self._key, digest_size=_TAG_BYTES).digest()

    def encode(self, cursor: PageCursor) -> str:
        body = _MAGIC + _BODY.pack(
            _VERSION, zlib.crc32(cursor.route.encode()), cursor.start_time, cursor.end_time, cursor.offset
        )
        return base64.b64encode(body + self._tag(body)).decode("ascii")

    def decode(self, text: str, route: str) -> PageCursor:
        """The cursor ``text`` encodes; :class:`CursorError` unless it is intact and for ``route``."""
        try:
            raw = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise CursorError("the page cursor is not valid base64 (was it URL-encoded?)") from exc
        if len(raw) != len(_MAGIC) + _BODY.size + _TAG_BYTES or not raw.startswith(_MAGIC):
            raise CursorError("the page cursor was not issued by this service")
        body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if self._tag(body) != tag:
            raise CursorError("the page cursor was altered")
        version, route_crc, start, end, offset = _BODY.unpack(body[len(_MAGIC) :])
        if version != _VERSION or route_crc != zlib.crc32(route.encode()):
            raise CursorError("the page cursor belongs to another query")
        return PageCursor(route, start, end, offset)
