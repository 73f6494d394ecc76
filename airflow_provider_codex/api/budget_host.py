"""The rate budget of every process of one host, in a SQLite file: nothing to install or run.

LocalExecutor runs each task in a process of its own on one machine; they share
a file system, and SQLite's ``BEGIN IMMEDIATE`` serializes a booking across
processes (a file lock), so the window of :class:`.SharedStore` needs no server.
Slots are scored in the host's wall clock (``time.time``), the one clock every
process of the host shares and that a reboot does not reset. The file holds
window names (digests) and slot ids only; it is not worth keeping, so writes
are not synced to disk.
"""

from __future__ import annotations

import getpass
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from airflow_provider_codex.api.budget import DEFAULT_RECHECK, Reply, SharedStore

#: Seconds a booking may wait for the file's lock. Longer than a network store's bound: nothing
#: but other processes' bookings (each well under a millisecond) can hold it, and a burst of
#: tasks starting together all open the file at once.
LOCK_TIMEOUT = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (name TEXT NOT NULL, token TEXT NOT NULL, at INTEGER NOT NULL,
                                  PRIMARY KEY (name, token)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS slots_by_time ON slots (name, at);
"""


def default_path() -> Path:
    """``<temp dir>/codex-rate-budget-<user>/budget.sqlite3``: one per user, so no one else's file is used."""
    return Path(tempfile.gettempdir()) / f"codex-rate-budget-{_user()}" / "budget.sqlite3"


def _user() -> str:
    """The user's name as a path part; its uid where it has none (containers run arbitrary uids)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return re.sub(r"[^\w.-]", "_", name)


def _private_folder(folder: Path) -> None:
    """Make ``folder`` (0700), or check it is this user's alone: another user could read or fill it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hasattr(os, "getuid"):
        found = folder.stat()
        if found.st_uid != os.getuid() or found.st_mode & 0o077:
            raise PermissionError(
                f"{folder} is not private to this user (owner uid {found.st_uid}, mode "
                f"{found.st_mode & 0o777:o}): remove it, or set the connection's rate_limit_backend"
            )


class HostStore(SharedStore):
    """The budgets of every process of this host that uses the same file.

    :param path: the SQLite file (default :func:`default_path`); its folder is made, private.
    """

    unreachable = (sqlite3.Error, OSError)

    def __init__(
        self,
        path: Path | None = None,
        *,
        timeout: float = LOCK_TIMEOUT,
        recheck: float = DEFAULT_RECHECK,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path or default_path()
        super().__init__(name=f"the file {self.path}", timeout=timeout, recheck=recheck)
        self._wall = clock
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (SQLite's are not shared between threads; a fork gets a new one)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            db = self._open()
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def _open(self) -> sqlite3.Connection:
        """A connection to the file, set up; processes opening it at once wait for each other.

        (Switching to WAL and creating the table can answer "database is locked" at once, without
        SQLite's busy wait, when a burst of tasks opens a new file together.)
        """
        _private_folder(self.path.parent)
        deadline = time.monotonic() + self.timeout
        while True:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=OFF")
                db.executescript(_SCHEMA)
                return db
            except sqlite3.OperationalError:
                db.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def _now_us(self) -> int:
        return round(self._wall() * 1_000_000)

    def _reserve(self, name: str, limit: int, period_us: int, token: str) -> Reply:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            now = self._now_us()
            db.execute("DELETE FROM slots WHERE name = ? AND at <= ?", (name, now - period_us))
            nth = db.execute(
                "SELECT at FROM slots WHERE name = ? ORDER BY at DESC LIMIT 1 OFFSET ?", (name, limit - 1)
            ).fetchone()
            at = now if nth is None else max(now, int(nth[0]) + period_us)
            db.execute("INSERT INTO slots (name, token, at) VALUES (?, ?, ?)", (name, token, at))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return (at - now, at)

    def _settle(self, name: str, period_us: int, token: str) -> None:
        self._db().execute(
            "INSERT INTO slots (name, token, at) VALUES (?, ?, ?) "
            "ON CONFLICT (name, token) DO UPDATE SET at = max(at, excluded.at)",
            (name, token, self._now_us()),
        )
