"""TTL cache with single-flight."""

from __future__ import annotations

import asyncio

import pytest
from ra_support import FakeClock

from reference_agent import MemoryCacheBackend, SingleFlightCache


class Loader:
    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> str:
        self.calls += 1
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return f"value-{self.calls}"


def cache(clock: FakeClock | None = None, size: int = 100) -> SingleFlightCache[str]:
    return SingleFlightCache(MemoryCacheBackend(size, 10.0, clock=clock or FakeClock()))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_50_concurrent_misses_make_one_upstream_call() -> None:
    c = cache()
    load = Loader()
    tasks = [asyncio.ensure_future(c.get_or_load("k", load)) for _ in range(50)]
    await settle()
    load.gate.set()
    values = await asyncio.gather(*tasks)
    assert load.calls == 1
    assert values == ["value-1"] * 50
    assert (c.hits, c.misses, c.coalesced) == (0, 1, 49)
    assert await c.get_or_load("k", load) == "value-1"
    assert c.hits == 1


@pytest.mark.asyncio
async def test_a_cancelled_waiter_does_not_cancel_the_leader() -> None:
    c = cache()
    load = Loader()
    leader = asyncio.ensure_future(c.get_or_load("k", load))
    waiters = [asyncio.ensure_future(c.get_or_load("k", load)) for _ in range(3)]
    await settle()
    waiters[0].cancel()
    await settle()
    load.gate.set()
    assert await leader == "value-1"
    assert await asyncio.gather(*waiters[1:]) == ["value-1", "value-1"]
    assert waiters[0].cancelled()
    assert load.calls == 1


@pytest.mark.asyncio
async def test_a_cancelled_leader_hands_over_to_a_waiter() -> None:
    c = cache()
    load = Loader()
    leader = asyncio.ensure_future(c.get_or_load("k", load))
    waiter = asyncio.ensure_future(c.get_or_load("k", load))
    await settle()
    leader.cancel()
    await settle()
    load.gate.set()
    assert await waiter == "value-2"  # the waiter loaded it itself
    assert leader.cancelled()
    assert c.in_flight == 0


@pytest.mark.asyncio
async def test_errors_are_shared_by_the_flight_but_not_cached() -> None:
    c = cache()
    load = Loader()
    load.fail = RuntimeError("upstream down")
    tasks = [asyncio.ensure_future(c.get_or_load("k", load)) for _ in range(5)]
    await settle()
    load.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert load.calls == 1
    load.fail = None
    assert await c.get_or_load("k", load) == "value-2"


@pytest.mark.asyncio
async def test_entries_expire_after_ttl_on_the_injected_clock() -> None:
    clock = FakeClock()
    c = cache(clock)
    load = Loader()
    load.gate.set()
    assert await c.get_or_load("k", load) == "value-1"
    clock.advance(9.9)
    assert await c.get_or_load("k", load) == "value-1"
    clock.advance(0.2)
    assert await c.get_or_load("k", load) == "value-2"


@pytest.mark.asyncio
async def test_size_is_bounded() -> None:
    backend: MemoryCacheBackend[str] = MemoryCacheBackend(3, 10.0, clock=FakeClock())
    c = SingleFlightCache(backend)
    load = Loader()
    load.gate.set()
    for key in range(10):
        await c.get_or_load(key, load)
    assert len(backend) == 3


@pytest.mark.asyncio
async def test_a_hit_makes_an_entry_the_most_recently_used() -> None:
    backend: MemoryCacheBackend[str] = MemoryCacheBackend(2, 10.0, clock=FakeClock())
    await backend.set("a", "A")
    await backend.set("b", "B")
    assert await backend.get("a") == "A"  # "b" is now the least recently used
    await backend.set("c", "C")
    assert [await backend.get(k) for k in ("a", "b", "c")] == ["A", None, "C"]


def test_a_memory_backend_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError, match="max_size"):
        MemoryCacheBackend(0, 10.0)
