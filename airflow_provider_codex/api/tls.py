"""TLS for the clients: one context per ``verify`` setting, and telling a non-TLS peer apart.

Loading a CA bundle is the costliest part of making a client, and ``httpx``
does it for every client, even one that only speaks ``http://``; the faces
take their context from :func:`ssl_context`, built once per process and setting.
A handshake with a peer that does not speak TLS is a wrong scheme, which no
retry fixes: :func:`not_tls_reason` recognises one.
"""

from __future__ import annotations

import functools
import os
import ssl

#: OpenSSL's reasons for a handshake with a peer that does not speak TLS at all
#: (``https://`` against a plain-HTTP port): retrying cannot help, the scheme is wrong.
NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL", "HTTP_REQUEST"}
)


def ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The process's TLS context for a ``verify`` setting, built once.

    ``True`` honours ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as ``httpx`` does, else
    certifi's bundle; a string is a CA file or directory; ``False`` verifies nothing.
    """
    if verify is True:
        return _ssl_context(True, os.environ.get("SSL_CERT_FILE") or "", os.environ.get("SSL_CERT_DIR") or "")
    return _ssl_context(verify, "", "")


@functools.lru_cache(maxsize=16)
def _ssl_context(verify: bool | str, cert_file: str, cert_dir: str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    if cert_file:
        return ssl.create_default_context(cafile=cert_file)
    if cert_dir:
        return ssl.create_default_context(capath=cert_dir)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def not_tls_reason(failed: BaseException | None) -> str | None:
    """OpenSSL's reason when ``failed`` is a handshake with a peer that does not speak TLS, else None."""
    seen: set[int] = set()
    while failed is not None and id(failed) not in seen:
        seen.add(id(failed))
        if isinstance(failed, ssl.SSLError) and failed.reason in NOT_TLS_REASONS:
            return str(failed.reason)
        failed = failed.__cause__ or failed.__context__
    return None
