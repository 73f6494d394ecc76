"""The Codex HTTP client: one core, a sync face and an async face.

Every rule (auth, URL building, rate limiting, retries, error mapping, paging,
download verification) is written once, in :class:`ClientCore`, as generator
*flows* that yield what they need done (:class:`Sleep`, :class:`Send`) and
receive the outcome. :class:`CodexClient` drives a flow with ``httpx.Client``
and ``time.sleep``; :class:`AsyncCodexClient` drives the very same flow with
``httpx.AsyncClient`` and ``asyncio.sleep``. Neither face holds logic of its
own, so the two cannot drift apart.

What the faces do hold is how they bound an attempt in time (``request_deadline``:
``asyncio.timeout`` in the async face, a network backend that caps every socket
wait at the time left in the sync one) and the redaction scope every flow runs in
(:func:`~.errors.redacting`): no error leaves a face with a key in it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, TypeVar
from urllib.parse import quote as quote_path
from urllib.parse import urlsplit

import httpcore
import httpx

from airflow_provider_codex import _json
from airflow_provider_codex.api.config import ClientConfig
from airflow_provider_codex.api.endpoints import (
    COMPLIANCE_LOG_FILE,
    COMPLIANCE_LOGS,
    EVENT_TYPE_PARAM,
    MAX_EVENT_TIME,
    Api,
    Endpoint,
)
from airflow_provider_codex.api.errors import (
    CodexAuthError,
    CodexConfigError,
    CodexContractError,
    CodexError,
    CodexHTTPError,
    CodexIntegrityError,
    CodexNotFoundError,
    CodexPermissionError,
    CodexRateLimitError,
    CodexServerError,
    CodexTransportError,
    CodexValidationError,
    excerpt,
    quote,
    redact,
    redacting,
)
from airflow_provider_codex.api.paging import Page, Pager, QueryParams, iso_utc
from airflow_provider_codex.api.retry import (
    RETRY_AFTER_CEILING,
    RETRYABLE_STATUSES,
    RateLimiter,
    ServerWait,
    parse_retry_after,
    shared_limiter,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Chunk size when streaming a log file to disk.
DOWNLOAD_CHUNK = 1 << 16
#: A downloaded file stays in memory up to this size, then spills to a temp file.
DOWNLOAD_SPOOL_BYTES = 4 << 20
#: The URL schemes a base URL (and a signed URL) may have.
HTTP_SCHEMES = frozenset({"http", "https"})
#: OpenSSL's reasons for a handshake with a peer that does not speak TLS at all
#: (``https://`` against a plain-HTTP port): retrying cannot help, the scheme is wrong.
NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL", "HTTP_REQUEST"}
)


# --- what a flow asks its driver to do ------------------------------------------------


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Send:
    request: httpx.Request
    #: Stream a 2xx body into this writer instead of reading it into memory.
    into: HashingWriter | None = None


Action = Sleep | Send
Outcome = httpx.Response | httpx.TransportError | None
Flow = Generator[Action, Outcome, T]


class HashingWriter:
    """A private spooled temp file that hashes what is written to it."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=DOWNLOAD_SPOOL_BYTES)  # noqa: SIM115
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self._sha.update(chunk)
        self.size += len(chunk)

    def reset(self) -> None:
        """Empty again: an attempt that failed half-way leaves nothing for the next one."""
        self.file.seek(0)
        self.file.truncate()
        self._sha = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def close(self) -> None:
        self.file.close()


class VerifiedFile:
    """A downloaded log file whose SHA-256 matched its listing. Close it when done."""

    def __init__(self, file_id: str, writer: HashingWriter) -> None:
        self.file_id = file_id
        self.sha256 = writer.sha256
        self.size = writer.size
        self._writer = writer
        writer.file.seek(0)

    @property
    def stream(self) -> IO[bytes]:
        """The verified bytes, as a binary file positioned at the start."""
        return self._writer.file

    def read(self) -> bytes:
        self._writer.file.seek(0)
        return self._writer.file.read()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> VerifiedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class LogFile:
    """One entry of the compliance log listing."""

    id: str
    event_type: str
    end_time: str
    file_name: str | None
    file_size: int | None
    sha256: str
    raw: Mapping[str, Any]

    @classmethod
    def from_listing(cls, row: Any) -> LogFile:
        """One entry of ``GET /logs``; its id must be fit to become a path part of the download URL."""
        if not isinstance(row, Mapping):
            raise CodexContractError(f"{COMPLIANCE_LOGS.name}: a log file entry is not a JSON object: {quote(row)}")
        try:
            file_id, event_type, end_time, sha256 = (row[k] for k in ("id", "event_type", "end_time", "file_sha256"))
        except KeyError as missing:
            raise CodexContractError(f"log file entry lacks {missing}: {quote(row)}") from None
        path_part(COMPLIANCE_LOG_FILE, "log_file_id", file_id)
        return cls(
            id=file_id,
            event_type=str(event_type),
            end_time=str(end_time),
            file_name=row.get("file_name"),
            file_size=row.get("file_size"),
            sha256=str(sha256).lower(),
            raw=row,
        )


