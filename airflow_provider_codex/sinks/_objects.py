"""Objects under an ``ObjectStoragePath`` replaced whole: written aside, then moved into place.

The storage sink's partitions and the log-file archive both replace a folder's
contents so that readers see the old objects or the new ones: every object is
written to a temporary name in its final folder first (``_tmp-…``: a leading
underscore makes readers skip it), and only when all are written moved into
place. A single object move is atomic on a file system and on object stores.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, cast

from airflow.sdk import ObjectStoragePath

_PATH_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def path_value(value: str, what: str) -> str:
    """A value that becomes a path segment: refuse anything that could escape its folder."""
    if not isinstance(value, str) or _PATH_VALUE.fullmatch(value) is None or ".." in value:
        raise ValueError(f"invalid {what} {value!r} for a storage path: letters, digits, '.', '_', '-'")
    return value


def hidden(name: str) -> bool:
    """Whether readers skip ``name`` (temporary objects, manifests)."""
    return name.startswith(("_", "."))


def open_for_write(path: ObjectStoragePath) -> IO[bytes]:
    return cast("IO[bytes]", path.open("wb"))  # type: ignore[no-untyped-call]


def remove_stale(folder: ObjectStoragePath, keep: set[str]) -> int:
    """Remove the visible objects of ``folder`` not in ``keep``; temporary ones are left alone
    (they may belong to a concurrent load; readers skip them)."""
    removed = 0
    for path in folder.iterdir():
        if path.name in keep or hidden(path.name) or not path.is_file():
            continue
        path.unlink()
        removed += 1
    return removed


class Replacement:
    """The objects of one replace: each written to a temporary twin, all moved into place at the end."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.pending: list[tuple[ObjectStoragePath, ObjectStoragePath]] = []

    def temporary(self, final: ObjectStoragePath) -> ObjectStoragePath:
        """Where ``final`` is written first; :meth:`commit` moves it into place."""
        aside = final.parent / f"_tmp-{self.token}-{final.name}"
        self.pending.append((aside, final))
        return aside

    def commit(self) -> Iterator[ObjectStoragePath]:
        """Move every object into place, in the order written; yields each final path once it is there."""
        while self.pending:
            aside, final = self.pending[0]
            aside.fs.mv(aside.path, final.path)  # a rename, or a copy then delete on object stores
            self.pending.pop(0)
            yield final


@contextmanager
def replacing(token: str) -> Iterator[Replacement]:
    """A :class:`Replacement`; whatever it has not moved into place when the block ends is removed."""
    replacement = Replacement(token)
    try:
        yield replacement
    finally:
        for aside, _ in replacement.pending:
            with suppress(Exception):
                aside.unlink()
