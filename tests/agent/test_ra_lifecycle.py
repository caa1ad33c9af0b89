"""Lifecycle, timeouts, cancellation and graceful shutdown of the BaseAgent core."""

from __future__ import annotations

import asyncio
import contextvars
import random
from typing import Any

import pytest
from ra_support import GatedAgent

from reference_agent import (
    AgentState,
    AgentStateError,
    BaseAgent,
    Task,
    TaskCancelledError,
    TaskHandle,
    TaskStatus,
    TaskTimeoutError,
)


class Minimal(BaseAgent):
    async def process_task(self, task: Task) -> Any:
        return task.payload * 2


@pytest.mark.asyncio
async def test_a_subclass_with_only_process_task_works_with_no_arguments() -> None:
    async with Minimal() as agent:
        result = await agent.run(21)
        assert result.ok
        assert result.value == 42
        timings = result.timings
        assert timings is not None
        assert timings.queued <= timings.started <= timings.finished  # type: ignore[operator]
        assert agent.health_check().status == "ok"
        assert "running" in repr(agent)
    assert agent.state is AgentState.STOPPED
    assert "stopped" in repr(agent)


@pytest.mark.asyncio
async def test_submit_before_start_and_after_stop_raise_clear_errors() -> None:
    agent = Minimal()
    with pytest.raises(
        AgentStateError, match=r"Cannot submit a task: Minimal has not been started"
    ):
        await agent.submit(1)
    await agent.start()
    await agent.stop()
    with pytest.raises(
        AgentStateError, match=r"^Cannot submit a task: Minimal has been stopped\.$"
    ):
        await agent.submit(1)
    with pytest.raises(AgentStateError, match="does not restart"):
        await agent.start()


@pytest.mark.asyncio
async def test_stop_twice_and_concurrently_is_safe() -> None:
    agent = GatedAgent(concurrency=2)
    await agent.start()
    handle = await agent.submit("x")
    first = asyncio.ensure_future(agent.stop())
    second = asyncio.ensure_future(agent.stop())
    await asyncio.sleep(0)
    agent.gate.set()
    await asyncio.gather(first, second)
    await agent.stop()
    assert (await handle).ok
    assert agent.state is AgentState.STOPPED


def state_of(agent: BaseAgent) -> AgentState:
    """The state, read through a call (so type checkers do not narrow it)."""
    return agent.state


@pytest.mark.asyncio
async def test_a_cancelled_stop_caller_does_not_abort_the_shutdown() -> None:
    class Closing(GatedAgent):
        closed = 0

        async def on_stop(self) -> None:
            self.closed += 1

    agent = Closing(concurrency=1)
    await agent.start()
    handle = await agent.submit("x")
    await asyncio.sleep(0)  # the worker holds "x"
    first = asyncio.ensure_future(agent.stop())
    await asyncio.sleep(0)  # the shutdown began and waits for the drain
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert state_of(agent) is AgentState.STOPPING  # the shutdown goes on
    assert agent.in_flight == 1
    later = asyncio.ensure_future(agent.stop())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not later.done()  # it waits for the same shutdown, it does not return at once
    agent.gate.set()
    await later
    assert state_of(agent) is AgentState.STOPPED
    assert agent.closed == 1  # on_stop ran, once
    assert (await handle).ok  # drained, not cancelled
    await agent.stop()
    assert agent.closed == 1


@pytest.mark.asyncio
async def test_stop_of_an_agent_never_started_is_final() -> None:
    agent = GatedAgent()
    await agent.stop()
    await agent.stop()
    assert state_of(agent) is AgentState.STOPPED
    with pytest.raises(AgentStateError, match="does not restart"):
        await agent.start()


@pytest.mark.asyncio
async def test_timeout_cancels_the_work_and_leaves_no_task_behind() -> None:
    before = asyncio.all_tasks()
    agent = GatedAgent(concurrency=2, task_timeout=0.01)
    async with agent:
        results = await asyncio.gather(*[agent.run(i) for i in range(4)])
        assert agent.in_flight == 0
    assert [r.status for r in results] == [TaskStatus.TIMED_OUT] * 4
    assert all(isinstance(r.error, TaskTimeoutError) for r in results)
    assert "timed out after 0.01s" in str(results[0].error)
    assert agent.cancelled == 4  # the work saw its cancellation
    assert asyncio.all_tasks() - before == set()


@pytest.mark.asyncio
async def test_task_timeout_overrides_the_default() -> None:
    agent = GatedAgent(concurrency=1, task_timeout=None)
    async with agent:
        result = await agent.run(Task("slow", timeout=0.01))
    assert result.status is TaskStatus.TIMED_OUT


@pytest.mark.asyncio
async def test_handle_cancel_pending_and_running_tasks() -> None:
    agent = GatedAgent(concurrency=1)
    async with agent:
        running = await agent.submit("running")
        queued = await agent.submit("queued")
        await asyncio.sleep(0)
        assert queued.cancel()
        assert queued.done()
        assert running.cancel()
        assert (await running).status is TaskStatus.CANCELLED
        assert isinstance((await queued).error, TaskCancelledError)
        assert not running.cancel()  # already final
        stats = agent.statistics()
    assert agent.order == ["running"]
    assert (stats.cancelled, stats.queue_depth, stats.in_flight) == (2, 0, 0)


