"""``run(factory, processes=N)`` end to end: real worker processes (spawned), real merge.

Counts and behaviour only: what ran where, what was merged, what a failure looks like,
that nothing outlives the run. Each run spawns its workers (about a second to start).
"""

from __future__ import annotations

import ast
import asyncio
import functools
from pathlib import Path
from typing import Any

import psutil
import pytest

from pytest_agentperf import Faults, Fixed, MemoryTracker, MockLLM, WorkerContext
from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.engine.shares import LOST_SHARES
from pytest_agentperf.errors import LoadConfigError, TargetError, WorkerError
from pytest_agentperf.verdict.budgets import evaluate_budgets, parse_budget
from tests.engine import proc_targets as pt

CTX = WorkerContext(index=0, workers=1, mock=None, concurrency=8, rate=None, seed=0)


def failing_tasks(first: int, count: int) -> int:
    """How many of the run's tasks ``first .. first + count - 1`` fail (``i % 7 == 3``)."""
    return sum(1 for i in range(first, first + count) if i % 7 == 3)


@pytest.mark.asyncio
async def test_two_processes_run_the_tasks_of_one_and_merge_exactly(tmp_path: Path) -> None:
    perf = AgentPerf(seed=7)
    one = await perf.run(pt.failing_every_7th(CTX), n=701, concurrency=9, warmup=15)
    factory = functools.partial(pt.recording_context, str(tmp_path))
    two = await perf.run(factory, n=701, concurrency=9, warmup=15, processes=2)
    # the same measured tasks (indices 15 .. 715) as one process: same count, same errors
    assert one.total == two.total == 701
    assert one.failed == two.failed == failing_tasks(15, 701)
    assert two.errors == one.errors == {"Boom": two.failed}
    # the merged counts are the sum of the shares'
    shares = two.extra["shares"]
    assert [s["index"] for s in shares] == [0, 1]
    assert sum(s["completed"] for s in shares) == two.completed
    assert sum(s["failed"] for s in shares) == two.failed
    assert {s["completed"] + s["failed"] for s in shares} == {350, 351}
    assert [s["concurrency"] for s in shares] == [5, 4]
    assert two.concurrency == 9
    assert two.throughput == pytest.approx(sum(s["throughput"] for s in shares))
    assert len({s["pid"] for s in shares}) == 2
    assert all(s["cpu_seconds"] > 0 for s in shares)
    assert two.cpu_per_task is not None  # the workers' CPU over all their tasks
    assert two.cpu_per_task > 0
    # percentiles from every task's latency, pooled
    assert two.latency.count == 701
    assert two.latency.min <= two.latency.p50 <= two.latency.p99 <= two.latency.max
    assert two.extra["processes"] == two.extra["merged_from"] == 2
    assert LOST_SHARES not in two.extra
    assert perf.results == [one, two]
    # each worker's context: its index, its share, a seed of its own (worker 0 keeps the run's)
    contexts = [ast.literal_eval((tmp_path / f"context-{i}").read_text()) for i in (0, 1)]
    (i0, w0, c0, r0, seed0, no_mock0), (i1, w1, c1, r1, seed1, _) = contexts
    assert (i0, w0, c0, r0, seed0, no_mock0) == (0, 2, 5, None, 7, True)
    assert (i1, w1, c1, r1) == (1, 2, 4, None)
    assert seed1 != 7


@pytest.mark.asyncio
async def test_tasks_as_a_factory_or_a_list_are_split_by_index() -> None:
    perf = AgentPerf()
    by_factory = await perf.run(
        pt.failing_on_odd_square,
        tasks=pt.payload_square,
        n=300,
        concurrency=6,
        warmup=0,
        processes=3,
    )
    assert (by_factory.total, by_factory.failed) == (300, 150)  # the odd i give odd squares
    listed = await perf.run(
        pt.failing_on_odd_square, tasks=[1, 2, 4], n=300, concurrency=6, warmup=0, processes=2
    )
    assert (listed.total, listed.failed) == (300, 100)  # the list cycles: 1 in 3 is odd


