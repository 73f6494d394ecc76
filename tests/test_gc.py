"""The cyclic GC during a load: fewer passes, and no response left for it to free."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from airflow_provider_codex import _gc
from airflow_provider_codex.api.client import AsyncCodexClient, CodexClient
from airflow_provider_codex.api.endpoints import USAGE
from airflow_provider_codex.api.paging import window_params

START = datetime(2026, 2, 20, tzinfo=UTC)


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


@contextmanager
def young_collections() -> Iterator[list[int]]:
    """Count the young-generation collections that start inside."""
    started: list[int] = []

    def callback(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 0:
            started.append(0)

    gc.callbacks.append(callback)
    try:
        yield started
    finally:
        gc.callbacks.remove(callback)


def allocate(containers: int) -> list[dict[str, list[int]]]:
    return [{"a": [i]} for i in range(containers // 2)]


def test_relaxed_runs_fewer_young_collections_and_restores_the_thresholds(default_thresholds):
    with young_collections() as outside:
        kept = allocate(10_000)
    assert outside  # 700 allocations a pass: about fourteen passes
    with _gc.relaxed(20_000), young_collections() as inside:
        assert gc.get_threshold() == (20_000, 10, 10)
        kept += allocate(10_000)
    assert inside == []
    assert gc.get_threshold() == (700, 10, 10)
    assert len(kept) == 10_000


def test_relaxed_never_lowers_a_higher_threshold(default_thresholds):
    gc.set_threshold(50_000, 20, 20)
    with _gc.relaxed(20_000):
        assert gc.get_threshold() == (50_000, 20, 20)
    assert gc.get_threshold() == (50_000, 20, 20)


def test_relaxed_nests_across_threads_and_the_last_one_out_restores(default_thresholds):
    entered, release_first, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with _gc.relaxed(20_000):
            entered.set()
            release_first.wait(10)
        first_out.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(10)
    with _gc.relaxed(20_000):
        release_first.set()
        assert first_out.wait(10)
        assert gc.get_threshold()[0] == 20_000  # the other load is done, this one still runs
    thread.join(10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_threshold_someone_else_set_meanwhile_is_left_alone(default_thresholds):
    with _gc.relaxed(20_000):
        gc.set_threshold(1_000, 10, 10)
    assert gc.get_threshold() == (1_000, 10, 10)


def test_paused_nests_and_leaves_a_disabled_gc_disabled():
    assert gc.isenabled()
    with _gc.paused():
        with _gc.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with _gc.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- a response is freed when dropped, not at the next full collection -------------------


def live_responses() -> list[httpx.Response]:
    # type(o), not isinstance: isinstance reads o.__class__, which some lazy module proxies
    # (Airflow's, for cloudpickle) answer by importing.
    return [o for o in gc.get_objects() if issubclass(type(o), httpx.Response)]


@contextmanager
def collector_off() -> Iterator[None]:
    """No cyclic collection inside: whatever outlives its last reference sits in a cycle."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_pages_and_downloads_leave_no_response_behind(sandbox, client_config):
    params = window_params(USAGE, START, START + timedelta(days=3))
    with CodexClient(client_config()) as client, collector_off():
        assert live_responses() == []
        pages = 0
        for page in client.iter_pages(USAGE, params, limit=5):
            pages += 1
            del page
        file = next(client.iter_log_files(["CODEX_LOG"], START))
        with client.download_log_file(file) as verified:
            assert verified.read()
        del file, verified
        assert pages > 3
        assert live_responses() == []


def test_the_async_client_leaves_no_response_behind(sandbox, client_config):
    params = window_params(USAGE, START, START + timedelta(days=2))

    async def walk() -> int:
        async with AsyncCodexClient(client_config()) as client:
            return len([page async for page in client.iter_pages(USAGE, params, limit=5)])

    with collector_off():
        assert asyncio.run(walk()) > 3
        assert live_responses() == []