@pytest.mark.asyncio
async def test_awaiting_a_handle_can_be_cancelled_without_cancelling_the_task() -> None:
    agent = GatedAgent(concurrency=1)
    async with agent:
        handle = await agent.submit("x")
        waiter = asyncio.ensure_future(asyncio.wait_for(handle, 0.001))
        with pytest.raises(TimeoutError):
            await waiter
        agent.gate.set()
        assert (await handle).ok


@pytest.mark.asyncio
async def test_failures_are_reported_not_raised() -> None:
    class Failing(BaseAgent):
        async def process_task(self, task: Task) -> Any:
            raise KeyError(task.payload)

    async with Failing(resource_sample_interval=None) as agent:
        result = await agent.run("k")
    assert result.status is TaskStatus.FAILED
    assert isinstance(result.error, KeyError)
    assert agent.statistics().failed == 1


def _reconciles(agent: BaseAgent, handles: list[TaskHandle]) -> None:
    stats = agent.statistics()
    finals = [h.result().status for h in handles]
    assert all(status.is_final for status in finals)
    assert stats.submitted == len(handles)
    assert stats.accepted + stats.rejected == stats.submitted
    assert stats.queue_depth == 0
    assert stats.in_flight == 0
    total = stats.completed + stats.failed + stats.cancelled + stats.timed_out
    assert total == stats.accepted
    assert finals.count(TaskStatus.COMPLETED) == stats.completed
    assert finals.count(TaskStatus.CANCELLED) == stats.cancelled


class Steps(BaseAgent):
    """Each task takes ``payload`` event-loop steps (no real time)."""

    async def process_task(self, task: Task) -> Any:
        for _ in range(task.payload):
            await asyncio.sleep(0)
        if task.payload == 7:
            raise RuntimeError("seven")
        return task.payload


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", range(25))
async def test_shutdown_at_random_points_loses_nothing(seed: int) -> None:
    rng = random.Random(seed)
    before = asyncio.all_tasks()
    agent = Steps(
        concurrency=rng.randint(1, 8),
        max_pending=rng.randint(1, 40),
        admission_timeout=rng.choice([0, None]),
        resource_sample_interval=None,
    )
    await agent.start()
    handles: list[TaskHandle] = []

    async def producer() -> None:
        for _ in range(rng.randint(0, 60)):
            task = Task(rng.randint(0, 10), priority=rng.randint(0, 2))
            try:
                handles.append(await agent.submit(task))
            except AgentStateError:
                return

    producing = asyncio.ensure_future(producer())
    for _ in range(rng.randint(0, 40)):
        await asyncio.sleep(0)
    if rng.random() < 0.3 and handles:
        rng.choice(handles).cancel()
    await agent.stop(drain=rng.random() < 0.5, timeout=rng.choice([0, None]))
    await producing
    _reconciles(agent, handles)
    assert asyncio.all_tasks() - before == set()


@pytest.mark.asyncio
async def test_drain_lets_everything_finish() -> None:
    agent = Steps(concurrency=2, resource_sample_interval=None)
    await agent.start()
    handles = [await agent.submit(i % 5) for i in range(50)]
    await agent.stop(drain=True)
    assert [h.result().value for h in handles] == [i % 5 for i in range(50)]


@pytest.mark.asyncio
async def test_stop_without_drain_cancels_queued_and_running() -> None:
    agent = GatedAgent(concurrency=2)
    await agent.start()
    handles = [await agent.submit(i) for i in range(6)]
    await asyncio.sleep(0)
    await agent.stop(drain=False)
    statuses = [h.result().status for h in handles]
    assert statuses == [TaskStatus.CANCELLED] * 6
    assert agent.cancelled == 2  # the two running tasks saw their cancellation
    assert "while it ran" in str(handles[0].result().error)
    assert "before it started" in str(handles[5].result().error)


class Swallower(BaseAgent):
    """process_task swallows the first ``swallow`` cancellations it gets; after the last
    one it either returns ``"late"`` (``then_return``) or waits to be cancelled again."""

    def __init__(self, swallow: int, then_return: bool, **overrides: Any) -> None:
        super().__init__(concurrency=2, resource_sample_interval=None, **overrides)
        self.swallow = swallow
        self.then_return = then_return
        self.swallowed = 0
        self.running = 0
        self.both_running = asyncio.Event()

    async def process_task(self, task: Task) -> Any:
        self.running += 1
        if self.running == 2:
            self.both_running.set()
        mine = 0
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if mine >= self.swallow:
                    raise
                mine += 1
                self.swallowed += 1
                if mine == self.swallow and self.then_return:
                    return f"late {task.payload}"


