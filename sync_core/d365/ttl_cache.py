"""A bounded cache whose entries expire: F&O lookups kept per process.

A Functions instance keeps its F&O client for its lifetime (sync_core/instance.py), so what hangs off the
client lives as long: without expiry a customer renamed in F&O would never be seen by that instance, and
without a bound the cache would grow with the tenant. Local cycles open a client per cycle, so there the
cache lasts a cycle, as before."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

# F&O names and parties change rarely; an instance sees a change within this long.
LOOKUP_SECONDS = 600.0
MAX_ENTRIES = 100_000


class TtlCache(Generic[K, V]):
    def __init__(
        self,
        ttl_seconds: float = LOOKUP_SECONDS,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl, self._max, self._clock = ttl_seconds, max_entries, clock
        self._entries: dict[K, tuple[float, V]] = {}

    def _live(self, key: K) -> tuple[float, V] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry

    def __contains__(self, key: K) -> bool:
        return self._live(key) is not None

    def __getitem__(self, key: K) -> V:
        entry = self._live(key)
        if entry is None:
            raise KeyError(key)
        return entry[1]

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        entry = self._live(key)
        return default if entry is None else entry[1]

    def __setitem__(self, key: K, value: V) -> None:
        self._entries.pop(key, None)  # re-inserted last: the oldest entries go first
        self._entries[key] = (self._clock() + self._ttl, value)
        while len(self._entries) > self._max:
            del self._entries[next(iter(self._entries))]

    def setdefault(self, key: K, value: V) -> V:
        entry = self._live(key)
        if entry is not None:
            return entry[1]
        self[key] = value
        return value

    def update(self, values: Mapping[K, V]) -> None:
        for key, value in values.items():
            self[key] = value

    def __len__(self) -> int:
        return len(self._entries)