@pytest.mark.asyncio
async def test_open_loop_splits_the_rate_into_streams_that_add_up() -> None:
    # (with a coroutine function as the factory)
    result = await AgentPerf().run(
        pt.async_factory, rate=200, duration=0.5, arrival="poisson", processes=2
    )
    assert result.mode == "open"
    assert result.offered_rate == pytest.approx(200)
    assert [s["rate"] for s in result.extra["shares"]] == [100, 100]
    assert result.total > 0


@pytest.mark.asyncio
async def test_factories_by_import_path_and_async_generator(tmp_path: Path) -> None:
    perf = AgentPerf()
    by_path = await perf.run(
        "tests.engine.proc_targets:failing_every_7th", n=100, concurrency=2, processes=2
    )
    assert by_path.total == 100
    assert by_path.name == "failing_every_7th"
    teardown = functools.partial(pt.with_teardown, str(tmp_path))
    await perf.run(teardown, n=100, concurrency=2, processes=2)
    marks = sorted(p.name for p in tmp_path.iterdir())  # noqa: ASYNC240 - a tiny directory
    assert marks == ["start-0", "start-1", "stop-0", "stop-1"]


@pytest.mark.asyncio
async def test_a_factory_failing_in_one_worker_gives_a_partial_result_that_fails_budgets() -> None:
    result = await AgentPerf().run(pt.raising_in_worker_1, n=200, concurrency=4, processes=2)
    assert result.total == 100  # worker 0's share only
    (lost,) = result.extra[LOST_SHARES]
    assert (lost["index"], lost["stage"], lost["tasks_planned"]) == (1, "setup", 100)
    assert "RuntimeError: no agent for worker 1" in lost["error"]
    assert "raise RuntimeError" in lost["traceback"]
    assert any("process 1 of 2" in w for w in result.warnings)
    # even budgets the surviving share meets fail: the result is partial
    budget = parse_budget("error_rate", "<= 100%", "test")
    verdict = evaluate_budgets([budget], [result])
    assert verdict.outcome == "budget-failed"
    assert "partial" in verdict.problem
    assert "process 1 of 2" in verdict.problem


@pytest.mark.asyncio
async def test_a_worker_killed_mid_run_is_reported_by_signal() -> None:
    result = await AgentPerf().run(pt.killed_in_worker_1, n=400, concurrency=4, processes=2)
    (lost,) = result.extra[LOST_SHARES]
    assert lost["index"] == 1
    assert lost["stage"] == "run"
    assert "SIGKILL" in lost["error"]
    assert result.total == 200  # worker 0 finished its share
    assert evaluate_budgets([], [result]).outcome == "budget-failed"


@pytest.mark.asyncio
async def test_no_result_at_all_raises_with_each_workers_error_and_a_traceback() -> None:
    with pytest.raises(WorkerError) as info:
        await AgentPerf().run(pt.raising_everywhere, n=10, concurrency=2, processes=2)
    text = str(info.value)
    assert "no worker produced a result" in text
    assert "bad configuration in worker 0" in text
    assert "bad configuration in worker 1" in text
    assert "Traceback in process" in text


@pytest.mark.asyncio
async def test_bad_arguments_are_refused_before_any_process_starts() -> None:
    perf = AgentPerf()
    before = len(psutil.Process().children())
    with pytest.raises(LoadConfigError, match="lambda"):
        await perf.run(lambda ctx: pt.failing_every_7th(ctx), n=10, processes=2)
    with pytest.raises(TargetError, match="factory"):
        await perf.run(pt.Worker(), n=10, processes=2)  # an object, not its factory
    with pytest.raises(LoadConfigError, match="iterator"):
        await perf.run(pt.failing_every_7th, tasks=iter(range(10)), n=10, processes=2)
    with pytest.raises(LoadConfigError, match="does not resolve"):
        await perf.run("tests.engine.proc_targets:missing", n=10, processes=2)
    with pytest.raises(LoadConfigError, match="is not 'package\\.module:function'"):
        await perf.run("no_colon_here", n=10, processes=2)
    with pytest.raises(LoadConfigError, match="concurrency >= 3"):
        await perf.run(pt.failing_every_7th, n=10, concurrency=2, processes=3)
    with pytest.raises(LoadConfigError, match="integer >= 1"):
        await perf.run(pt.failing_every_7th, n=10, processes=0)
    unpicklable = [lambda: None]
    with pytest.raises(LoadConfigError, match="tasks"):
        await perf.run(pt.failing_every_7th, tasks=unpicklable, n=10, processes=2)
    with pytest.raises(LoadConfigError, match="each process needs at least one task"):
        await perf.run(pt.failing_every_7th, n=2, processes=3)
    assert len(psutil.Process().children()) == before
    assert perf.results == []


