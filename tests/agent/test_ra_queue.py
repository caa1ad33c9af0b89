"""Priority queue ordering, bounded admission and the concurrency bound."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ra_support import GatedAgent

from reference_agent import Task, TaskRejectedError, TaskStatus


async def _processing_order(priorities: list[int]) -> list[int]:
    blocker = asyncio.Event()

    class Blocking(GatedAgent):
        async def process_task(self, task: Task) -> object:
            if task.payload == "first":
                await blocker.wait()
            return await super().process_task(task)

    agent = Blocking(concurrency=1)
    agent.gate.set()
    async with agent:
        first = await agent.submit("first")
        await asyncio.sleep(0)  # the only worker now holds "first"
        handles = [await agent.submit(Task(i, priority=p)) for i, p in enumerate(priorities)]
        blocker.set()
        await first
        for handle in handles:
            await handle
    return [payload for payload in agent.order if payload != "first"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-3, max_value=3), max_size=30))
def test_lower_priority_first_and_fifo_within_a_priority(priorities: list[int]) -> None:
    order = asyncio.run(_processing_order(priorities))
    expected = sorted(range(len(priorities)), key=lambda i: (priorities[i], i))
    assert order == expected


@pytest.mark.asyncio
async def test_concurrency_bound_is_never_exceeded() -> None:
    agent = GatedAgent(concurrency=3)
    async with agent:
        handles = [await agent.submit(i) for i in range(20)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert agent.in_flight == 3
        assert agent.statistics().in_flight == 3
        assert agent.statistics().queue_depth == 17
        agent.gate.set()
        results = [await h for h in handles]
    assert agent.peak == 3
    assert all(r.status is TaskStatus.COMPLETED for r in results)


@pytest.mark.asyncio
async def test_full_queue_rejects_explicitly_after_admission_timeout() -> None:
    agent = GatedAgent(concurrency=1, max_pending=2, admission_timeout=0)
    async with agent:
        running = await agent.submit("running")
        await asyncio.sleep(0)
        queued = [await agent.submit(i) for i in range(2)]
        rejected = await agent.submit("no room")
        assert rejected.done()
        result = await rejected
        assert result.status is TaskStatus.REJECTED
        assert isinstance(result.error, TaskRejectedError)
        assert "queue stayed full (max_pending=2)" in str(result.error)
        agent.gate.set()
        assert (await running).ok
        assert all([(await h).ok for h in queued])
        stats = agent.statistics()
    assert (stats.submitted, stats.accepted, stats.rejected, stats.completed) == (4, 3, 1, 3)


@pytest.mark.asyncio
async def test_submit_waits_for_room_and_is_admitted_when_room_frees() -> None:
    agent = GatedAgent(concurrency=1, max_pending=1, admission_timeout=None)
    async with agent:
        await agent.submit("running")
        await asyncio.sleep(0)
        await agent.submit("queued")
        waiter = asyncio.ensure_future(agent.submit("waiting"))
        for _ in range(3):
            await asyncio.sleep(0)
        assert not waiter.done()  # back-pressure: the caller waits
        agent.gate.set()
        handle = await waiter
        assert (await handle).value == "waiting"


@pytest.mark.asyncio
async def test_admission_waiters_are_rejected_when_stop_begins() -> None:
    agent = GatedAgent(concurrency=1, max_pending=1, admission_timeout=None)
    await agent.start()
    await agent.submit("running")
    await asyncio.sleep(0)
    await agent.submit("queued")
    waiter = asyncio.ensure_future(agent.submit("waiting"))
    await asyncio.sleep(0)
    await agent.stop(drain=False)
    result = await (await waiter)
    assert result.status is TaskStatus.REJECTED
    assert "began stopping" in str(result.error)


@pytest.mark.asyncio
async def test_a_caller_cancelled_while_waiting_for_room_leaves_counts_reconciled() -> None:
    agent = GatedAgent(concurrency=1, max_pending=1, admission_timeout=None)
    await agent.start()
    running = await agent.submit("running")
    await asyncio.sleep(0)
    queued = await agent.submit("queued")
    waiter = asyncio.ensure_future(agent.submit("waiting"))
    await asyncio.sleep(0)
    assert not waiter.done()  # waiting for room
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    stats = agent.statistics()
    assert (stats.submitted, stats.accepted, stats.rejected) == (3, 2, 1)
    agent.gate.set()
    await agent.stop()
    assert (await running).ok
    assert (await queued).ok
    stats = agent.statistics()
    assert stats.submitted == stats.accepted + stats.rejected
    assert stats.accepted == stats.completed + stats.failed + stats.cancelled + stats.timed_out
    assert (stats.completed, stats.queue_depth, stats.in_flight) == (2, 0, 0)
    assert agent.order == ["running", "queued"]  # the cancelled submission never ran
