"""A dict with a size: the least recently used entry leaves when a new one would pass it.

The fetcher's per-host state (limiters, warm-up marks, cookies) lives in these, so a
daemon that meets thousands of thumbnail hosts over months keeps a bounded memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``size`` entries; ``on_evict(key, value)`` is told of each one that leaves."""

    def __init__(self, size: int, on_evict: Callable[[K, V], None] | None = None) -> None:
        if size < 1:
            raise ValueError("an LRU cache holds at least one entry")
        self.size = size
        self.on_evict = on_evict
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            old_key, old_value = self._items.popitem(last=False)
            if self.on_evict is not None:
                self.on_evict(old_key, old_value)

    def setdefault(self, key: K, value: V) -> V:
        found = self.get(key)
        if found is not None:
            return found
        self[key] = value
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