@pytest.mark.asyncio
async def test_a_cancelled_run_leaves_no_worker_behind() -> None:
    me = psutil.Process()
    before = {p.pid for p in me.children()}
    run = asyncio.create_task(AgentPerf().run(pt.slow, n=100, concurrency=4, processes=2))
    workers: list[psutil.Process] = []
    for _ in range(300):  # until both workers are up (spawning takes about a second)
        await asyncio.sleep(0.05)
        workers = [p for p in me.children() if p.pid not in before]
        if len(workers) == 2:
            break
    assert len(workers) == 2
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert not [p for p in workers if p.is_running()]


@pytest.mark.asyncio
async def test_memory_growth_is_measured_in_each_worker_and_says_which_grew() -> None:
    perf = AgentPerf(memory=MemoryTracker(diagnose=False))
    result = await perf.run(pt.leaking_in_worker_1, n=600, concurrency=2, processes=2)
    memory = result.memory
    assert memory is not None
    assert 0 < memory.tasks < 600  # the measured rounds of both workers (not the warm-up)
    assert memory.leak
    assert "process 1: grows" in memory.reason
    assert "process 0: no leak" in memory.reason
    # worker 1 kept 20 KB per task, over half of the tasks: ~10 KB per task in all
    assert 5_000 < memory.per_task_bytes < 20_000
    shares = result.extra["shares"]
    assert [s["memory_leak"] for s in shares] == [False, True]


@pytest.mark.asyncio
@pytest.mark.parametrize("factory", [pt.agent_on_mock_transport, pt.agent_unchanged])
async def test_each_worker_drives_an_agent_on_its_own_replica_of_the_mock(factory: Any) -> None:
    mock = MockLLM(latency=Fixed("5ms"), seed=3, faults=Faults(rate_limit="10%", retry_after=0))
    result = await AgentPerf(mock=mock).run(
        factory, tasks=pt.prompt, n=400, concurrency=8, warmup=0, processes=2
    )
    assert result.total == 400
    assert result.completed > 350  # the agent retries rate limits (3 in a row fail a task)
    assert result.efficiency is not None
    assert 0 < result.efficiency <= 1.05
    shares = result.extra["shares"]
    calls = [s["mock_calls"] for s in shares]
    assert all(c >= 200 for c in calls)  # each worker's agent called its own mock
    stats = mock.stats()  # the workers' counters, added to the test's mock at the end
    assert stats.calls == sum(calls)
    assert stats.faults["rate_limit"] == pytest.approx(stats.calls / 10, abs=2)
    answered = stats.calls - stats.faults["rate_limit"]  # a rate limit answers at once
    assert stats.injected_latency_total == pytest.approx(0.005 * answered, rel=0.01)
    assert stats.mean_injected_latency == pytest.approx(0.005 * answered / stats.calls, rel=0.01)


@pytest.mark.asyncio
async def test_a_sweep_runs_every_step_on_the_workers() -> None:
    perf = AgentPerf()
    sweep = await perf.sweep(pt.failing_every_7th, concurrency=[2, 4], n=60, processes=2)
    assert [s.value for s in sweep.steps] == [2, 4]
    assert [s.result.extra["processes"] for s in sweep.steps] == [2, 2]
    assert [[share["concurrency"] for share in s.result.extra["shares"]] for s in sweep.steps] == [
        [1, 1],
        [2, 2],
    ]
