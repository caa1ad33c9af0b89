"""Which targets are accepted, which are rejected, and what the messages say."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_agentperf.engine import targets
from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.engine.targets import adapt_target, first_token, judge_task_result
from pytest_agentperf.errors import TargetError
from reference_agent import BaseAgent, Task
from reference_agent.task import TaskStatus


async def handle(payload: Any) -> Any:
    return payload


def sync_handle(payload: Any) -> Any:
    return payload


class ProcessOnly:
    async def process_task(self, task: Any) -> Any:
        return task


class SyncProcess:
    def process_task(self, task: Any) -> Any:
        return task


class AsyncCallable:
    async def __call__(self, payload: Any) -> Any:
        return payload


def test_accepted_targets() -> None:
    assert adapt_target(handle).kind == "callable"
    assert adapt_target(ProcessOnly()).kind == "process_task"
    assert adapt_target(AsyncCallable()).kind == "callable"


@pytest.mark.asyncio
async def test_a_coroutine_object_is_rejected_with_a_hint() -> None:
    coro = handle(1)
    with pytest.raises(TargetError, match=r"coroutine object .*pass the function, not its call"):
        adapt_target(coro)
    # closed by the adapter: no "never awaited" warning (which would be an error here)
    assert coro.cr_frame is None  # type: ignore[attr-defined]


def test_a_sync_function_is_rejected() -> None:
    with pytest.raises(TargetError) as info:
        adapt_target(sync_handle)
    message = str(info.value)
    assert "sync_handle (a sync function)" in message
    assert "async def" in message
    assert "accepted targets are" in message


def test_a_class_is_rejected() -> None:
    with pytest.raises(TargetError, match=r"the class ProcessOnly, not an instance.*ProcessOnly\("):
        adapt_target(ProcessOnly)


def test_a_sync_process_task_is_rejected() -> None:
    with pytest.raises(TargetError, match=r"process_task is not async"):
        adapt_target(SyncProcess())


@pytest.mark.parametrize("thing", [42, "http://agent", None, [handle]])
def test_anything_else_is_rejected(thing: object) -> None:
    with pytest.raises(TargetError) as info:
        adapt_target(thing)
    assert f"an instance of {type(thing).__qualname__}" in str(info.value)
    assert "accepted targets are" in str(info.value)


def test_a_sync_lambda_is_rejected() -> None:
    with pytest.raises(TargetError, match=r"sync callable"):
        adapt_target(lambda p: handle(p))


@pytest.mark.asyncio
async def test_run_rejects_before_running_anything() -> None:
    perf = AgentPerf()
    with pytest.raises(TargetError):
        await perf.run(sync_handle, n=3)
    assert perf.results == []


def test_first_token_outside_a_run_does_nothing() -> None:
    context = contextvars.copy_context()
    assert context.run(first_token) is None  # no error
    assert targets._SLOT not in context  # and no first-token slot made up


@pytest.mark.asyncio
async def test_first_token_before_or_after_a_run_does_not_reach_its_results() -> None:
    first_token()  # outside any run: nothing to mark
    result = await AgentPerf().run(handle, n=5, concurrency=2, warmup=0)
    first_token()  # the run is over: its tasks' slots are gone with its workers
    assert result.ttft is None
    assert targets._SLOT.get(None) is None  # the run set slots in its workers' contexts only


# -- reference_agent-like agents (duck-typed: submit, run, statistics) ---------------------


@dataclass
class FakeTimings:
    queued: float
    first_token: float | None


@dataclass
class FakeResult:
    status: Any
    error: BaseException | None
    timings: FakeTimings


class Status:
    def __init__(self, name: str) -> None:
        self.name = name


class FakeAgent:
    """Completes even payloads, times out odd ones; reports a first token after 2 ms."""

    def __init__(self) -> None:
        self.ran = 0

    async def submit(self, task: Any) -> Any:  # pragma: no cover - not used by the engine
        raise NotImplementedError

    def statistics(self) -> dict[str, int]:
        return {"ran": self.ran}

    async def run(self, task: Any) -> FakeResult:
        self.ran += 1
        await asyncio.sleep(0)
        status, error = ("COMPLETED", None) if task % 2 == 0 else ("TIMED_OUT", None)
        return FakeResult(Status(status), error, FakeTimings(10.0, 10.002))


@pytest.mark.asyncio
async def test_an_agent_is_driven_through_run_and_judged_by_status() -> None:
    agent = FakeAgent()
    assert adapt_target(agent).kind == "agent"
    result = await AgentPerf().run(agent, n=20, concurrency=4, warmup=0)
    assert agent.ran == 20
    assert (result.completed, result.failed) == (10, 10)
    assert result.errors == {"TIMED_OUT": 10}
    assert result.ttft is not None
    assert result.ttft.count == 20
    assert result.ttft.p50 == pytest.approx(0.002, abs=1e-6)


async def streamer(payload: Any) -> AsyncIterator[int]:
    await asyncio.sleep(0.001)
    yield 1
    await asyncio.sleep(0.003)
    yield 2


@pytest.mark.asyncio
async def test_an_async_generator_is_a_stream_whose_first_item_is_ttft() -> None:
    result = await AgentPerf().run(streamer, n=20, concurrency=5, warmup=0)
    assert result.completed == 20
    assert result.ttft is not None
    assert result.ttft.count == 20
    assert result.ttft.p50 < result.latency.p50


@dataclass
class Judged:
    status: Any
    error: Any = None


def test_judging_task_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "_COMPLETED", [object()])  # as in a fresh process
    assert judge_task_result(Judged(None)) == "NONE"  # no status is not a success
    assert judge_task_result(object()) == "NONE"
    assert judge_task_result(Judged(TaskStatus.COMPLETED)) is None  # the enum: identity
    assert judge_task_result(Judged(Status("COMPLETED"))) is None  # duck-typed: by name
    assert judge_task_result(Judged("completed")) is None
    assert judge_task_result(Judged(TaskStatus.FAILED, ValueError("x"))) == "ValueError"
    assert judge_task_result(Judged(TaskStatus.TIMED_OUT)) == "TIMED_OUT"
    assert judge_task_result(Judged(Status("REJECTED"), "QueueFull")) == "QueueFull"


# -- the real reference_agent.BaseAgent ---------------------------------------------------


class EchoAgent(BaseAgent):
    async def process_task(self, task: Task) -> Any:
        await asyncio.sleep(0.001)
        self.mark_first_token()
        await asyncio.sleep(0.001)
        if task.payload == "bad":
            raise ValueError("bad payload")
        return task.payload


@pytest.mark.asyncio
async def test_a_base_agent_is_driven_through_its_public_api() -> None:
    async with EchoAgent(concurrency=4) as agent:
        result = await AgentPerf().run(agent, tasks=["a", "bad", "c", "d"], concurrency=4, warmup=0)
        assert agent.state.name == "RUNNING"  # left as it was given
    assert (result.completed, result.failed) == (3, 1)
    assert result.errors == {"ValueError": 1}
    assert result.ttft is not None
    assert result.ttft.count == 4
    assert result.ttft.p50 < result.latency.p50


@pytest.mark.asyncio
async def test_an_agent_never_started_is_started_and_stopped_for_the_run() -> None:
    agent = EchoAgent()
    result = await AgentPerf().run(agent, n=5, warmup=0)
    assert result.completed == 5
    assert agent.state.name == "STOPPED"
    with pytest.raises(TargetError, match=r"which is stopped: a stopped agent runs no tasks"):
        await AgentPerf().run(agent, n=5)


class SyncRunAgent(FakeAgent):
    def run(self, task: Any) -> int:  # type: ignore[override]  # the mistake under test
        return 42


@pytest.mark.asyncio
async def test_a_duck_typed_agent_whose_run_is_sync_is_rejected_up_front() -> None:
    agent = SyncRunAgent()
    with pytest.raises(TargetError) as info:
        await AgentPerf().run(agent, n=5)
    assert "it looks like an agent (submit, run, statistics) but its run is not async" in str(
        info.value
    )
    assert "make it 'async def run(self, task)'" in str(info.value)
    assert agent.ran == 0
