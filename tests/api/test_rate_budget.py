"""The shared rate budgets (``api/budget*.py``), shared by OS processes: the real local Redis, a SQLite file.

Every Redis test books in database 13 of the Redis on 127.0.0.1:6379 under a
base URL of its own (so keys of its own), and removes what it wrote; a host
budget lives in the test's ``tmp_path``. The processes are spawned, as
Airflow's tasks are separate processes: threads would share the per-process
limiter and prove nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import multiprocessing
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from budget_workers import Record, book_async, book_sync, name_of, source

from airflow_provider_codex.api.budget import KEY_PREFIX, budget_name
from airflow_provider_codex.api.budget_host import HostStore
from airflow_provider_codex.api.budget_redis import RedisStore
from airflow_provider_codex.api.limits import Budget

DB = 13
KEY = "sk-budget-test-0123456789abcdef0123456789abcdef"
ROUTE = "usage"


def _redis_answers(port: int = 6379) -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not _redis_answers(), reason="needs the local Redis on 127.0.0.1:6379")
BACKENDS = [pytest.param("redis", marks=needs_redis), "host"]


@pytest.fixture
def base_url() -> Iterator[str]:
    """A service URL of the test's own (its budgets' keys are its own); its keys are removed after."""
    url = f"http://budget-{uuid.uuid4().hex[:12]}.test/v1"
    yield url
    client = redis.Redis(host="127.0.0.1", port=6379, db=DB)
    for route in (ROUTE, "other"):
        for period in (0.6, 0.8, 1.0, 10.0):
            client.delete(budget_name(url, KEY, route, period))
    client.close()


@pytest.fixture
def budget_file(tmp_path):
    return str(tmp_path / "budget" / "budget.sqlite3")


def spec(base_url: str, backend: str = "redis", **overrides: Any) -> dict[str, Any]:
    settings = {
        "backend": backend,
        "path": "",
        "port": 6379,
        "db": DB,
        "base_url": base_url,
        "key": KEY,
        "route": ROUTE,
        "limit": 4,
        "period": 0.6,
        "requests": 5,
    }
    return settings | overrides


def run_processes(jobs: list[tuple[Any, dict[str, Any]]]) -> list[Record]:
    """Run each ``(worker, spec)`` in a spawned process; every record they made."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(jobs))
    out = context.Queue()
    processes = [context.Process(target=worker, args=(settings, barrier, out)) for worker, settings in jobs]
    for process in processes:
        process.start()
    records = [record for _ in processes for record in out.get(timeout=120)]
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    return records


def most_in_a_window(moments: list[float], width: float) -> int:
    """The most of ``moments`` that any half-open window ``[x, x + width)`` holds."""
    moments = sorted(moments)
    most, first = 0, 0
    for last, moment in enumerate(moments):
        while moment - moments[first] >= width:
            first += 1
        most = max(most, last - first + 1)
    return most


