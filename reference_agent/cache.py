"""A TTL cache with single-flight loading.

- ``CacheBackend`` is the storage interface (async, so a Redis or disk backend fits);
  ``MemoryCacheBackend`` is the default: at most ``max_size`` entries, each kept ``ttl``
  seconds of an injectable clock, the least recently used evicted first.
- ``SingleFlightCache.get_or_load(key, loader)`` guarantees:
  * N concurrent misses for one key make one upstream call (one leader loads, the others
    wait for its result);
  * a cancelled waiter does not cancel the leader (waiters wait through a shield);
  * a cancelled leader does not strand its waiters: one of them takes over as leader;
  * errors are not cached: the leader's waiters share its error, the next call loads again;
  * ``hits``, ``misses`` (upstream loads) and ``coalesced`` (waiters) are counted.

Why not cachetools' ``@cached``: it is synchronous (no async loaders) and has no
single-flight. Why not its ``TTLCache`` for storage: on this path (a lookup and a store per
task) it cost ~7 us, the dict below ~2 us; TTL and size bound are all that is needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

__all__ = ["CacheBackend", "MemoryCacheBackend", "SingleFlightCache"]

V = TypeVar("V")


class CacheBackend(Protocol[V]):
    """Storage of a ``SingleFlightCache``. Values are never None (None means a miss)."""

    async def get(self, key: Hashable) -> V | None: ...

    async def set(self, key: Hashable, value: V) -> None: ...

    async def clear(self) -> None: ...


class MemoryCacheBackend(Generic[V]):
    """In-process storage: at most ``max_size`` entries, each kept ``ttl`` seconds of
    ``clock`` (default ``time.monotonic``); when full, the least recently used entry goes.
    An expired entry is never returned; it is dropped when met or evicted."""

    def __init__(
        self, max_size: int, ttl: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_size < 1:
            raise ValueError(f"MemoryCacheBackend max_size = {max_size!r}; expected >= 1")
        self.max_size = max_size
        self.ttl = ttl
        self._clock = clock
        self._data: dict[Hashable, tuple[V, float]] = {}  # insertion order = recency

    def get_now(self, key: Hashable) -> V | None:
        """``get`` without suspending."""
        data = self._data
        entry = data.get(key)
        if entry is None:
            return None
        del data[key]
        if entry[1] <= self._clock():
            return None
        data[key] = entry  # most recently used: last
        return entry[0]

    def set_now(self, key: Hashable, value: V) -> None:
        """``set`` without suspending."""
        data = self._data
        data.pop(key, None)
        data[key] = (value, self._clock() + self.ttl)
        if len(data) > self.max_size:
            del data[next(iter(data))]

    async def get(self, key: Hashable) -> V | None:
        return self.get_now(key)

    async def set(self, key: Hashable, value: V) -> None:
        self.set_now(key, value)

    async def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class _LeaderGone(Exception):
    """The leader was cancelled before loading: a waiter must take over."""


class SingleFlightCache(Generic[V]):
    """A cache in front of an async loader; see the module doc for its guarantees."""

    def __init__(self, backend: CacheBackend[V]) -> None:
        self.backend = backend
        self._memory = backend if isinstance(backend, MemoryCacheBackend) else None
        self._flights: dict[Hashable, asyncio.Future[V]] = {}
        self.hits = 0
        self.misses = 0
        self.coalesced = 0

    @property
    def in_flight(self) -> int:
        """Keys being loaded now."""
        return len(self._flights)

    async def get_or_load(self, key: Hashable, loader: Callable[[], Awaitable[V]]) -> V:
        """The cached value for ``key``, or the value of one shared ``loader()`` call."""
        joined = False
        while True:
            flight = self._flights.get(key)
            if flight is None:
                memory = self._memory  # in memory: looked up without suspending
                value = memory.get_now(key) if memory else await self.backend.get(key)
                if value is not None:
                    self.hits += 1
                    return value
                flight = self._flights.get(key)  # the backend may have suspended
            if flight is None:
                return await self._lead(key, loader)
            if not joined:
                joined = True
                self.coalesced += 1
            try:
                return await asyncio.shield(flight)
            except _LeaderGone:
                continue

    async def _lead(self, key: Hashable, loader: Callable[[], Awaitable[V]]) -> V:
        flight: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        self.misses += 1
        try:
            value = await loader()
            if self._memory is not None:
                self._memory.set_now(key, value)
            else:
                await self.backend.set(key, value)
        except asyncio.CancelledError:
            self._land(key, flight, _LeaderGone())
            raise
        except BaseException as exc:
            self._land(key, flight, exc)
            raise
        del self._flights[key]
        flight.set_result(value)
        return value

    def _land(self, key: Hashable, flight: asyncio.Future[V], exc: BaseException) -> None:
        del self._flights[key]
        flight.set_exception(exc)
        flight.exception()  # retrieved: no "never retrieved" warning when nobody waited

    async def clear(self) -> None:
        """Drop every stored entry (loads in flight go on)."""
        await self.backend.clear()
