"""The cyclic garbage collector: paused for a large parse, run less often during a load.

A load makes millions of short-lived containers (parsed rows, records, rows
for the database) and no cycles, while the process holds a large live heap (a
parsed page, Airflow's own objects). With CPython's default thresholds each
page's objects are traversed again and again as they age, and every page
promoted into the old generation brings a full pass over the heap; fewer
passes cost no memory and save much time (``bench/RESULTS.md``).

Both helpers change process-wide settings, so they nest across threads: the
first caller in saves the setting, the last one out restores it (unless
someone else changed it meanwhile). Cycles are still collected, only in fewer
passes; nothing here calls ``gc.collect()``.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The young-generation threshold while a load runs (CPython's default is 700).
LOAD_THRESHOLD = 20_000

_lock = threading.Lock()
_pauses = 0
_was_enabled = False
_relaxed = 0
_saved: tuple[int, int, int] = (700, 10, 10)
_applied: tuple[int, int, int] | None = None


@contextmanager
def paused() -> Iterator[None]:
    """No collection at all inside (a parse: hundreds of thousands of containers, no cycle)."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


@contextmanager
def relaxed(threshold: int = LOAD_THRESHOLD) -> Iterator[None]:
    """Young-generation passes every ``threshold`` allocations at most often, inside."""
    global _relaxed, _saved, _applied
    with _lock:
        if _relaxed == 0:
            _saved = gc.get_threshold()
            young, middle, old = _saved
            _applied = (max(young, threshold), middle, old)
            gc.set_threshold(*_applied)
        _relaxed += 1
    try:
        yield
    finally:
        with _lock:
            _relaxed -= 1
            if _relaxed == 0 and gc.get_threshold() == _applied:
                gc.set_threshold(*_saved)