def path_part(endpoint: Endpoint, name: str, value: Any) -> str:
    """``value`` percent-escaped for the ``{name}`` part of ``endpoint``'s path.

    Ids from responses must match the registry's pattern for that part (see
    ``Endpoint.path_params``): a ``../`` in a listed id would otherwise reach
    another route with the key attached. Refused before any request is made.
    """
    pattern = endpoint.path_params.get(name)
    if pattern is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
        raise CodexContractError(
            f"{endpoint.name}: {name} {quote(value)} is not a safe path part (1 to 200 letters, digits, "
            "'_', '.' or '-', not '.' or '..'); no request is made for it"
        )
    text = str(value)
    if text in {"", ".", ".."}:
        raise CodexContractError(f"{endpoint.name}: {name} {text!r} cannot be a path part")
    return quote_path(text, safe="")


@dataclass
class ClientStats:
    """What a client did, for a task's summary and its log."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    integrity_retries: int = 0
    by_status: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "integrity_retries": self.integrity_retries,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
        }


# --- the core --------------------------------------------------------------------------


class ClientCore:
    """Builds requests, applies the limiter and the retry policy, reads responses.

    It does no I/O: its flows are driven by one of the two faces below.
    """

    def __init__(self, config: ClientConfig, limiter: RateLimiter | None = None) -> None:
        self.config = config
        #: An explicit limiter paces every route of this client; without one, each API's
        #: routes use the process's shared limiter for that service and key (see ``limiter_for``).
        self.limiter = limiter
        self._limiters: dict[Api, RateLimiter] = {}
        self.stats = ClientStats()
        #: What every error and log line of this client is scrubbed of.
        self.secrets = config.secrets()

    def limiter_for(self, endpoint: Endpoint) -> RateLimiter:
        """The limiter that paces ``endpoint``: shared by every client of this process that
        calls the same service with the same key at the same limit."""
        if self.limiter is not None:
            return self.limiter
        limiter = self._limiters.get(endpoint.api)
        if limiter is None:
            config = self.config
            key = config.key_for(endpoint.api).reveal()
            limiter = shared_limiter(config.base_url, key, config.requests_per_minute, config.rate_period)
            self._limiters[endpoint.api] = limiter
        return limiter

    # building

    def url(self, endpoint: Endpoint, path_params: Mapping[str, str] | None = None) -> str:
        """The route's URL; every path part percent-escaped (see :func:`path_part`)."""
        base = self.base_url()
        owner, owner_id = self.config.owner_for(endpoint)
        if owner_id in {".", ".."}:
            raise CodexConfigError(f"{self.config.source}: {owner.value} id {owner_id!r} cannot be a path part")
        parts = {name: path_part(endpoint, name, value) for name, value in (path_params or {}).items()}
        return base + endpoint.route(owner).format(owner_id=quote_path(owner_id, safe=""), **parts)

    def base_url(self) -> str:
        """The connection's base URL, refused at once unless it is ``http(s)://``: no retry fixes a scheme."""
        base = self.config.base_url.rstrip("/")
        split = urlsplit(base)
        if split.scheme.lower() not in HTTP_SCHEMES or not split.netloc:
            shown = f"{split.scheme}://{split.netloc.rpartition('@')[2]}" if split.netloc else split.scheme or base
            raise CodexConfigError(
                f"{self.config.source}: the base URL {quote(shown)} is not an http(s) URL; check the scheme "
                "of the base URL (the connection's host): it must start with https:// "
                "(http:// only for a local sandbox)"
            )
        return base

    def request(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        path_params: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        key = self.config.key_for(endpoint.api)
        return httpx.Request(
            "GET",
            self.url(endpoint, path_params),
            params=list(params),
            headers={"Authorization": f"Bearer {key.reveal()}", "Accept": "application/json"},
        )

    # the exchange: limiter, send, classify, retry

    def exchange(
        self,
        endpoint: Endpoint,
        request: httpx.Request,
        *,
        into: HashingWriter | None = None,
        rate_limited: bool = True,
    ) -> Flow[httpx.Response]:
        """Send ``request`` until it succeeds or a rule says stop. Redirects count as success.

        ``rate_limited=False`` skips the client-side limiter: signed download URLs
        are served by another host that the API's per-route limit does not cover.
        """
        policy = self.config.retry
        limiter = self.limiter_for(endpoint) if rate_limited else None
        for attempt in range(1, policy.max_attempts + 1):
            pace, mark = limiter.reserve(endpoint.name) if limiter else (0.0, 0.0)
            if pace > 0:
                yield Sleep(pace)
            if into is not None:
                into.reset()
            outcome = yield Send(request, into)
            if limiter:
                limiter.answered(endpoint.name, mark)
            self.stats.requests += 1
            if isinstance(outcome, httpx.Response):
                self.stats.by_status[outcome.status_code] += 1
                if outcome.status_code < 400:
                    return outcome
            error, retry_after = self._classify(endpoint, outcome)
            if not error.retryable:
                raise error
            if isinstance(error, CodexRateLimitError):
                self.stats.rate_limited += 1
            wait = policy.wait(attempt, retry_after)
            if wait.refused is not None:
                raise self._refused(endpoint, error, wait)
            if attempt == policy.max_attempts:
                raise error
            self.stats.retries += 1
            log.warning(
                "%s: %s; retry %d of %d in %.1fs",
                endpoint.name,
                error,
                attempt,
                policy.max_attempts - 1,
                wait.seconds,
            )
            yield Sleep(wait.seconds)
        raise AssertionError("unreachable")  # pragma: no cover

    def _refused(self, endpoint: Endpoint, error: CodexError, wait: ServerWait) -> CodexRateLimitError:
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

    def _classify(self, endpoint: Endpoint, outcome: Outcome) -> tuple[CodexError, float | None]:
        """Map a failed outcome to a typed error, and the server's Retry-After if any."""
        if not isinstance(outcome, httpx.Response):
            return self._transport_error(endpoint, outcome), None
        status = outcome.status_code
        body = self._scrub(outcome.text)
        where = f"{endpoint.name} ({status})"
        key = endpoint.key
        kwargs: dict[str, Any] = {"status": status, "endpoint": endpoint.name, "body": body}
        if status == 401:
            return CodexAuthError(
                f"{where}: the {endpoint.api.value} API key was rejected; check the "
                f"'{key.connection_field}' field of {self.config.source}. Server said: {excerpt(body)}",
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
                f"{where}: not found; check the workspace/organization id of {self.config.source} "
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

    def _transport_error(self, endpoint: Endpoint, failed: httpx.TransportError | None) -> CodexError:
        """A failed exchange: retryable, unless it is one a retry cannot fix (a wrong scheme)."""
        where = _origin(failed)
        reason = _not_tls(failed)
        if reason is not None:
            return CodexConfigError(
                f"{endpoint.name}: {where} does not speak TLS (handshake: {reason}); check the scheme of the "
                f"base URL of {self.config.source}: https:// for a TLS server, http:// for a plain-HTTP one"
            )
        if isinstance(failed, httpx.UnsupportedProtocol):
            return CodexConfigError(
                f"{endpoint.name}: {failed}; check the scheme of the base URL of {self.config.source}"
            )
        return CodexTransportError(self._scrub(f"{endpoint.name}: {type(failed).__name__}: {failed}"))

    def _scrub(self, text: str) -> str:
        return redact(text, self.secrets)

    # flows

    def json_flow(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        path_params: Mapping[str, str] | None = None,
    ) -> Flow[Any]:
        response = yield from self.exchange(endpoint, self.request(endpoint, params, path_params))
        return self.read_json(endpoint, response)

    def read_json(self, endpoint: Endpoint, response: httpx.Response) -> Any:
        try:
            return _json.loads(response.content)
        except ValueError:
            raise CodexContractError(
                f"{endpoint.name}: the body is not JSON ({response.status_code}): {excerpt(response.text)}"
            ) from None

    def page_flow(self, pager: Pager) -> Flow[Page]:
        body = yield from self.json_flow(pager.endpoint, pager.next_params())
        return pager.advance(body)

    def log_files_flow(self, pager: Pager) -> Flow[list[LogFile]]:
        """One page of the log listing, each entry checked (its id goes into a URL next)."""
        page = yield from self.page_flow(pager)
        return [LogFile.from_listing(row) for row in page.rows]

    def download_flow(self, file_id: str, expected_sha256: str) -> Flow[VerifiedFile]:
        """GET the file's route, follow its 307 *without the key*, stream, verify, retry.

        The signed URL must serve the file itself. Should it redirect again, one
        fresh signed URL is asked for (a signature that went stale, a host that
        moved); a second redirect, or one back to the same URL (a loop), is a
        :class:`CodexContractError` that no retry fixes. Redirects are never
        followed further: they would lead a download to wherever a body says.
        """
        endpoint = COMPLIANCE_LOG_FILE
        policy = self.config.retry
        expected = expected_sha256.lower()
        redirected = False
        for attempt in range(1, policy.max_attempts + 1):
            first = yield from self.exchange(endpoint, self.request(endpoint, path_params={"log_file_id": file_id}))
            location = first.headers.get("location")
            if not first.is_redirect or not location:
                raise CodexContractError(
                    f"{endpoint.name}: expected a redirect to a signed URL, got {first.status_code}"
                )
            signed_url = _joined(first.url, location)
            if signed_url is None or signed_url.scheme not in HTTP_SCHEMES:
                raise CodexContractError(
                    f"{endpoint.name}: file {file_id}: the signed URL is not an http(s) URL: {quote(location)}"
                )
            # A fresh request: the signed URL carries its own authority; the bearer key
            # must never travel to that host (it may be another company's CDN).
            signed = httpx.Request("GET", signed_url)
            writer = HashingWriter()
            try:
                answer = yield from self.exchange(endpoint, signed, into=writer, rate_limited=False)
            except (CodexPermissionError, CodexNotFoundError) as expired:
                writer.close()
                if attempt == policy.max_attempts:
                    raise
                log.warning("%s: signed URL refused (%s); asking for a new one", endpoint.name, expired.status)
                continue
            except BaseException:
                writer.close()
                raise
            if answer.status_code >= 300:
                writer.close()
                again = _joined(signed_url, answer.headers.get("location", ""))
                loop = again == signed_url
                target = "nowhere" if again is None else _shown(again) + (" (itself: a redirect loop)" if loop else "")
                message = (
                    f"{endpoint.name}: file {file_id}: the signed URL redirected again ({answer.status_code}), "
                    f"to {target}; the download host must serve the file"
                )
                if loop or redirected or attempt == policy.max_attempts:
                    raise CodexContractError(
                        f"{message}, and a fresh signed URL did not help" if redirected else message
                    )
                redirected = True
                log.warning("%s; asking for a fresh signed URL once", message)
                continue
            if writer.sha256 == expected:
                return VerifiedFile(file_id, writer)
            writer.close()
            self.stats.integrity_retries += 1
            error = CodexIntegrityError(
                f"{endpoint.name}: file {file_id} has SHA-256 {writer.sha256}, the listing says {expected}; discarded"
            )
            if attempt == policy.max_attempts:
                raise error
            delay = policy.backoff(attempt)
            log.warning("%s; retry %d of %d in %.1fs", error, attempt, policy.max_attempts - 1, delay)
            yield Sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def max_event_time_flow(self, event_types: Sequence[str]) -> Flow[dict[str, datetime | None]]:
        params = [(EVENT_TYPE_PARAM, t) for t in event_types]
        body = yield from self.json_flow(MAX_EVENT_TIME, params)
        found = body.get("max_event_time") if isinstance(body, dict) else None
        if not isinstance(found, dict):
            raise CodexContractError(f"{MAX_EVENT_TIME.name}: unexpected body: {quote(body)}")
        return {t: _parse_time(f"{MAX_EVENT_TIME.name}: max_event_time.{t}", found.get(t)) for t in event_types}


def log_listing_params(event_types: Sequence[str], after: datetime, before: datetime | None) -> QueryParams:
    """The /logs query: repeatable event types, ``after`` exclusive, optional ``before``."""
    if not event_types:
        raise ValueError("at least one event type is required")
    params = [(EVENT_TYPE_PARAM, t) for t in event_types]
    params.append(("after", iso_utc(after)))
    if before is not None:
        params.append(("before", iso_utc(before)))
    return params


def _unbound(response: httpx.Response) -> httpx.Response:
    """``response``, closed, without httpx's reference cycle to its stream.

    httpx binds a response's stream to the response (``response.stream`` ->
    ``BoundSyncStream`` -> ``response``), and the cycle outlives ``close()``: a
    response, body included, is then freed by a later cyclic collection rather
    than when the client drops it. With a load's collections spaced out
    (:mod:`airflow_provider_codex._gc`), that kept up to ten 22 MB page bodies alive (+120 MB
    peak on the analytics benchmark). The stream is spent by now (the body is
    read, or was written to a file), so an empty one takes its place.
    """
    response.stream = httpx.ByteStream(b"")
    return response


def _json_or_none(text: str) -> Any:
    try:
        return _json.loads(text)
    except ValueError:
        return None


def _parse_time(where: str, value: Any) -> datetime | None:
    """An ISO 8601 time with a zone from a response, or None for null."""
    if value is None:
        return None
    moment = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        raise CodexContractError(f"{where}: expected an ISO 8601 time with a zone, got {quote(value)}")
    return moment


def _joined(base: httpx.URL, location: str) -> httpx.URL | None:
    """``location`` resolved against ``base``; None when it is no URL at all."""
    try:
        return base.join(location) if location else None
    except (httpx.InvalidURL, ValueError, TypeError):
        return None


def _shown(url: httpx.URL) -> str:
    """A signed URL fit for a message: its query (the signature, a credential of its own) left out."""
    shown = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}"
    return quote(shown + ("?<signature redacted>" if url.query else ""))


def _origin(failed: httpx.TransportError | None) -> str:
    """``scheme://host:port`` of the request a transport error belongs to, for messages."""
    try:
        url = failed.request.url if failed is not None else None
    except RuntimeError:  # an error raised outside a request
        url = None
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}" if url is not None else "the server"


