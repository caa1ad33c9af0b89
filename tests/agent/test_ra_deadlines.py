"""Per-attempt deadlines on one shared timer: each fires on time, in or out of order, and a
cancellation by someone else is never taken for a timeout."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from ra_support import BASE_URL, echo_handler

from reference_agent import ImprovedAgent, LLMTimeoutError, Task, TaskStatus
from reference_agent.deadlines import Deadlines


async def sleeper(deadlines: Deadlines, delay: float, limit: float) -> tuple[str, float]:
    """Sleep ``delay`` under a ``limit`` deadline: ("done"|"expired", when it ended)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    expiry = deadlines.arm(task, limit)
    try:
        await asyncio.sleep(delay)
        return "done", loop.time()
    except asyncio.CancelledError:
        if expiry.fired and expiry.undo() == 0:
            return "expired", loop.time()
        raise
    finally:
        deadlines.disarm(expiry)


@pytest.mark.asyncio
async def test_deadlines_fire_on_time_in_and_out_of_order() -> None:
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    start = loop.time()
    jobs = [  # (sleep, limit); the margins are wide: a loop stall must not flip one
        (0.6, 0.05),  # expires at 0.05
        (0.0, 0.25),  # done long before its deadline
        (0.6, 0.3),  # expires at 0.3, after a deadline that was disarmed
        (0.6, 0.02),  # out of order: a timer of its own, expires at 0.02
        (0.0, 0.45),  # done
    ]
    results = await asyncio.gather(*(sleeper(deadlines, d, lim) for d, lim in jobs))
    outcomes = [r[0] for r in results]
    assert outcomes == ["expired", "done", "expired", "expired", "done"]
    for (delay, limit), (outcome, ended) in zip(jobs, results, strict=True):
        due = start + (limit if outcome == "expired" else delay)
        assert ended >= due - 1e-3  # never early (late only by the loop's own delay)
    assert len(deadlines) == 0
    deadlines.close()


@pytest.mark.asyncio
async def test_disarmed_deadlines_leave_the_queue_and_never_fire() -> None:
    deadlines = Deadlines()
    results = await asyncio.gather(*(sleeper(deadlines, 0.001, 0.05) for _ in range(200)))
    assert {r[0] for r in results} == {"done"}
    assert len(deadlines) == 0
    await asyncio.sleep(0.08)  # the shared timer wakes for a deadline gone by: no effect
    assert asyncio.current_task() is not None
    assert not asyncio.current_task().cancelling()  # type: ignore[union-attr]
    deadlines.close()


def hang_then(respond: Any) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        if b"hang" in request.content:
            await asyncio.Event().wait()
        return respond(request)  # type: ignore[no-any-return]

    return httpx.MockTransport(handler)


@pytest.mark.asyncio
async def test_many_attempts_time_out_together_and_the_rest_complete() -> None:
    agent = ImprovedAgent(
        base_url=BASE_URL,
        transport=hang_then(echo_handler),
        request_timeout=0.05,
        retry_attempts=1,
        concurrency=50,
        resource_sample_interval=None,
    )
    async with agent:
        prompts = [("hang" if i % 2 else "ok") + str(i) for i in range(100)]
        results = await asyncio.gather(*(agent.run(p) for p in prompts))
    for prompt, result in zip(prompts, results, strict=True):
        if prompt.startswith("hang"):
            assert isinstance(result.error, LLMTimeoutError), result
            assert "attempt timeout" in str(result.error)
        else:
            assert result.value == f"echo:{prompt}"
    assert len(agent.llm._deadlines) == 0


@pytest.mark.asyncio
async def test_a_task_timeout_inside_an_attempt_is_not_an_attempt_timeout() -> None:
    agent = ImprovedAgent(
        base_url=BASE_URL,
        transport=hang_then(echo_handler),
        request_timeout=10.0,
        resource_sample_interval=None,
    )
    async with agent:
        timed_out = await agent.run(Task("hang", timeout=0.02))
        handle = await agent.submit("hang-cancelled")
        await asyncio.sleep(0.01)
        handle.cancel()
        cancelled = await handle
        after = await agent.run("ok")
    assert timed_out.status is TaskStatus.TIMED_OUT
    assert cancelled.status is TaskStatus.CANCELLED
    assert after.value == "echo:ok"
    assert agent.statistics().retries == 0  # no cancellation was retried as a timeout
