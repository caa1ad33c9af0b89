"""Self-check verdicts on constructed figures, and the monitor in a real run."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import sys
import time
from typing import Any

import psutil
import pytest

from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.engine.selfcheck import (
    LAG_SAMPLE,
    MachineTimes,
    Monitor,
    Observed,
    RunFigures,
    assess_harness,
    merge_selfchecks,
)
from pytest_agentperf.result import LatencySummary
from tests.engine.test_runner import FakeSampler

FAST = LatencySummary(count=100, mean=0.01, p50=0.01, p99=0.02, max=0.03)
LLM = LatencySummary(count=1000, mean=0.06, p50=0.06, p99=0.1, max=0.12)


def _observed(
    lags: tuple[float, ...] = (0.0002,) * 100,
    cpu: float = 20.0,
    *,
    wait: float | None = 0.0,
    loop: float | None = None,
    gc_max: tuple[float, float, float] = (0.0, 0.0, 0.0),
    gc_total: tuple[float, float, float] = (0.0, 0.0, 0.0),
    machine: float = 30.0,
) -> Observed:
    return Observed(
        lags,
        cpu,
        machine,
        loop_percent=cpu + 100 * (wait or 0.0) if loop is None else loop,
        run_queue_wait=wait,
        wall=2.0,
        gc_collections=(50, 5, 1),
        gc_pause_max=gc_max,
        gc_pause_total=gc_total,
    )


def _cpu_run(harness: float, **kw: Any) -> RunFigures:
    """1000 tasks at concurrency 100 on 50 ms of LLM latency, 700 µs of CPU each."""
    return RunFigures(
        latency=kw.pop("latency", LLM),
        total=1000,
        throughput=1300.0,
        concurrency=100,
        mean_injected_latency=0.05,
        cpu_per_task=700e-6,
        harness_cpu_per_task=harness,
        harness_parts={"engine": 10e-6, "mock": harness - 10e-6},
        **kw,
    )


def _check(observed: Observed, run: RunFigures | None = None) -> tuple[str, str]:
    check = assess_harness(observed, run or RunFigures(latency=FAST))
    return " | ".join(check.findings), " | ".join(check.warnings)


def test_a_quiet_harness_has_no_findings_and_no_warnings() -> None:
    check = assess_harness(_observed(), RunFigures(latency=FAST))
    assert check.warnings == ()
    assert check.findings == ()
    assert check.loop_lag_p99 == pytest.approx(0.0002)
    assert check.cpu_percent == 20.0


def test_a_cpu_bound_agent_is_a_finding_about_the_agent_not_a_doubt() -> None:
    findings, warnings = _check(_observed((0.03,) * 100, 99.0), _cpu_run(60e-6))
    assert warnings == ""
    assert "CPU-bound: 700µs of CPU per task, of which the harness 60µs" in findings
    assert "(engine 10µs, mock 50µs)" in findings
    assert "the agent's 640µs per task caps it near 1,563/s per core" in findings
    assert "at concurrency 100 and 50.0ms of LLM latency the ideal is 2,000/s" in findings
    assert "tasks waited for the loop 30.0ms (p99)" in findings


def test_a_cpu_bound_harness_is_a_doubt() -> None:
    findings, warnings = _check(_observed((0.03,) * 100, 99.0), _cpu_run(300e-6))
    assert "CPU-bound" not in findings
    assert "the harness 300µs (engine 10µs, mock 290µs) of its 700µs per task (43%)" in warnings
    # without an attribution the harness cannot clear itself: the old doubt
    _, unattributed = _check(_observed(cpu=97.0), RunFigures(latency=FAST))
    assert "this process used 97% of a CPU core" in unattributed


def test_cpu_bound_counts_the_time_spent_waiting_for_a_cpu() -> None:
    # 55% running + 40% waiting: the loop wanted a whole core, and others held it
    findings, warnings = _check(_observed(cpu=55.0, wait=0.40), _cpu_run(60e-6))
    assert "CPU-bound" in findings
    assert "other processes kept this process waiting for a CPU 40% of the run (800.0ms)" in (
        warnings
    )


def test_without_run_queue_figures_a_busy_machine_is_the_doubt() -> None:
    _, warnings = _check(_observed(cpu=20.0, wait=None, machine=99.0))
    assert "the machine's CPUs were 99% busy" in warnings


def test_loop_lag_without_cpu_saturation_is_a_finding() -> None:
    findings, warnings = _check(_observed((0.005,) * 100, 20.0))
    assert warnings == ""
    assert "event-loop lag p99 was 5.0ms, 50% of the measured p50 latency (10.0ms)" in findings
    assert "long synchronous stretches" in findings
    # a lag of 10-25% of p50 is notable in a CPU-bound finding, not a finding of its own
    assert _check(_observed((0.0022,) * 100, 20.0)) == ("", "")
    # 5% of the run waiting for a CPU (4 ms slices) explains a 5 ms lag: no finding
    assert _check(_observed((0.005,) * 100, 20.0, wait=0.05)) == ("", "")
    # the same lag against 1 s latencies is noise
    slow = LatencySummary(count=100, mean=1.0, p50=1.0, p99=1.2, max=1.3)
    assert _check(_observed((0.005,) * 100, 20.0), RunFigures(latency=slow)) == ("", "")
    # with 100 tasks of 700 µs ready at once, the lag is their queueing
    bursts, _ = _check(_observed((0.02,) * 100, 60.0), _cpu_run(60e-6))
    assert "up to 100 tasks ready at once x 700µs of CPU each = 70.0ms" in bursts


def test_a_stall_is_named_as_garbage_collection_when_a_collection_took_it() -> None:
    lags = (0.0,) * 99 + (0.15,)
    gc_stall = _observed(lags, gc_max=(0.0001, 0.001, 0.14), gc_total=(0.01, 0.01, 0.14))
    findings, warnings = _check(gc_stall, _cpu_run(60e-6))
    assert warnings == ""
    assert "garbage collection ran 56 times (generations 0/1/2: 50/5/1)" in findings
    assert "the longest 140.0ms (generation 2)" in findings
    blocked = _observed(lags, gc_max=(0.0001, 0.001, 0.002), gc_total=(0.01, 0.01, 0.002))
    findings, warnings = _check(blocked, _cpu_run(60e-6))
    assert "blocked for 150.0ms at least once, not by garbage collection" in warnings
    assert "garbage collection" not in findings


def test_garbage_collection_taking_a_large_share_of_the_cpu_is_a_finding() -> None:
    heavy = _observed(gc_max=(0.0004, 0.001, 0.001), gc_total=(0.15, 0.01, 0.001))
    findings, _ = _check(heavy, dataclasses.replace(_cpu_run(60e-6), gc_frozen=True))
    assert "161.0ms of CPU in all (23% of the process's CPU)" in findings
    assert "the objects alive before the run were frozen" in findings


def test_open_loop_shortfall_is_the_agents_when_it_is_cpu_bound() -> None:
    late = {"offered_rate": 1000.0, "achieved_rate": 600.0, "late_starts": 300,
            "start_delay_p99": 0.05}  # fmt: skip
    findings, warnings = _check(_observed(cpu=99.0), _cpu_run(60e-6, **late))
    assert "could not keep up with the schedule" in findings
    assert "1,000/s was offered" in findings
    assert warnings == ""
    # the harness heavy: the shortfall may be the generator's
    _, heavy = _check(_observed(cpu=99.0), _cpu_run(300e-6, **late))
    assert "achieved 600/s of 1,000/s offered" in heavy
    assert "30.00% of tasks started more than 1ms" in heavy
    # not CPU-bound, no cap: the loop could not dispatch on time
    _, idle = _check(_observed(cpu=40.0), _cpu_run(60e-6, **late))
    assert "started more than 1ms" in idle
    # with a cap, late starts are the system queueing
    capped = _cpu_run(60e-6, capped=True, **late)
    assert "started more than 1ms" not in _check(_observed(cpu=40.0), capped)[1]


@pytest.mark.asyncio
async def test_the_monitor_keeps_a_bounded_sample_and_the_exact_max() -> None:
    monitor = Monitor()
    monitor.start()
    gc.collect()
    before = sys.getallocatedblocks()
    for k in range(3 * LAG_SAMPLE):  # distinct float objects, as real lags are
        monitor.record((0.001 if k % 50 else 0.004) + k * 1e-12)
    monitor.record(0.5)  # one stall, among many samples
    gc.collect()
    grown = sys.getallocatedblocks() - before
    observed = await monitor.stop()
    # Recording 12k lags kept no objects: a list would hold 12k floats, a sample of lags
    # as objects 4k. Not 0: the count is the process's, other threads allocate too.
    assert grown < LAG_SAMPLE // 8
    assert len(observed.lags) == LAG_SAMPLE
    assert observed.lag_max == 0.5  # exact, even if the sample left it out
    check = assess_harness(observed, RunFigures(latency=FAST))
    assert check.loop_lag_max == 0.5
    assert check.loop_lag_p99 == pytest.approx(0.004, abs=2e-8)  # 2% of the lags are 4 ms
    assert any("blocked for 500.0ms" in w for w in check.warnings)


class StallingSampler(FakeSampler):
    """Blocks the loop for 1 s in the sample after the first measured round."""

    def sample(self, tasks_done: int, *, warmup: bool) -> None:
        if tasks_done == 60:
            time.sleep(1.0)  # a slow gc / memory read between rounds, loop blocked
        super().sample(tasks_done, warmup=warmup)


async def quick(payload: Any) -> None:
    await asyncio.sleep(0.001)


@pytest.mark.asyncio
async def test_memory_sampling_pauses_are_not_blamed_on_the_loop() -> None:
    sampler = StallingSampler([(20, True), (40, False), (40, False)])
    result = await AgentPerf(memory=sampler).run(quick, n=80, concurrency=4)
    # counted, the 1 s stall would be the max lag (and the "blocked" warning would quote it)
    assert result.selfcheck.loop_lag_max < 0.9

    # the same stall inside a round is the loop's (and the workload's): it is named
    async def stalls_once(payload: int) -> None:
        if payload == 50:
            time.sleep(1.0)  # noqa: ASYNC251 - the stall under test blocks the loop
        await asyncio.sleep(0.001)

    plain = FakeSampler([(20, True), (40, False), (40, False)])
    stalled = await AgentPerf(memory=plain).run(stalls_once, n=80, concurrency=1)
    assert stalled.selfcheck.loop_lag_max >= 0.9
    assert any("blocked for" in w for w in stalled.warnings)


# -- what the machine was doing ------------------------------------------------------------


def test_machine_times_split_into_this_process_others_and_steal() -> None:
    # 2 s of CPU time in all, 1.5 s busy of which 0.2 s stolen: 65% of the machine's CPUs
    # ran work of this guest, 0.5 cores of it this process's (on two CPUs: others 0.8 cores)
    before = MachineTimes(busy=10.0, total=100.0, steal=1.0)
    after = MachineTimes(busy=11.5, total=102.0, steal=1.2)
    load = after.since(before, own=0.5)
    assert load.percent == pytest.approx(75.0)
    assert load.steal == pytest.approx(0.1)
    assert load.cpus == psutil.cpu_count()
    assert load.other_cpu == pytest.approx(max(0.0, 0.65 * load.cpus - 0.5))
    unreported = MachineTimes(11.5, 102.0, None).since(MachineTimes(10.0, 100.0, None), own=0.5)
    assert unreported.steal is None
    assert MachineTimes(1.0, 1.0, 0.0).since(MachineTimes(1.0, 1.0, 0.0), own=0.0).other_cpu is None


@pytest.mark.asyncio
async def test_the_monitor_records_the_machine_in_the_self_check() -> None:
    monitor = Monitor()
    monitor.start()
    end = time.thread_time() + 0.05
    while time.thread_time() < end:  # some CPU of our own, which is not "other processes"
        pass
    await asyncio.sleep(0.05)
    observed = await monitor.stop()
    check = assess_harness(observed, RunFigures(latency=FAST))
    assert check.cpus == psutil.cpu_count()
    assert check.other_cpu is not None
    assert 0.0 <= check.other_cpu <= check.cpus
    if sys.platform == "linux":
        assert check.steal is not None
        assert 0.0 <= check.steal <= 1.0
    merged = merge_selfchecks(
        [check, dataclasses.replace(check, other_cpu=9.0, steal=None)], [1, 1]
    )
    assert (merged.other_cpu, merged.steal, merged.cpus) == (9.0, check.steal, check.cpus)
