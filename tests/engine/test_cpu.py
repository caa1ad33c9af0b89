"""CPU attribution on calibrated burners, per-window CPU, GC pauses and the frozen heap.

The burners spin until their thread's CPU clock has advanced by a set amount, so what they
burn is exact on a busy machine too (contention stretches wall time, not CPU time); every
assertion is a ratio of figures measured in the same run.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_agentperf.clocks import SampledCpu, clock_overhead
from pytest_agentperf.engine.cputime import CpuTimeline, read_schedstat
from pytest_agentperf.engine.gcpause import GcWatch, frozen_heap
from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.engine.selfcheck import merge_selfchecks
from pytest_agentperf.engine.stats import attribute_cpu, merge_cpu
from pytest_agentperf.result import SelfCheck
from tests.engine.test_runner import FakeSampler

# Large enough that what no one can be charged with on a crowded machine (the loop's own
# scheduling, context switches, caches refilled after another process ran: 30-70 µs a task
# with three CPU hogs on two cores) stays a few percent of it.
TARGET_BURN = 1e-3
FACTORY_BURN = 300e-6


def burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def burner(payload: Any) -> None:
    burn(TARGET_BURN)
    await asyncio.sleep(0)


def costly_task(i: int) -> int:
    burn(FACTORY_BURN)
    return i


@pytest.mark.asyncio
async def test_attribution_is_within_10_percent_on_a_calibrated_burner() -> None:
    result = await AgentPerf().run(burner, tasks=costly_task, n=320, concurrency=4)
    assert result.cpu_per_task is not None
    assert result.agent_cpu_per_task is not None
    assert result.harness_cpu_per_task is not None
    # the target's 1 ms is the agent's; the task factory's 300 µs the load generator's
    assert 0.9 <= result.agent_cpu_per_task / TARGET_BURN <= 1.1
    assert 0.9 <= result.harness_cpu_per_task / FACTORY_BURN <= 1.1
    assert result.cpu_per_task == pytest.approx(
        result.agent_cpu_per_task + result.harness_cpu_per_task
    )
    assert result.capacity_per_core == pytest.approx(1 / result.agent_cpu_per_task)
    parts = result.selfcheck.harness_cpu
    assert set(parts) == {"engine", "monitor"}
    assert parts["engine"] > 0.9 * FACTORY_BURN


@pytest.mark.asyncio
async def test_attribution_holds_in_an_open_loop() -> None:
    # Offered beyond what 4 workers can do, so the loop never idles: an idle loop's
    # wake-ups (50-300 µs each on a VM) are the process's cost, and go to the agent's share.
    result = await AgentPerf().run(burner, tasks=costly_task, n=320, rate=5000, concurrency=4)
    assert result.agent_cpu_per_task is not None
    assert result.harness_cpu_per_task is not None
    assert 0.9 <= result.agent_cpu_per_task / TARGET_BURN <= 1.1
    assert 0.9 <= result.harness_cpu_per_task / FACTORY_BURN <= 1.1


@dataclass
class MockStats:
    injected_latency_total: float = 0.0
    harness_cpu: float = 0.0


class AccountingMock:
    """A stand-in for the mock's accounting: it burns CPU for each call and says so."""

    def __init__(self) -> None:
        self.counters = MockStats()

    def stats(self) -> MockStats:
        return MockStats(self.counters.injected_latency_total, self.counters.harness_cpu)

    async def call(self) -> None:
        c0 = time.thread_time()
        burn(300e-6)
        self.counters.harness_cpu += time.thread_time() - c0
        self.counters.injected_latency_total += 0.001
        await asyncio.sleep(0)  # no timer: an idle loop's wake-ups would be the agent's


@pytest.mark.asyncio
async def test_the_mocks_own_cpu_is_the_harnesss() -> None:
    mock = AccountingMock()

    async def agent(payload: Any) -> None:
        await mock.call()
        burn(TARGET_BURN)

    result = await AgentPerf(mock=mock).run(agent, n=320, concurrency=4)
    parts = result.selfcheck.harness_cpu
    assert result.agent_cpu_per_task is not None
    assert 0.9 <= parts["mock"] / 300e-6 <= 1.1
    assert 0.9 <= result.agent_cpu_per_task / TARGET_BURN <= 1.1