def floor_seconds(requests: int, limit: int, period: float) -> float:
    """The least time ``requests`` can take at ``limit`` per ``period``: the first ``limit`` go at once."""
    return (-(-requests // limit) - 1) * period


def check_shared(records: list[Record], limit: int, period: float) -> None:
    assert all(in_store for _, _, in_store in records)
    marks_us = sorted(round(mark * 1_000_000) for mark, _, _ in records)
    # The booked slots, in the Redis server's clock: exact, no window of one period holds more than the limit.
    assert all(b - a >= round(period * 1_000_000) for a, b in zip(marks_us, marks_us[limit:], strict=False))
    # When the processes sent (each its own sleep): within scheduling noise, the same.
    assert most_in_a_window([sent for _, sent, _ in records], period - 0.1) <= limit
    # Not slower than it must be by more than the settling (each slot counts from its answer).
    floor = floor_seconds(len(records), limit, period)
    span = (marks_us[-1] - marks_us[0]) / 1_000_000
    assert floor <= span <= floor * 1.25 + 0.3, (floor, span)


@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_sharing_a_budget_never_exceed_the_limit(base_url, budget_file, backend):
    settings = spec(base_url, backend, path=budget_file)
    records = run_processes([(book_sync, settings)] * 4)
    assert len(records) == 20
    check_shared(records, settings["limit"], settings["period"])


def test_processes_with_their_own_limiters_do_exceed_it(base_url):
    """The control: the check above fails for what each Airflow task had until now."""
    settings = spec(base_url, backend="process")
    records = run_processes([(book_sync, settings)] * 4)
    assert most_in_a_window([sent for _, sent, _ in records], settings["period"] - 0.1) >= 4 * settings["limit"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_async_face_shares_the_budget_with_sync_processes(base_url, budget_file, backend):
    settings = spec(base_url, backend, path=budget_file, requests=3, period=0.8)
    records = run_processes(
        [(book_async, settings | {"tasks": 3}), (book_async, settings | {"tasks": 2}), (book_sync, settings)]
    )
    assert len(records) == 9 + 6 + 3
    check_shared(records, settings["limit"], settings["period"])


def test_the_budget_name_is_stable_across_processes_and_reveals_no_key(base_url):
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=name_of, args=(base_url, KEY, ROUTE, 0.6, out))
    child.start()
    from_child = out.get(timeout=60)
    child.join(30)
    here = budget_name(base_url, KEY, ROUTE, 0.6)
    assert from_child == here
    assert KEY not in here and KEY[3:20] not in here
    # The scheme is pinned: another would split the budget between two versions of the provider.
    message = "\0".join((base_url, KEY, "0.6", "")).encode() + ROUTE.encode()
    digest = hmac.new(b"airflow-provider-codex/rate-budget/v1", message, hashlib.sha256).hexdigest()
    assert here == KEY_PREFIX + digest
    assert budget_name(base_url + "/", KEY, ROUTE, 0.6) == here
    others = {
        budget_name(base_url, "sk-another-key", ROUTE, 0.6),
        budget_name(base_url, KEY, "other", 0.6),
        budget_name(base_url, KEY, ROUTE, 1.0),
        budget_name("http://elsewhere/v1", KEY, ROUTE, 0.6),
    }
    assert here not in others and len(others) == 4


@needs_redis
def test_nothing_in_redis_holds_the_key_and_windows_expire(base_url):
    store = RedisStore.connect(host="127.0.0.1", db=DB)
    budget = store.budget_for(base_url, KEY, 2, 1.0)
    bookings = [budget.book(ROUTE) for _ in range(3)]
    assert [b.wait == 0 for b in bookings] == [True, True, False]
    assert 0.9 < bookings[2].wait <= 1.0
    for booking in bookings:
        budget.settle(booking)
    client = redis.Redis(host="127.0.0.1", db=DB)
    name = budget_name(base_url, KEY, ROUTE, 1.0)
    stored = client.zrange(name, 0, -1, withscores=True)
    assert len(stored) == 3
    assert all(KEY.encode() not in member for member, _ in stored)
    assert all(KEY.encode() not in key for key in client.scan_iter(f"{KEY_PREFIX}*"))
    # The third slot is a period after the first: the key lives until it has left its window.
    assert 1_000 < client.pttl(name) <= 3_100


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_booking_is_a_slot_of_its_own(base_url, budget_file, backend):
    """Two bookings never share a slot: in one process, from many threads at once, the marks stay spaced."""
    from concurrent.futures import ThreadPoolExecutor

    store = source(spec(base_url, backend, path=budget_file))
    budget = store.budget_for(base_url, KEY, 3, 10.0)
    with ThreadPoolExecutor(8) as pool:
        bookings = list(pool.map(lambda _: budget.book(ROUTE), range(12)))
    marks = sorted(round(b.mark * 1_000_000) for b in bookings)
    assert len({b.token for b in bookings}) == 12
    assert all(b - a >= 10_000_000 for a, b in zip(marks, marks[3:], strict=False))
    assert sorted(round(b.wait) for b in bookings) == [0] * 3 + [10] * 3 + [20] * 3 + [30] * 3


# --- a store that cannot be reached ---------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def budget_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.endswith("api.budget") and r.levelno >= logging.WARNING]


def paces_locally(bookings: list[Any], period: float) -> None:
    assert all(b.token is None for b in bookings)
    assert [b.wait for b in bookings[:2]] == [0.0, 0.0]
    assert period * 0.9 < bookings[2].wait <= period  # limit 2: the third waits, in this process


@needs_redis
def test_a_refused_store_warns_once_and_paces_per_process(base_url, caplog):
    caplog.set_level(logging.WARNING)
    store = RedisStore.connect(host="127.0.0.1", port=closed_port(), db=DB, recheck=60)
    budget = store.budget_for(base_url, KEY, 2, 10.0)
    started = time.monotonic()
    bookings = [budget.book(ROUTE) for _ in range(3)]
    for booking in bookings:
        budget.settle(booking)
    assert time.monotonic() - started < 1.0  # refused at once, never retried with backoff
    paces_locally(bookings, 10.0)
    warned = budget_warnings(caplog)
    assert len(warned) == 1, warned
    assert "cannot be reached" in warned[0] and "per process" in warned[0]
    assert KEY not in caplog.text


@needs_redis
def test_the_async_face_degrades_too(base_url, caplog):
    caplog.set_level(logging.WARNING)
    store = RedisStore.connect(host="127.0.0.1", port=closed_port(), db=DB, recheck=60)
    budget = store.budget_for(base_url, KEY, 2, 10.0)

    async def book_three() -> list[Any]:
        bookings = [await budget.abook(ROUTE) for _ in range(3)]
        for booking in bookings:
            await budget.asettle(booking)
        return bookings

    paces_locally(asyncio.run(book_three()), 10.0)
    assert len(budget_warnings(caplog)) == 1


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung store)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield int(server.getsockname()[1])


@needs_redis
@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_store_that_does_not_answer_costs_one_timeout(base_url, silent_server, caplog, face):
    caplog.set_level(logging.WARNING)
    store = RedisStore.connect(host="127.0.0.1", port=silent_server, db=DB, timeout=0.3, recheck=60)
    budget = store.budget_for(base_url, KEY, 2, 10.0)

    def book() -> Any:
        if face == "sync":
            return budget.book(ROUTE)
        return asyncio.run(budget.abook(ROUTE))

    started = time.monotonic()
    first = book()
    assert 0.25 < time.monotonic() - started < 1.5
    started = time.monotonic()
    paces_locally([first, book(), book()], 10.0)
    assert time.monotonic() - started < 0.2  # within the re-check interval, the store is not asked
    assert len(budget_warnings(caplog)) == 1


@pytest.fixture
def own_redis(tmp_path) -> Iterator[tuple[int, Any]]:
    """A redis-server of the test's own; ``(port, restart)`` where ``restart(up)`` stops or starts it."""
    port = closed_port()
    servers: list[subprocess.Popen[bytes]] = []

    def switch(up: bool) -> None:
        if not up:
            servers[-1].terminate()
            servers[-1].wait(10)
            return
        servers.append(
            subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 10
        while not _redis_answers(port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    switch(True)
    yield port, switch
    for server in servers:
        if server.poll() is None:
            server.terminate()
            server.wait(10)


@needs_redis
def test_the_store_is_used_again_once_it_answers(base_url, own_redis, caplog):
    caplog.set_level(logging.WARNING)
    port, switch = own_redis
    store = RedisStore.connect(host="127.0.0.1", port=port, recheck=0.3)
    budget: Budget = store.budget_for(base_url, KEY, 5, 1.0)
    assert budget.book(ROUTE).token is not None
    switch(False)
    assert budget.book(ROUTE).token is None
    assert budget.book(ROUTE).token is None  # within the re-check interval
    switch(True)
    assert budget.book(ROUTE).token is None  # still within it
    time.sleep(0.35)
    back = budget.book(ROUTE)
    assert back.token is not None
    assert back.wait == 0.0  # the restarted store is empty
    messages = budget_warnings(caplog)
    assert len(messages) == 2, messages
    assert "cannot be reached" in messages[0] and "answers again" in messages[1]


def test_a_host_budget_that_cannot_be_written_warns_once_and_paces_per_process(base_url, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    budget = HostStore(blocker / "budget.sqlite3", recheck=60).budget_for(base_url, KEY, 2, 10.0)
    bookings = [budget.book(ROUTE) for _ in range(3)]
    for booking in bookings:
        budget.settle(booking)
    paces_locally(bookings, 10.0)

    async def one_more() -> Any:
        return await budget.abook(ROUTE)

    assert asyncio.run(one_more()).token is None
    warned = budget_warnings(caplog)
    assert len(warned) == 1 and "cannot be reached" in warned[0] and "a-file" in warned[0], warned


def test_the_host_budget_is_private_to_its_user(tmp_path, base_url):
    path = tmp_path / "private" / "budget.sqlite3"
    store = HostStore(path)
    assert store.budget_for(base_url, KEY, 2, 1.0).book(ROUTE).token is not None
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert KEY.encode() not in path.read_bytes()


def test_a_host_budget_folder_others_can_read_is_not_used(tmp_path, base_url, caplog):
    caplog.set_level(logging.WARNING)
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    budget = HostStore(folder / "budget.sqlite3").budget_for(base_url, KEY, 2, 10.0)
    paces_locally([budget.book(ROUTE) for _ in range(3)], 10.0)
    assert not (folder / "budget.sqlite3").exists()
    warned = budget_warnings(caplog)
    assert len(warned) == 1 and "is not private to this user" in warned[0], warned
