"""LegacyAgent: serialised, a new connection per call, no retries; same contract."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from ra_support import BASE_URL, LoopbackLLM, echo_handler, reply

from reference_agent import LegacyAgent, LLMServerError, Task, TaskStatus


@pytest.mark.asyncio
async def test_legacy_never_runs_two_tasks_at_once() -> None:
    active = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        for _ in range(3):
            await asyncio.sleep(0)
        active -= 1
        return echo_handler(request)

    agent = LegacyAgent(
        transport=httpx.MockTransport(handler),
        base_url=BASE_URL,
        concurrency=8,
        resource_sample_interval=None,
    )
    async with agent:
        results = await asyncio.gather(*[agent.run(f"p{i}") for i in range(20)])
        assert not agent.is_busy
    assert [r.value for r in results] == [f"echo:p{i}" for i in range(20)]
    assert peak == 1


@pytest.mark.asyncio
async def test_legacy_opens_a_new_connection_per_call() -> None:
    async with LoopbackLLM() as server:
        agent = LegacyAgent(base_url=server.base_url, resource_sample_interval=None)
        async with agent:
            for i in range(5):
                assert (await agent.run(f"p{i}")).ok
    assert server.connections == 5


@pytest.mark.asyncio
async def test_legacy_does_not_retry_and_keeps_the_contract() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return reply(status=503)

    agent = LegacyAgent(
        transport=httpx.MockTransport(handler), base_url=BASE_URL, resource_sample_interval=None
    )
    await agent.start()
    failed = await agent.run("x")
    calls_for_x = calls
    handles = [await agent.submit(Task(i)) for i in range(5)]
    await agent.stop(drain=False)
    assert isinstance(failed.error, LLMServerError)
    assert calls_for_x == 1  # one call, no retry of the 503
    assert all(h.result().status.is_final for h in handles)
    stats = agent.statistics()
    assert stats.accepted == stats.completed + stats.failed + stats.cancelled + stats.timed_out
    assert failed.status is TaskStatus.FAILED