@pytest.mark.asyncio
async def test_each_window_carries_the_process_cpu_it_used() -> None:
    async def steady(payload: Any) -> None:
        burn(200e-6)
        await asyncio.sleep(0.001)

    result = await AgentPerf().run(steady, n=1500, concurrency=2)
    assert result.cpu_per_task is not None
    per_window = [w.cpu_per_task for w in result.timeseries[:-1]]  # the last may be partial
    assert len(per_window) >= 3
    assert all(v is not None for v in per_window)
    median = statistics.median(v for v in per_window if v is not None)
    assert 0.8 <= median / result.cpu_per_task <= 1.25
    windows_cpu = sum(w.cpu or 0.0 for w in result.timeseries)
    assert 0.9 <= windows_cpu / (result.cpu_per_task * result.total) <= 1.1


@pytest.mark.asyncio
async def test_memory_rounds_carry_no_window_cpu_but_the_total() -> None:
    sampler = FakeSampler([(20, True), (40, False), (40, False)])
    result = await AgentPerf(memory=sampler).run(burner, n=100, concurrency=2)
    assert result.memory is not None
    assert all(w.cpu is None for w in result.timeseries)
    assert result.agent_cpu_per_task is not None
    assert 0.9 <= result.agent_cpu_per_task / TARGET_BURN <= 1.1


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.mark.asyncio
async def test_garbage_collections_of_the_measured_phase_are_counted() -> None:
    async def cyclic(payload: Any) -> None:
        for _ in range(200):  # cycles: only the collector frees them
            a, b = Node(), Node()
            a.other, b.other = b, a
        await asyncio.sleep(0)

    result = await AgentPerf().run(cyclic, n=500, concurrency=4)
    check = result.selfcheck
    assert sum(check.gc_collections) >= 10
    assert check.gc_collections[0] >= check.gc_collections[1] >= check.gc_collections[2]
    assert 0 < max(check.gc_pause_max) <= sum(check.gc_pause_total)
    assert check.gc_frozen


@pytest.mark.asyncio
async def test_the_heap_is_frozen_during_the_phases_and_thawed_after() -> None:
    seen: list[int] = []

    async def look(payload: Any) -> None:
        seen.append(gc.get_freeze_count())

    await AgentPerf().run(look, n=20, warmup=5)
    assert len(seen) == 25
    assert min(seen) > 0  # the warm-up and the measured phase ran frozen
    assert gc.get_freeze_count() == 0
    seen.clear()
    result = await AgentPerf(freeze_gc=False).run(look, n=5)
    assert seen == [0] * 5
    assert not result.selfcheck.gc_frozen
    # a memory run: the tracker manages the heap, the engine leaves it alone
    seen.clear()
    await AgentPerf(memory=FakeSampler([(2, True), (3, False), (3, False)])).run(look, n=8)
    assert seen
    assert set(seen) == {0}


def test_a_heap_frozen_by_someone_else_is_left_frozen() -> None:
    gc.freeze()
    try:
        count = gc.get_freeze_count()
        with frozen_heap() as heap:
            assert not heap.enabled
        assert gc.get_freeze_count() == count
    finally:
        gc.unfreeze()


def test_the_gc_watch_times_collections_per_generation_and_pauses() -> None:
    watch = GcWatch()
    watch.install()
    try:
        gc.collect(0)
        gc.collect(2)
        watch.active = False
        gc.collect(1)  # paused (a memory sample): not counted
    finally:
        watch.remove()
    gc.collect(0)  # removed: not counted
    counts, longest, total = watch.figures()
    assert counts == (1, 0, 1)
    assert longest[2] > 0.0
    assert total[2] == longest[2]


def test_the_cpu_timeline_decimates_and_interpolates() -> None:
    timeline = CpuTimeline(size=8)
    for k in range(101):  # one CPU second per second, 101 samples into 8 slots
        timeline.add(float(k), float(k))
    assert timeline.count <= 8
    assert timeline.cpu_between(10.0, 50.0) == pytest.approx(40.0)
    timeline.force(200.0, 150.0)  # a phase's exact end, whatever the stride
    assert timeline.cpu_at(200.0) == 150.0
    assert timeline.cpu_at(-1.0) != timeline.cpu_at(-1.0)  # NaN outside the samples


