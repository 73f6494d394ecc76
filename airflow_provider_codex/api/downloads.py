"""Compliance log files: the listing's entries, and downloads verified against them.

A log file is listed with its SHA-256 and served by a redirect to a signed URL
on another host. Its bytes are streamed into a private spooled temp file that
hashes them as they come (memory stays bounded whatever the file's size), and
handed over only once the hash matches the listing. The flows here run on the
core's exchange (:mod:`.core`), so both faces download the same way.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import httpx

from airflow_provider_codex.api.core import ClientCore, Flow, Sleep
from airflow_provider_codex.api.endpoints import COMPLIANCE_LOG_FILE, COMPLIANCE_LOGS, EVENT_TYPE_PARAM
from airflow_provider_codex.api.errors import (
    CodexContractError,
    CodexIntegrityError,
    CodexNotFoundError,
    CodexPermissionError,
    quote,
)
from airflow_provider_codex.api.paging import Pager, QueryParams, iso_utc
from airflow_provider_codex.api.urls import HTTP_SCHEMES, joined, path_part, shown

log = logging.getLogger(__name__)

#: Chunk size when streaming a log file to disk.
DOWNLOAD_CHUNK = 1 << 16
#: A downloaded file stays in memory up to this size, then spills to a temp file.
DOWNLOAD_SPOOL_BYTES = 4 << 20


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


def log_listing_params(event_types: Sequence[str], after: datetime, before: datetime | None) -> QueryParams:
    """The /logs query: repeatable event types, ``after`` exclusive, optional ``before``."""
    if not event_types:
        raise ValueError("at least one event type is required")
    params = [(EVENT_TYPE_PARAM, t) for t in event_types]
    params.append(("after", iso_utc(after)))
    if before is not None:
        params.append(("before", iso_utc(before)))
    return params


def log_files_flow(core: ClientCore, pager: Pager) -> Flow[list[LogFile]]:
    """One page of the log listing, each entry checked (its id goes into a URL next)."""
    page = yield from core.page_flow(pager)
    return [LogFile.from_listing(row) for row in page.rows]


def download_flow(core: ClientCore, file_id: str, expected_sha256: str) -> Flow[VerifiedFile]:
    """GET the file's route, follow its 307 *without the key*, stream, verify, retry.

    The signed URL must serve the file itself. Should it redirect again, one
    fresh signed URL is asked for (a signature that went stale, a host that
    moved); a second redirect, or one back to the same URL (a loop), is a
    :class:`CodexContractError` that no retry fixes. Redirects are never
    followed further: they would lead a download to wherever a body says.
    """
    endpoint = COMPLIANCE_LOG_FILE
    policy = core.config.retry
    expected = expected_sha256.lower()
    redirected = False
    for attempt in range(1, policy.max_attempts + 1):
        first = yield from core.exchange(endpoint, core.request(endpoint, path_params={"log_file_id": file_id}))
        location = first.headers.get("location")
        if not first.is_redirect or not location:
            raise CodexContractError(f"{endpoint.name}: expected a redirect to a signed URL, got {first.status_code}")
        signed_url = joined(first.url, location)
        if signed_url is None or signed_url.scheme not in HTTP_SCHEMES:
            raise CodexContractError(
                f"{endpoint.name}: file {file_id}: the signed URL is not an http(s) URL: {quote(location)}"
            )
        # A fresh request: the signed URL carries its own authority; the bearer key
        # must never travel to that host (it may be another company's CDN).
        signed = httpx.Request("GET", signed_url)
        writer = HashingWriter()
        try:
            answer = yield from core.exchange(endpoint, signed, into=writer, rate_limited=False)
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
            again = joined(signed_url, answer.headers.get("location", ""))
            loop = again == signed_url
            target = "nowhere" if again is None else shown(again) + (" (itself: a redirect loop)" if loop else "")
            message = (
                f"{endpoint.name}: file {file_id}: the signed URL redirected again ({answer.status_code}), "
                f"to {target}; the download host must serve the file"
            )
            if loop or redirected or attempt == policy.max_attempts:
                raise CodexContractError(f"{message}, and a fresh signed URL did not help" if redirected else message)
            redirected = True
            log.warning("%s; asking for a fresh signed URL once", message)
            continue
        if writer.sha256 == expected:
            return VerifiedFile(file_id, writer)
        writer.close()
        core.stats.integrity_retries += 1
        error = CodexIntegrityError(
            f"{endpoint.name}: file {file_id} has SHA-256 {writer.sha256}, the listing says {expected}; discarded"
        )
        if attempt == policy.max_attempts:
            raise error
        delay = policy.backoff(attempt)
        log.warning("%s; retry %d of %d in %.1fs", error, attempt, policy.max_attempts - 1, delay)
        yield Sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
