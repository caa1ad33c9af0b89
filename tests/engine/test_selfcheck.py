"""Self-check verdicts on constructed figures, and the monitor in a real run."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import sys
import time
from typing import Any

import pytest

from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.engine.selfcheck import (
    LAG_SAMPLE,
    Monitor,
    Observed,
    RunFigures,
    assess_harness,
)
from pytest_agentperf.result import LatencySummary
from tests.engine.test_runner import FakeSampler

FAST = LatencySummary(count=100, mean=0.01, p50=0.01, p99=0.02, max=0.03)


def _warnings(observed: Observed, run: RunFigures | None = None) -> tuple[str, ...]:
    return assess_harness(observed, run or RunFigures(latency=FAST)).warnings


def test_a_quiet_harness_has_no_warnings() -> None:
    check = assess_harness(Observed((0.0002,) * 100, 20.0, 30.0), RunFigures(latency=FAST))
    assert check.warnings == ()
    assert check.loop_lag_p99 == pytest.approx(0.0002)
    assert check.cpu_percent == 20.0


def test_loop_lag_large_relative_to_latency_warns() -> None:
    (warning,) = _warnings(Observed((0.005,) * 100, 20.0, 30.0))
    assert "event-loop lag p99 was 5.0ms, 50% of the measured p50 latency (10.0ms)" in warning
    # the same lag against 1 s latencies is noise
    slow = LatencySummary(count=100, mean=1.0, p50=1.0, p99=1.2, max=1.3)
    assert _warnings(Observed((0.005,) * 100, 20.0, 30.0), RunFigures(latency=slow)) == ()


def test_a_blocked_loop_cpu_saturation_and_busy_machine_warn() -> None:
    warnings = _warnings(Observed((0.0,) * 99 + (0.4,), 97.0, 99.0))
    text = " | ".join(warnings)
    assert "blocked for 400.0ms" in text
    assert "97% of a CPU core" in text
    assert "99% busy" in text


def test_open_loop_generator_shortfall_and_late_dispatch_warn() -> None:
    run = RunFigures(
        latency=FAST,
        offered_rate=1000.0,
        achieved_rate=600.0,
        late_starts=300,
        start_delay_p99=0.05,
        total=1000,
    )
    text = " | ".join(_warnings(Observed((0.0,), 95.0, 50.0), run))
    assert "achieved 600/s of 1,000/s offered" in text
    assert "30.00% of tasks started more than 1ms" in text
    capped = dataclasses.replace(run, capped=True)  # with a cap, that is the system queueing
    capped_text = " | ".join(_warnings(Observed((0.0,), 95.0, 50.0), capped))
    assert "offered" not in capped_text
    assert "started more than 1ms" not in capped_text


@pytest.mark.asyncio
async def test_the_monitor_keeps_a_bounded_sample_and_the_exact_max() -> None:
    monitor = Monitor()
    monitor.start()
    gc.collect()
    before = sys.getallocatedblocks()
    for k in range(3 * LAG_SAMPLE):
        monitor.record(0.001 if k % 50 else 0.004)
    monitor.record(0.5)  # one stall, among many samples
    gc.collect()
    grown = sys.getallocatedblocks() - before
    observed = await monitor.stop()
    assert grown <= 8  # recording 12k lags kept nothing new (a list would hold 12k floats)
    assert len(observed.lags) == LAG_SAMPLE
    assert observed.lag_max == 0.5  # exact, even if the sample left it out
    check = assess_harness(observed, RunFigures(latency=FAST))
    assert check.loop_lag_max == 0.5
    assert check.loop_lag_p99 == pytest.approx(0.004)  # 2% of the lags are 4 ms
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
