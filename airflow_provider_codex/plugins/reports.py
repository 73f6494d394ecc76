"""The governance report file a views task wrote, read back for the view: bounded, HTML only.

The path comes from the task's XCom (``report``), so it is checked like any
outside input: an ``.html`` file, read through ``ObjectStoragePath`` (a local
path or any object store the api-server reaches), at most :data:`MAX_REPORT_BYTES`.
The page serves it sandboxed (see :mod:`.app`).
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

#: The largest report the view serves (a governance report is a few hundred kB).
MAX_REPORT_BYTES = 5_000_000
#: Seconds reading a report may take.
READ_TIMEOUT = 20.0


def _read(path: str) -> str | None:
    from airflow.sdk import ObjectStoragePath

    target = ObjectStoragePath(path)
    if target.suffix != ".html" or not target.is_file():
        return None
    if target.stat().st_size > MAX_REPORT_BYTES:
        log.warning("Codex view: the report %s is larger than %d bytes, not shown", path, MAX_REPORT_BYTES)
        return None
    return target.read_text(encoding="utf-8", errors="replace")


async def read_report(path: str) -> str | None:
    """The report's HTML, or ``None`` when it is not an HTML file the api-server can read (or too big)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(_read, path), READ_TIMEOUT)
    except (OSError, ValueError, TimeoutError):
        log.warning("Codex view: the report %s cannot be read", path, exc_info=True)
        return None
