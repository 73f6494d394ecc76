"""Typed errors of the Codex API client.

Each error says what went wrong *and what to do about it*: a 401 names the
connection field that holds the rejected key, a 403 names the missing scope, a
422 carries the server's ``detail``. Messages never contain a key: they are
built from the endpoint, the status and the server's body, and every message
passes through :func:`redact` before it is raised.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: How much of a server body an error message quotes.
BODY_EXCERPT_CHARS = 500


class CodexError(Exception):
    """Base class of every error raised by this package's API layer."""

    #: Whether repeating the same call may succeed. The client retries only these.
    retryable: bool = False


class CodexConfigError(CodexError):
    """The connection lacks something a call needs (a key, a workspace id)."""


class CodexHTTPError(CodexError):
    """The service answered with an error status."""

    def __init__(self, message: str, *, status: int, endpoint: str, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint
        self.body = body


class CodexAuthError(CodexHTTPError):
    """401: the key is wrong, expired or revoked. Never retried."""


class CodexPermissionError(CodexHTTPError):
    """403: the key lacks the scope the route needs. Never retried."""


class CodexNotFoundError(CodexHTTPError):
    """404: the workspace, file or route does not exist, or the plan lacks the API."""


class CodexValidationError(CodexHTTPError):
    """422: the service rejected the request's parameters; ``detail`` says which."""

    def __init__(self, message: str, *, status: int, endpoint: str, body: str = "", detail: Any = None) -> None:
        super().__init__(message, status=status, endpoint=endpoint, body=body)
        self.detail = detail


class CodexRateLimitError(CodexHTTPError):
    """The service asked to be left alone for a while, and the client did not (or may not) wait.

    Raised when 429s outlasted the retries, or when a ``Retry-After`` (on a
    429 *or* a 5xx: one rule, ``RetryPolicy.wait``) is more than the client may
    wait (``max_retry_after``) or than is worth sleeping in a worker
    (``max_sleep``). ``status`` says which answer it was; ``retry_after`` is
    the capped wait, never more than ``max_retry_after``: a deferrable
    operator defers for that long, a sensor reads it as "not ready yet".
    """

    retryable = True

    def __init__(self, message: str, *, status: int, endpoint: str, body: str = "", retry_after: float | None) -> None:
        super().__init__(message, status=status, endpoint=endpoint, body=body)
        self.retry_after = retry_after


class CodexServerError(CodexHTTPError):
    """5xx after every retry."""

    retryable = True


class CodexTransportError(CodexError):
    """Connect/read errors or timeouts after every retry."""

    retryable = True


class CodexContractError(CodexError):
    """The body does not match the contract (``shared/codex-api.md``).

    The contract is partly assumed; when real traffic disagrees we fail loudly
    with the body we got rather than guess.
    """


class CodexPagingError(CodexContractError):
    """A cursor repeated, or a page loop ran past its bound: never loop forever."""


class CodexIntegrityError(CodexError):
    """A downloaded log file does not match the SHA-256 of its listing."""

    retryable = True


class CodexRetentionError(CodexError):
    """The window reaches further back than the service keeps data. Never retried."""


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret in ``text`` by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def excerpt(body: str) -> str:
    """The start of a body, short enough for an error message."""
    body = body.strip()
    if len(body) <= BODY_EXCERPT_CHARS:
        return body
    return body[:BODY_EXCERPT_CHARS] + f"… ({len(body)} chars)"