async def _stop_swallower(agent: Swallower) -> tuple[TaskHandle, TaskHandle]:
    await agent.start()
    first, second = await agent.submit("x"), await agent.submit("y")
    await agent.both_running.wait()
    async with asyncio.timeout(30):  # a hang guard only
        await agent.stop(drain=False)
    return first, second


@pytest.mark.asyncio
@pytest.mark.parametrize("swallow", [1, 3])
async def test_stop_cancels_a_stubborn_worker_again_until_it_ends(
    swallow: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 16 item 10: stop() used to return after one grace period, leaving the worker
    # running user code and then waiting on the queue forever.
    before = asyncio.all_tasks()
    agent = Swallower(swallow, then_return=False, cancel_grace=0.01)
    with caplog.at_level("WARNING", logger="reference_agent"):
        first, second = await _stop_swallower(agent)
    stats = agent.statistics()
    assert stats.workers_alive == 0
    assert asyncio.all_tasks() - before == set()
    assert first.result().status is TaskStatus.CANCELLED
    assert second.result().status is TaskStatus.CANCELLED
    assert (stats.cancelled, stats.completed, stats.in_flight) == (2, 0, 0)
    assert agent.swallowed == 2 * swallow  # both workers, every cancellation it swallowed
    refusals = [m for r in caplog.records if "swallowed the cancellation" in (m := r.getMessage())]
    assert len(refusals) == swallow
    assert "Swallower-worker-0" in refusals[0]
    assert "Swallower-worker-1" in refusals[0]


@pytest.mark.asyncio
async def test_a_worker_that_swallows_cancellation_and_returns_ends_all_the_same() -> None:
    before = asyncio.all_tasks()
    agent = Swallower(1, then_return=True, cancel_grace=5.0)
    async with asyncio.timeout(4):  # less than the grace: it is not waited out
        first, second = await _stop_swallower(agent)
    assert agent.statistics().workers_alive == 0
    assert asyncio.all_tasks() - before == set()
    # It did finish its work: one final status each, and the counts reconcile.
    assert (first.result().value, second.result().value) == ("late x", "late y")
    stats = agent.statistics()
    assert (stats.completed, stats.cancelled, stats.accepted) == (2, 0, 2)


@pytest.mark.asyncio
async def test_a_cancelled_task_stays_cancelled_when_its_work_finishes_late() -> None:
    release = asyncio.Event()

    class Late(BaseAgent):
        async def process_task(self, task: Task) -> Any:
            while not release.is_set():  # swallows every cancellation until released
                try:
                    await release.wait()
                except asyncio.CancelledError:
                    continue
            return "late"

    agent = Late(concurrency=1, resource_sample_interval=None, cancel_grace=0.01)
    await agent.start()
    handle = await agent.submit("x")
    await asyncio.sleep(0)
    stopping = asyncio.ensure_future(agent.stop(drain=False))
    async with asyncio.timeout(30):
        while not handle.done():
            await asyncio.sleep(0.01)
    assert handle.result().status is TaskStatus.CANCELLED  # marked after the grace
    assert not stopping.done()  # but stop() waits for the worker
    release.set()
    async with asyncio.timeout(30):
        await stopping
    assert handle.result().status is TaskStatus.CANCELLED  # one final status, never two
    assert agent.statistics().completed == 0
    assert agent.statistics().workers_alive == 0


@pytest.mark.asyncio
async def test_statistics_snapshot_and_first_token_mark() -> None:
    class Streams(BaseAgent):
        async def process_task(self, task: Task) -> Any:
            self.mark_first_token()
            self.mark_first_token(0.0)  # the first mark wins
            return None

    async with Streams(resource_sample_interval=0.5) as agent:
        result = await agent.run("x")
        stats = agent.statistics()
    assert result.timings is not None
    assert result.timings.ttft is not None
    assert result.timings.ttft >= 0
    assert stats.completed == 1
    assert stats.service_time.count == 1
    assert stats.queue_wait.p99 is not None
    assert stats.rss_bytes is not None
    assert stats.rss_bytes > 0
    assert stats.counts["completed"] == 1
    assert stats.to_dict()["completed"] == 1
    with pytest.raises(AttributeError):
        stats.completed = 5  # type: ignore[misc]


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class Echo(BaseAgent):
    async def process_task(self, task: Task) -> Any:
        before = REQUEST_ID.get()
        REQUEST_ID.set(f"changed by {task.payload}")  # the task's own change stays its own
        await asyncio.sleep(0)
        return before


@pytest.mark.asyncio
async def test_each_task_runs_in_the_context_of_its_submitter() -> None:
    async with Echo(concurrency=2) as agent:  # workers started outside every request

        async def request(i: int) -> Any:
            REQUEST_ID.set(f"request {i}")
            return (await agent.run(i)).value

        seen = await asyncio.gather(*(asyncio.create_task(request(i)) for i in range(6)))
        assert seen == [f"request {i}" for i in range(6)]
        assert (await agent.run("plain")).value == "-"  # the worker's change was undone
    assert REQUEST_ID.get() == "-"
