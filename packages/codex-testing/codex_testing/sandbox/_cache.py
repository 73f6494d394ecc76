"""A small thread-safe LRU cache bounded by a total weight (usually bytes).

Synthetic data is a pure function of the config, so anything generated can be
dropped and regenerated at will; the cache only saves time. Generation runs
outside the lock: two threads may build the same value at once, which wastes
a little work but yields identical results.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """Least-recently-used cache whose entries' weights sum to at most ``max_weight``."""

    def __init__(self, max_weight: int, weigh: Callable[[V], int]) -> None:
        self._max_weight = max_weight
        self._weigh = weigh
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get_or_create(self, key: K, factory: Callable[[], V]) -> V:
        """Return the cached value of ``key``, building it with ``factory`` on a miss."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0]
        value = factory()
        weight = max(1, self._weigh(value))
        with self._lock:
            if key not in self._items and weight <= self._max_weight:
                self._items[key] = (value, weight)
                self._weight += weight
                while self._weight > self._max_weight:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self._weight -= dropped
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0
