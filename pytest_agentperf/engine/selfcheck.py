"""The harness watching itself: event-loop lag and CPU saturation during a run.

A :class:`Monitor` runs beside the workload as one light task. Every ``interval`` (20 ms)
it sleeps and measures how late it woke up (*loop lag*: the time every callback on the
loop, harness and agent alike, waited for its turn); it also calls the optional progress
sink at most ten times a second. The lags go into a preallocated array (a uniform sample of
at most ``LAG_SAMPLE`` of them, Algorithm R, plus the exact maximum and count), so the
monitor allocates nothing that survives a sample: it also runs during memory rounds, where
a growing list would count as the workload's growth. Before and after, it reads the
process's CPU time (psutil ``cpu_times``) and the machine's.

:func:`assess_harness` turns those figures into warnings when they are large relative to what the
run measured (thresholds below, documented in ``docs/engine.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psutil

from pytest_agentperf.engine.stats import percentile
from pytest_agentperf.protocols import ProgressSink
from pytest_agentperf.result import LatencySummary, SelfCheck
from pytest_agentperf.units import format_duration, format_fraction, format_rate

__all__ = ["Monitor", "Observed", "RunFigures", "assess_harness"]

INTERVAL = 0.02
PROGRESS_EVERY = 0.1
#: Lags kept for the p99 (beyond this, a uniform sample of them): 4096 x 20 ms = 82 s.
LAG_SAMPLE = 4096
#: Loop lag p99 above this share of the measured p50 (and above LAG_FLOOR) is a warning.
LAG_SHARE = 0.10
LAG_FLOOR = 0.002
#: A single stall of the loop longer than this (and above half the measured p99) is named.
STALL_FLOOR = 0.1
#: The process using more than this share of one core means it may be CPU-bound.
CPU_SATURATED = 90.0
#: The machine's CPUs busier than this (all processes) means noisy neighbours.
MACHINE_BUSY = 95.0
#: Open loop: achieved below this share of offered, or this share of late starts.
RATE_SHORTFALL = 0.95
LATE_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Observed:
    """Raw figures a :class:`Monitor` collected."""

    lags: tuple[float, ...]  # every lag, or a uniform sample of them (see ``LAG_SAMPLE``)
    cpu_percent: float  # this process, percent of one core
    machine_percent: float  # all CPUs, percent of the whole machine
    lag_max: float = 0.0  # the largest lag of all (a sample may have left it out)


class Monitor:
    """Samples loop lag (and drives progress) while a run is in flight."""

    def __init__(
        self,
        progress: ProgressSink | None = None,
        status: Callable[[], tuple[int, float | None]] | None = None,
    ) -> None:
        self._progress = progress
        self._status = status  # () -> (done, p95)
        # allocated once, updated in place: a sample leaves no new object behind
        self._lags = array("d", bytes(8 * LAG_SAMPLE))
        self._lag_count = array("q", [0])
        self._lag_max = array("d", [0.0])
        self._rng = random.Random(0x1A6)
        self._task: asyncio.Task[None] | None = None
        self._proc = psutil.Process()
        self._cpu0 = 0.0
        self._machine0: tuple[float, float] = (0.0, 0.0)
        self._wall0 = 0.0
        self._paused = False
        self._pause_end = 0.0

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Leave out the lag of what runs inside (memory sampling, a diagnostic round)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
            self._pause_end = time.perf_counter()

    def start(self) -> None:
        self._cpu0 = _process_cpu(self._proc)
        self._machine0 = _machine_cpu()
        self._wall0 = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._sample(), name="agentperf-lag")

    async def stop(self) -> Observed:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        wall = max(time.perf_counter() - self._wall0, 1e-9)
        cpu = (_process_cpu(self._proc) - self._cpu0) / wall * 100.0
        busy1, total1 = _machine_cpu()
        busy0, total0 = self._machine0
        machine = (busy1 - busy0) / (total1 - total0) * 100.0 if total1 > total0 else 0.0
        kept = self._lags[: min(self._lag_count[0], LAG_SAMPLE)]
        return Observed(tuple(kept), cpu, machine, self._lag_max[0])

    def record(self, lag: float) -> None:
        """Add one lag: a uniform sample of at most ``LAG_SAMPLE``, the count and the max."""
        k = self._lag_count[0]
        self._lag_count[0] = k + 1
        if lag > self._lag_max[0]:
            self._lag_max[0] = lag
        if k >= LAG_SAMPLE:
            k = self._rng.randrange(k + 1)
            if k >= LAG_SAMPLE:
                return
        self._lags[k] = lag

    async def _sample(self) -> None:
        clock = time.perf_counter
        next_progress = clock() + PROGRESS_EVERY
        last_done, last_t = 0, clock()
        while True:
            before = clock()
            await asyncio.sleep(INTERVAL)
            now = clock()
            if not self._paused and before >= self._pause_end:
                self.record(max(0.0, now - before - INTERVAL))
            if self._progress is not None and self._status is not None and now >= next_progress:
                done, p95 = self._status()
                rate = (done - last_done) / (now - last_t) if now > last_t else 0.0
                self._progress.update(done, rate, p95)
                last_done, last_t, next_progress = done, now, now + PROGRESS_EVERY


def _process_cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _machine_cpu() -> tuple[float, float]:
    times = psutil.cpu_times()
    total = float(sum(times))
    idle = float(times.idle + getattr(times, "iowait", 0.0))
    return total - idle, total


@dataclass(frozen=True, slots=True)
class RunFigures:
    """What the run measured, for judging the harness figures against."""

    latency: LatencySummary
    offered_rate: float | None = None
    achieved_rate: float | None = None
    late_starts: int = 0
    start_delay_p99: float = 0.0  # open loop: actual minus intended start, p99
    total: int = 0
    capped: bool = False  # open loop with a concurrency cap (late starts are then queueing)


def assess_harness(observed: Observed, run: RunFigures) -> SelfCheck:
    """The :class:`SelfCheck` of a run: lag and CPU figures plus warnings, if any."""
    lags = sorted(observed.lags)
    lag_p99 = percentile(lags, 0.99) if lags else 0.0
    lag_max = max(lags[-1] if lags else 0.0, observed.lag_max)
    warnings = [
        w
        for w in (
            _lag_warning(lag_p99, run.latency),
            _stall_warning(lag_max, run.latency),
            _cpu_warning(observed.cpu_percent),
            _machine_warning(observed.machine_percent),
            _rate_warning(run, observed.cpu_percent),
            _late_warning(run),
        )
        if w
    ]
    return SelfCheck(
        loop_lag_p99=lag_p99,
        loop_lag_max=lag_max,
        cpu_percent=observed.cpu_percent,
        warnings=tuple(warnings),
    )


def _lag_warning(lag_p99: float, latency: LatencySummary) -> str | None:
    p50 = latency.p50
    if math.isnan(p50) or lag_p99 <= LAG_FLOOR or lag_p99 <= LAG_SHARE * p50:
        return None
    return (
        f"event-loop lag p99 was {format_duration(lag_p99)}, {lag_p99 / p50:.0%} of the "
        f"measured p50 latency ({format_duration(p50)}): callbacks waited that long for the "
        "loop, so latencies include the harness's and agent's own scheduling delay and the "
        "agent may be faster than reported"
    )


def _stall_warning(lag_max: float, latency: LatencySummary) -> str | None:
    limit = max(STALL_FLOOR, 0.5 * latency.p99) if not math.isnan(latency.p99) else STALL_FLOOR
    if lag_max <= limit:
        return None
    return (
        f"the event loop was blocked for {format_duration(lag_max)} at least once (a blocking "
        "call in the agent, the test or the harness): every task in flight then was delayed, "
        "which shows in the tail latencies"
    )


def _cpu_warning(cpu_percent: float) -> str | None:
    if cpu_percent < CPU_SATURATED:
        return None
    return (
        f"this process used {cpu_percent:.0f}% of a CPU core: the event loop running both the "
        "load generator and the agent was CPU-bound, so throughput and latency may be limited "
        "by the process itself rather than by the system under test"
    )


def _machine_warning(machine_percent: float) -> str | None:
    if machine_percent < MACHINE_BUSY:
        return None
    return (
        f"the machine's CPUs were {machine_percent:.0f}% busy (all processes): other work "
        "competed for the CPU, so timings are noisy; compare ratios measured in the same run"
    )


def _rate_warning(run: RunFigures, cpu_percent: float) -> str | None:
    offered, achieved = run.offered_rate, run.achieved_rate
    if not offered or achieved is None or achieved >= RATE_SHORTFALL * offered:
        return None
    if run.capped or cpu_percent < CPU_SATURATED:
        return None  # the system under test could not keep up: that is the measurement
    return (
        f"achieved {format_rate(achieved)} of {format_rate(offered)} offered while the "
        "process was CPU-bound: the load generator could not keep up, so the shortfall may "
        "be the harness's, not the agent's"
    )


def _late_warning(run: RunFigures) -> str | None:
    if run.capped or not run.total or run.late_starts <= LATE_SHARE * run.total:
        return None
    delay, p50 = run.start_delay_p99, run.latency.p50
    if delay <= LAG_FLOOR or (not math.isnan(p50) and delay <= LAG_SHARE * p50):
        return None
    return (
        f"{format_fraction(run.late_starts / run.total)} of tasks started more than 1ms after "
        f"their intended start (p99 {format_duration(delay)} late) with no concurrency cap: "
        "the event loop could not dispatch on time; latency (from the intended start) "
        "includes that delay"
    )
