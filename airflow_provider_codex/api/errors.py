"""Typed errors of the Codex API layer, and the redaction that keeps keys out of them.

Each error says what went wrong *and what to do about it* (a 401 names the
connection field of the rejected key, a 403 the missing scope). No message may
hold a key, even one a server echoes into a body: the faces run every exchange
inside :func:`redacting`, so each :func:`excerpt` redacts before it truncates
(no half key survives the cut) and every error leaving is scrubbed (:func:`scrub`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


#: The secrets of the exchange in progress (see :func:`redacting`).
_ACTIVE_SECRETS: ContextVar[tuple[str, ...]] = ContextVar("codex_active_secrets", default=())
#: What a redacted secret becomes.
REDACTED = "***"
#: Shorter values are not redacted (no real key is this short, and redacting one would
#: garble every message): the default of Airflow's own masker (``min_length_masked_secret``).
MIN_REDACTED_CHARS = 5


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret in ``text`` by ``***``.

    Also the forms a quoted body shows a secret in: escaped by ``repr`` or by
    JSON (a key holding a quote or a backslash).
    """
    for secret in secrets:
        if secret and len(secret) >= MIN_REDACTED_CHARS:
            forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}
            for form in sorted(forms, key=len, reverse=True):
                text = text.replace(form, REDACTED)
    return text


@contextmanager
def redacting(secrets: Iterable[str | None]) -> Iterator[None]:
    """Inside: every :func:`excerpt` redacts ``secrets``; every exception leaving is scrubbed (:func:`scrub`).

    The client's faces drive each flow inside this, so an error built anywhere
    in the API layer (the pager, the log listing, the freshness check) cannot
    forget to redact a body it quotes.
    """
    active = tuple(s for s in secrets if s and len(s) >= MIN_REDACTED_CHARS)
    token = _ACTIVE_SECRETS.set(_ACTIVE_SECRETS.get() + active)
    try:
        yield
    except Exception as error:
        scrub(error, active)
        raise
    finally:
        _ACTIVE_SECRETS.reset(token)


def scrub(error: BaseException, secrets: Iterable[str | None]) -> BaseException:
    """Redact ``secrets`` from ``error`` in place: its message, ``body``, ``detail`` and its chain.

    A chained exception whose text still shows a secret after that (one that
    renders itself from fields rather than its arguments) is cut off the chain.
    """
    active = tuple(s for s in secrets if s and len(s) >= MIN_REDACTED_CHARS)
    if not active:
        return error
    node: BaseException | None = error
    parent: BaseException | None = None
    seen: set[int] = set()
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        node.args = tuple(redact(a, active) if isinstance(a, str) else a for a in node.args)
        if isinstance(node, CodexHTTPError):
            node.body = redact(node.body, active)
        if isinstance(node, CodexValidationError):
            node.detail = _redact_value(node.detail, active)
        if parent is not None and any(secret in str(node) for secret in active):
            parent.__cause__ = None
            parent.__suppress_context__ = True
            break
        parent, node = node, node.__cause__ or node.__context__
    return error


def _redact_value(value: Any, secrets: tuple[str, ...]) -> Any:
    """A JSON-like value with every string redacted."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [_redact_value(v, secrets) for v in value]
    if isinstance(value, dict):
        return {redact(str(k), secrets): _redact_value(v, secrets) for k, v in value.items()}
    return value


def excerpt(body: str) -> str:
    """The start of a body, redacted (see :func:`redacting`), short enough for an error message."""
    body = redact(body, _ACTIVE_SECRETS.get()).strip()
    if len(body) <= BODY_EXCERPT_CHARS:
        return body
    return body[:BODY_EXCERPT_CHARS] + f"… ({len(body)} chars)"


def quote(value: Any) -> str:
    """An :func:`excerpt` of any value from outside (a string as is, anything else as its ``repr``)."""
    return excerpt(value if isinstance(value, str) else repr(value))