def test_clocks_and_attribution_helpers() -> None:
    assert 0.0 <= clock_overhead() < 50e-6
    stat = read_schedstat()
    if stat is not None:  # Linux with schedstats
        assert stat.cpu > 0.0
        assert stat.wait >= 0.0
    split = attribute_cpu(0.7, 1000, engine_per_task=10e-6, monitor=0.001, mock=0.05)
    assert split is not None
    assert split.per_task == pytest.approx(700e-6)
    assert split.parts == pytest.approx({"engine": 10e-6, "monitor": 1e-6, "mock": 50e-6})
    assert split.agent == pytest.approx(639e-6)
    assert attribute_cpu(0.0, 10, engine_per_task=None, monitor=0.0, mock=None) is None


@pytest.mark.asyncio
async def test_collections_are_left_out_of_the_harnesss_timed_regions() -> None:
    kept = [[i] for i in range(200_000)]  # a full collection walks them: tens of ms

    async def step() -> None:
        gc.collect()
        burn(1e-3)

    unwatched = SampledCpu(every=1)
    assert unwatched.due()
    await unwatched.timed(step())
    watch = GcWatch()
    watch.install()
    try:
        watched = SampledCpu(every=1)
        assert watched.due()
        await watched.timed(step())
    finally:
        watch.remove()
    collection = max(watch.figures()[1])
    assert collection > 2e-3  # the collection was long beside the 1 ms burn
    assert unwatched.cpu > 1e-3 + 0.5 * collection  # without the watch it is counted
    assert 0.9e-3 <= watched.cpu <= 1.1e-3 + 0.1 * collection  # with it, left out
    assert len(kept) == 200_000


def test_results_run_side_by_side_merge_their_cpu_and_self_check_exactly() -> None:
    # 100 tasks at 300 µs and 300 tasks at 100 µs: 60 ms of CPU over 400 tasks = 150 µs
    assert merge_cpu([(100, 300e-6, 30e-6, 270e-6), (300, 100e-6, 10e-6, 90e-6)]) == (
        pytest.approx(150e-6),
        pytest.approx(15e-6),
        pytest.approx(135e-6),
    )
    assert merge_cpu([(100, 300e-6, None, None), (300, 100e-6, 10e-6, 90e-6)])[1:] == (
        None,
        None,
    )
    one = SelfCheck(
        loop_lag_p99=0.002,
        cpu_percent=95.0,
        findings=("CPU-bound: ...",),
        warnings=("doubt",),
        run_queue_wait=0.01,
        harness_cpu={"engine": 4e-6, "mock": 20e-6},
        gc_collections=(10, 1, 0),
        gc_pause_max=(0.001, 0.005, 0.0),
        gc_pause_total=(0.01, 0.005, 0.0),
        gc_frozen=True,
    )
    two = SelfCheck(
        loop_lag_p99=0.004,
        cpu_percent=90.0,
        findings=("CPU-bound: ...",),
        run_queue_wait=0.05,
        harness_cpu={"engine": 8e-6, "mock": 40e-6},
        gc_collections=(30, 3, 1),
        gc_pause_max=(0.002, 0.004, 0.009),
        gc_pause_total=(0.03, 0.012, 0.009),
        gc_frozen=True,
    )
    merged = merge_selfchecks([one, two], [100, 300])
    assert merged.loop_lag_p99 == 0.004
    assert merged.cpu_percent == 95.0
    assert merged.findings == ("CPU-bound: ...",)
    assert merged.warnings == ("doubt",)
    assert merged.run_queue_wait == 0.05
    assert merged.harness_cpu == pytest.approx({"engine": 7e-6, "mock": 35e-6})
    assert merged.gc_collections == (40, 4, 1)
    assert merged.gc_pause_max == (0.002, 0.005, 0.009)
    assert merged.gc_pause_total == pytest.approx((0.04, 0.017, 0.009))
    assert merged.gc_frozen
