"""What a failed answer means: the typed error that says what to do, and whether to retry.

One mapping for both faces, from an HTTP status or a transport failure to a
:class:`~.errors.CodexError` that names the fix (the connection field, the
scope, the scheme), with the server's ``Retry-After`` when it gave one. Bodies
are quoted redacted of the connection's keys.
"""

from __future__ import annotations

from typing import Any

import httpx

from airflow_provider_codex import _json
from airflow_provider_codex.api.config import ClientConfig
from airflow_provider_codex.api.endpoints import Endpoint
from airflow_provider_codex.api.errors import (
    CodexAuthError,
    CodexConfigError,
    CodexError,
    CodexHTTPError,
    CodexNotFoundError,
    CodexPermissionError,
    CodexRateLimitError,
    CodexServerError,
    CodexTransportError,
    CodexValidationError,
    excerpt,
    quote,
    redact,
)
from airflow_provider_codex.api.retry import RETRY_AFTER_CEILING, RETRYABLE_STATUSES, ServerWait, parse_retry_after
from airflow_provider_codex.api.tls import not_tls_reason


def classify(
    config: ClientConfig, endpoint: Endpoint, outcome: httpx.Response | httpx.TransportError | None
) -> tuple[CodexError, float | None]:
    """Map a failed outcome to a typed error, and the server's Retry-After if any."""
    if not isinstance(outcome, httpx.Response):
        return transport_error(config, endpoint, outcome), None
    status = outcome.status_code
    body = redact(outcome.text, config.secrets())
    where = f"{endpoint.name} ({status})"
    key = endpoint.key
    kwargs: dict[str, Any] = {"status": status, "endpoint": endpoint.name, "body": body}
    if status == 401:
        return CodexAuthError(
            f"{where}: the {endpoint.api.value} API key was rejected; check the "
            f"'{key.connection_field}' field of {config.source}. Server said: {excerpt(body)}",
            **kwargs,
        ), None
    if status == 403:
        return CodexPermissionError(
            f"{where}: the key in '{key.connection_field}' lacks the '{key.scope}' scope "
            f"needed by {endpoint.name}. Server said: {excerpt(body)}",
            **kwargs,
        ), None
    if status == 404:
        return CodexNotFoundError(
            f"{where}: not found; check the workspace/organization id of {config.source} "
            f"and that the workspace's plan includes the {endpoint.api.value} API. "
            f"Server said: {excerpt(body)}",
            **kwargs,
        ), None
    if status == 422:
        detail = _json_or_none(body)
        detail = detail.get("detail") if isinstance(detail, dict) else None
        return CodexValidationError(
            f"{where}: the service rejected the request: {excerpt(body)}", detail=detail, **kwargs
        ), None
    retry_after = parse_retry_after(outcome.headers.get("retry-after"))
    if status == 429:
        return CodexRateLimitError(
            f"{where}: rate limited (Retry-After: {quote(outcome.headers.get('retry-after', 'none'))})",
            retry_after=retry_after,
            **kwargs,
        ), retry_after
    if status in RETRYABLE_STATUSES or status >= 500:
        return CodexServerError(f"{where}: server error: {excerpt(body)}", **kwargs), retry_after
    return CodexHTTPError(f"{where}: unexpected status: {excerpt(body)}", **kwargs), None


def transport_error(config: ClientConfig, endpoint: Endpoint, failed: httpx.TransportError | None) -> CodexError:
    """A failed exchange: retryable, unless it is one a retry cannot fix (a wrong scheme)."""
    where = _origin(failed)
    reason = not_tls_reason(failed)
    if reason is not None:
        return CodexConfigError(
            f"{endpoint.name}: {where} does not speak TLS (handshake: {reason}); check the scheme of the "
            f"base URL of {config.source}: https:// for a TLS server, http:// for a plain-HTTP one"
        )
    if isinstance(failed, httpx.UnsupportedProtocol):
        return CodexConfigError(f"{endpoint.name}: {failed}; check the scheme of the base URL of {config.source}")
    return CodexTransportError(redact(f"{endpoint.name}: {type(failed).__name__}: {failed}", config.secrets()))


def refused(endpoint: Endpoint, error: CodexError, wait: ServerWait) -> CodexRateLimitError:
    """A wait the policy will not sleep here (429 or 5xx alike): raised, carrying the capped wait."""
    status = error.status if isinstance(error, CodexHTTPError) else 0
    asked = wait.asked or 0.0
    shown = "a year or more" if asked >= RETRY_AFTER_CEILING else f"{asked:.0f}s"
    return CodexRateLimitError(
        f"{endpoint.name} ({status}): the service asked to wait {shown} (Retry-After), "
        f"{wait.refused}; a deferrable task defers for {wait.seconds:.0f}s",
        status=status,
        endpoint=endpoint.name,
        body=error.body if isinstance(error, CodexHTTPError) else "",
        retry_after=wait.seconds,
    )


def _origin(failed: httpx.TransportError | None) -> str:
    """``scheme://host:port`` of the request a transport error belongs to, for messages."""
    try:
        url = failed.request.url if failed is not None else None
    except RuntimeError:  # an error raised outside a request
        url = None
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}" if url is not None else "the server"


def _json_or_none(text: str) -> Any:
    try:
        return _json.loads(text)
    except ValueError:
        return None
