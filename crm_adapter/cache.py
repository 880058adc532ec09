"""A small TTL cache with an LRU bound, on an injected monotonic clock.

Callers who ring twice in a minute (dropped calls, "press 0" loops) are common, and
their second lookup should not cost the CRM anything. Entries expire after `ttl_s`;
beyond `max_size` the least recently used goes. `ttl_s == 0` turns it off.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["TtlCache"]

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(
        self, ttl_s: float, max_size: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl_s < 0 or max_size < 0:
            raise ValueError("ttl_s and max_size cannot be negative")
        self.ttl_s = ttl_s
        self.max_size = max_size
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0 and self.max_size > 0

    def get(self, key: Hashable) -> tuple[bool, V | None]:
        """`(True, value)` for a fresh entry, `(False, None)` otherwise."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, value

    def put(self, key: Hashable, value: V) -> None:
        if not self.enabled:
            return
        self._entries[key] = (self._clock() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def invalidate(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
