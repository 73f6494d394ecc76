"""BackgroundWriter: runs per key in a real worker thread, errors both ways, no deadlock."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from airflow_provider_codex.sinks._background import BackgroundWriter, WriteAborted


def test_one_write_per_run_of_items_with_the_same_key_in_order():
    runs: list[tuple[str, list[int]]] = []
    threads: set[str] = set()

    def write(key: str, items: Iterator[int]) -> None:
        threads.add(threading.current_thread().name)
        runs.append((key, list(items)))

    with BackgroundWriter(write, depth=1, name="test-writer") as writer:
        for key, item in [("a", 1), ("a", 2), ("b", 3), ("a", 4), ("a", 5)]:
            writer.put(key, item)
    assert runs == [("a", [1, 2]), ("b", [3]), ("a", [4, 5])]
    assert threads == {"test-writer"}


def test_nothing_put_means_no_write():
    calls: list[str] = []
    with BackgroundWriter(lambda key, items: calls.append(key)):
        pass
    assert calls == []


def test_the_workers_error_reaches_the_caller_who_never_blocks_on_the_full_queue():
    def write(key: str, items: Iterator[int]) -> None:
        for item in items:
            if item == 3:
                raise ValueError("the database refused row 3")

    writer: BackgroundWriter[str, int] = BackgroundWriter(write, depth=1)

    def feed() -> None:
        for item in range(1_000):  # far more than the queue holds: the worker discards after failing
            writer.put("t", item)

    with pytest.raises(ValueError, match="row 3"):
        feed()
    writer.abort()


def test_the_workers_error_at_the_end_is_raised_by_close():
    def write(key: str, items: Iterator[int]) -> None:
        list(items)
        raise ValueError("commit-time failure")

    def load() -> None:
        with BackgroundWriter(write) as writer:
            writer.put("t", 1)

    with pytest.raises(ValueError, match="commit-time"):
        load()


def test_the_callers_error_cancels_the_open_write_and_propagates():
    seen: list[BaseException] = []
    started = threading.Event()

    def write(key: str, items: Iterator[int]) -> None:
        try:
            for _ in items:
                started.set()
        except BaseException as error:
            seen.append(error)
            raise

    def load() -> None:
        with BackgroundWriter(write) as writer:
            writer.put("t", 1)
            assert started.wait(10)
            raise RuntimeError("API died")

    with pytest.raises(RuntimeError, match="API died"):
        load()
    assert len(seen) == 1 and isinstance(seen[0], WriteAborted)


def test_a_write_that_stops_reading_early_is_an_error():
    def write(key: str, items: Iterator[int]) -> None:
        next(items)

    def load() -> None:
        with BackgroundWriter(write, depth=4) as writer:
            writer.put("t", 1)
            writer.put("t", 2)

    with pytest.raises(RuntimeError, match="before reading all"):
        load()