def _not_tls(failed: BaseException | None) -> str | None:
    """OpenSSL's reason when ``failed`` is a handshake with a peer that does not speak TLS, else None."""
    seen: set[int] = set()
    while failed is not None and id(failed) not in seen:
        seen.add(id(failed))
        if isinstance(failed, ssl.SSLError) and failed.reason in NOT_TLS_REASONS:
            return str(failed.reason)
        failed = failed.__cause__ or failed.__context__
    return None


def ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The process's TLS context for a ``verify`` setting, built once (see :func:`_ssl_context`).

    Building one loads the CA bundle (~30 ms); ``httpx`` would do it for every
    client, even one that only speaks ``http://``. ``True`` honours
    ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as ``httpx`` does, else certifi's bundle; a
    string is a CA file or directory; ``False`` verifies nothing.
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


# --- the deadline of an attempt ------------------------------------------------------------


class DeadlineExceeded(httpx.TimeoutException):
    """An attempt outlived the connection's ``request_deadline``: a retryable timeout."""


class _Deadline:
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


_DEADLINE: ContextVar[_Deadline | None] = ContextVar("codex_request_deadline", default=None)


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
    """httpcore's sync network backend, with every socket wait capped at the attempt's time left.

    httpx's timeout applies to each read (and write, and connect) on its own,
    so a server sending a byte a second, in the headers or the body, keeps a
    request open forever. Capping each wait at what is left of the attempt's
    deadline (read from a context variable the sync face sets around each
    send) bounds the whole exchange in one place: connect, TLS handshake,
    request, headers, body, whichever of them trickles. Connections are pooled
    and outlive an attempt, so the streams read the deadline at each wait.
    """

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


