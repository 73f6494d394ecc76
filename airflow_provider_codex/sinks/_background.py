"""Bulk writes in one worker thread, while the caller goes on producing rows.

A database that parses and stores rows in its own process (PostgreSQL's
``COPY``) can work on one core while this process parses the API's pages on
the other, but only if something keeps feeding it without making the parser
wait: the worker. The caller :meth:`~BackgroundWriter.put`\\ s items under a
key (a table and its columns); the worker calls ``write(key, items)`` once per
run of consecutive items with the same key, ``items`` being an iterator that
yields them as they arrive, so one bulk write stays open for as long as its
table's rows keep coming.

The queue is bounded (``depth`` items): memory holds at most that many
batches beyond the caller's own. The worker is the only user of the
connection while it runs; the caller touches it again only after
:meth:`~BackgroundWriter.close` or :meth:`~BackgroundWriter.abort` returned.

Errors go both ways. The worker's first error is raised by the caller's next
``put`` (or by ``close``); the worker then discards what is still queued, so
the caller never blocks on a full queue. An error in the caller (the block of
``with BackgroundWriter(...)`` raising) aborts the worker: its open write sees
an exception from ``items`` (a ``COPY`` is then cancelled, not ended), and the
caller's error propagates, to roll back the transaction.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

_END = "end"
_ABORT = "abort"


class WriteAborted(Exception):
    """Raised inside the worker's open write when the caller failed."""


class BackgroundWriter(Generic[K, T]):
    """Run ``write(key, items)`` in one worker thread for each run of items with the same key."""

    def __init__(
        self,
        write: Callable[[K, Iterator[T]], None],
        *,
        depth: int = 4,
        name: str = "codex-writer",
        first: Callable[[], None] | None = None,
    ) -> None:
        """``first``: work for the worker before any item (a replace's ``DELETE``), run while the caller goes on."""
        self._write = write
        self._first = first
        self._queue: queue.Queue[tuple[K, T] | str] = queue.Queue(maxsize=max(1, depth))
        self._next: tuple[K, T] | str = _END
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the caller's side ------------------------------------------------------------

    def put(self, key: K, item: T) -> None:
        """Queue ``item`` under ``key`` (waits while the queue is full); raises the worker's error."""
        if self._error is not None:
            raise self._error
        self._queue.put((key, item))

    def close(self) -> None:
        """Wait until everything queued is written; raise the worker's error, if any."""
        self._stop(_END)
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop the worker, cancelling its open write, and wait for it; its errors are dropped."""
        self._stop(_ABORT)

    def _stop(self, sentinel: str) -> None:
        if self._thread.is_alive():
            self._queue.put(sentinel)
            self._thread.join()

    def __enter__(self) -> BackgroundWriter[K, T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is None:
            self.close()
        else:
            self.abort()

    # -- the worker's side ------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._first is not None:
                self._first()
            self._next = self._queue.get()
            while isinstance(self._next, tuple):
                key = self._next[0]
                self._write(key, self._items(key))
                if isinstance(self._next, tuple) and self._next[0] == key:
                    raise RuntimeError(f"the write of {key!r} returned before reading all its items")
        except BaseException as error:  # handed to the caller
            if self._next != _ABORT:  # an abort's own error is not news to the caller
                self._error = error
            self._discard()

    def _items(self, key: K) -> Iterator[T]:
        """The run of items under ``key``: ends at another key or a stop; raises on an abort."""
        item = self._next
        while isinstance(item, tuple) and item[0] == key:
            yield item[1]
            item = self._next = self._queue.get()
        if item == _ABORT:
            raise WriteAborted("the load failed while this write was open")

    def _discard(self) -> None:
        """After an error: take what is queued until the caller stops, so it never blocks."""
        item = self._next
        while item not in (_END, _ABORT):
            item = self._queue.get()