def _bound_by_deadline(http: httpx.Client) -> httpx.Client:
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


# --- the two faces ---------------------------------------------------------------------


class _Face:
    """What both faces share: the core and the public, I/O-free helpers."""

    def __init__(self, config: ClientConfig, limiter: RateLimiter | None = None) -> None:
        self.core = ClientCore(config, limiter)

    @property
    def config(self) -> ClientConfig:
        return self.core.config

    @property
    def stats(self) -> ClientStats:
        return self.core.stats

    def pager(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager:
        return Pager(endpoint, params, limit=limit, cursor=cursor)

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.config.timeout)

    def _deadline_passed(self) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"no complete answer within {self.config.request_deadline:g}s, "
            f"the 'request_deadline' of {self.config.source}"
        )


class CodexClient(_Face):
    """Synchronous client (operators, hooks, TaskFlow tasks)."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        limiter: RateLimiter | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(config, limiter)
        self._http = _bound_by_deadline(
            httpx.Client(
                timeout=self._timeout(), verify=ssl_context(config.verify), transport=transport, follow_redirects=False
            )
        )

    def _drive(self, flow: Flow[T]) -> T:
        outcome: Outcome = None
        with redacting(self.core.secrets):
            try:
                while True:
                    action = flow.send(outcome)
                    outcome = self._perform(action)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def _perform(self, action: Action) -> Outcome:
        if isinstance(action, Sleep):
            time.sleep(action.seconds)
            return None
        deadline = _Deadline(self.config.request_deadline)
        token = _DEADLINE.set(deadline)
        try:
            return self._send(action)
        except httpx.TimeoutException as exc:
            return self._deadline_passed() if deadline.bound else exc
        except httpx.TransportError as exc:
            return exc
        finally:
            _DEADLINE.reset(token)

    def _send(self, action: Send) -> httpx.Response:
        if action.into is None:
            return _unbound(self._http.send(action.request))
        response = self._http.send(action.request, stream=True)
        try:
            if response.is_success:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                    action.into.write(chunk)
            else:
                response.read()
        finally:
            response.close()
        return _unbound(response)

    def get_json(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        path_params: Mapping[str, str] | None = None,
    ) -> Any:
        """One call to a route that does not page."""
        return self._drive(self.core.json_flow(endpoint, params, path_params))

    def iter_pages(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[Page]:
        """Every page of a route, one at a time (constant memory)."""
        pager = self.pager(endpoint, params, limit=limit, cursor=cursor)
        while not pager.done:
            yield self._drive(self.core.page_flow(pager))

    def iter_log_files(
        self, event_types: Sequence[str], after: datetime, before: datetime | None = None
    ) -> Iterator[LogFile]:
        """The log files listed for ``(after, before]``, by end time."""
        pager = self.pager(COMPLIANCE_LOGS, log_listing_params(event_types, after, before))
        while not pager.done:
            yield from self._drive(self.core.log_files_flow(pager))

    def download_log_file(self, file: LogFile) -> VerifiedFile:
        """A log file's bytes, checked against the listing's SHA-256."""
        return self._drive(self.core.download_flow(file.id, file.sha256))

    def max_event_time(self, event_types: Sequence[str]) -> dict[str, datetime | None]:
        return self._drive(self.core.max_event_time_flow(event_types))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CodexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncCodexClient(_Face):
    """Asynchronous client (triggers), driving the same flows as :class:`CodexClient`."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(config, limiter)
        self._http = httpx.AsyncClient(
            timeout=self._timeout(), verify=ssl_context(config.verify), transport=transport, follow_redirects=False
        )

    async def _drive(self, flow: Flow[T]) -> T:
        outcome: Outcome = None
        with redacting(self.core.secrets):
            try:
                while True:
                    action = flow.send(outcome)
                    outcome = await self._perform(action)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    async def _perform(self, action: Action) -> Outcome:
        if isinstance(action, Sleep):
            await asyncio.sleep(action.seconds)
            return None
        deadline = asyncio.timeout(self.config.request_deadline)
        try:
            async with deadline:
                return await self._send(action)
        except TimeoutError:
            if deadline.expired():
                return self._deadline_passed()
            raise
        except httpx.TransportError as exc:
            return exc

    async def _send(self, action: Send) -> httpx.Response:
        if action.into is None:
            return _unbound(await self._http.send(action.request))
        response = await self._http.send(action.request, stream=True)
        try:
            if response.is_success:
                async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
                    action.into.write(chunk)
            else:
                await response.aread()
        finally:
            await response.aclose()
        return _unbound(response)

    async def get_json(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        path_params: Mapping[str, str] | None = None,
    ) -> Any:
        return await self._drive(self.core.json_flow(endpoint, params, path_params))

    async def iter_pages(
        self,
        endpoint: Endpoint,
        params: Sequence[tuple[str, str]] = (),
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[Page]:
        pager = self.pager(endpoint, params, limit=limit, cursor=cursor)
        while not pager.done:
            yield await self._drive(self.core.page_flow(pager))

    async def iter_log_files(
        self, event_types: Sequence[str], after: datetime, before: datetime | None = None
    ) -> AsyncIterator[LogFile]:
        pager = self.pager(COMPLIANCE_LOGS, log_listing_params(event_types, after, before))
        while not pager.done:
            for file in await self._drive(self.core.log_files_flow(pager)):
                yield file

    async def download_log_file(self, file: LogFile) -> VerifiedFile:
        return await self._drive(self.core.download_flow(file.id, file.sha256))

    async def max_event_time(self, event_types: Sequence[str]) -> dict[str, datetime | None]:
        return await self._drive(self.core.max_event_time_flow(event_types))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncCodexClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
