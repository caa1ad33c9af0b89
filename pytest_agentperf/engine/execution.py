"""One ``run()`` call, executed: warm-up, the measured phase or memory rounds, the result.

:class:`Execution` runs the phases (``phase.py``) with a :class:`Monitor` watching the
event loop, the heap frozen around them (``gcpause.py``), and turns the per-task records
and the CPU clocks into a :class:`PerfResult` (``stats.py``): the process's CPU per task
and the harness's share of it (the engine's sampled bookkeeping, the monitor's ticks, the
mock's own accounting), the rest being the agent's.
"""

from __future__ import annotations

import math
import time
from array import array
from dataclasses import dataclass
from typing import Any

from pytest_agentperf.clocks import clock_overhead
from pytest_agentperf.engine.economics import SpendMeter
from pytest_agentperf.engine.gcpause import frozen_heap
from pytest_agentperf.engine.phase import PhaseTimes, TaskSource, run_phase
from pytest_agentperf.engine.plan import RunPlan
from pytest_agentperf.engine.selfcheck import Monitor, RunFigures, assess_harness
from pytest_agentperf.engine.stats import (
    attribute_cpu,
    efficiency,
    percentile,
    reservoir_indices,
    summarize,
    timeseries,
)
from pytest_agentperf.engine.targets import Driver
from pytest_agentperf.engine.task_records import DEFAULT_MAX_RECORDS, TaskRecords
from pytest_agentperf.errors import LoadConfigError
from pytest_agentperf.protocols import MockStatsSource, ProgressSink, RoundSampler
from pytest_agentperf.result import MemoryReport, PerfResult
from pytest_agentperf.spend import Prices

__all__ = ["Execution", "Instruments"]

LATE_THRESHOLD = 0.001  # a task is a "late start" beyond 1 ms after its intended start


class _Measured:
    """Accumulated over the measured phase or rounds.

    The sums live in one preallocated array: between memory rounds nothing here may turn
    into a new object (a float replacing the shared ``0.0`` constant is one more block).
    """

    __slots__ = ("injected_known", "mock_cpu_known", "records", "sums")

    _START, _END, _BUSY, _INJECTED, _SPAN, _DISPATCHED, _CPU, _MOCK_CPU = range(8)
    _STEADY, _STEADY_DONE, _PARTIAL = range(8, 11)

    def __init__(self, records: TaskRecords) -> None:
        self.records = records
        self.sums = array("d", [math.inf] + [0.0] * 10)
        self.injected_known = False
        self.mock_cpu_known = False

    def add_cpu(self, process: float, mock: float | None) -> None:
        """The process's CPU over one phase, and the mock's own share of it (if it says)."""
        self.sums[self._CPU] += process
        if mock is not None:
            self.sums[self._MOCK_CPU] += mock
            self.mock_cpu_known = True

    @property
    def cpu(self) -> float:
        """Process CPU seconds over the measured phases."""
        return self.sums[self._CPU]

    @property
    def mock_cpu(self) -> float | None:
        """CPU seconds the mock spent in this process over the measured phases."""
        return self.sums[self._MOCK_CPU] if self.mock_cpu_known else None

    def add_steady(self, times: PhaseTimes, first_record: int) -> None:
        """Closed loop: the phase's span while every worker had a task, and the tasks that
        completed in it (the drain after the first worker ran dry is left out)."""
        s = self.sums
        done = self.records.completed_by(first_record, times.first_idle)
        if done is None or not times.first_idle > times.start or done < times.workers:
            s[self._PARTIAL] = 1.0  # too short a phase, or sampled records: no steady rate
            return
        s[self._STEADY] += times.first_idle - times.start
        s[self._STEADY_DONE] += done

    @property
    def steady_throughput(self) -> float | None:
        """Tasks completed per second while every worker had a task, over all phases."""
        s = self.sums
        if s[self._PARTIAL] or not s[self._STEADY] > 0:
            return None
        return s[self._STEADY_DONE] / s[self._STEADY]

    def add(self, times: PhaseTimes, tasks: int, injected: float | None) -> None:
        """One phase that ran ``tasks`` tasks (and made the mock inject ``injected`` s)."""
        s = self.sums
        s[self._START] = min(s[self._START], times.start)
        s[self._END] = max(s[self._END], times.end)
        s[self._BUSY] += times.end - times.start
        if tasks > 1 and times.last_start > times.start:  # open loop: the starts' span
            s[self._SPAN] += times.last_start - times.start
            s[self._DISPATCHED] += tasks - 1
        if injected is not None:
            s[self._INJECTED] += injected
            self.injected_known = True

    @property
    def start(self) -> float:
        return self.sums[self._START]

    @property
    def end(self) -> float:
        return self.sums[self._END]

    @property
    def busy(self) -> float:
        """Sum of phase durations (rounds leave out the sampling pauses)."""
        return self.sums[self._BUSY]

    @property
    def injected(self) -> float:
        return self.sums[self._INJECTED]

    @property
    def achieved_rate(self) -> float | None:
        """Open loop: tasks started per second, from the first intended start to the last
        actual start of each phase (so the drain after the last start does not count)."""
        span = self.sums[self._SPAN]
        return self.sums[self._DISPATCHED] / span if span > 0 else None


@dataclass(frozen=True, slots=True)
class Instruments:
    """What watches a run besides the engine: the mock (for efficiency and its CPU), the
    memory sampler (rounds), the progress line, the bound on kept task records, and
    whether the heap is frozen around the phases (``gcpause.frozen_heap``)."""

    mock: MockStatsSource | None = None
    memory: RoundSampler | None = None
    progress: ProgressSink | None = None
    max_records: int = DEFAULT_MAX_RECORDS
    freeze_gc: bool = True
    prices: Prices | None = None  # the price table for the tasks' LLM spend


class Execution:
    """One ``run()`` call: warm-up, measured phase or memory rounds, result."""

    def __init__(
        self, driver: Driver, source: TaskSource, plan: RunPlan, instruments: Instruments
    ) -> None:
        self.driver, self.source, self.plan = driver, source, plan
        self.perf = instruments
        self.measured: _Measured | None = None
        self.done_before = 0  # tasks run before the measured records (progress)
        self.frozen = False  # the heap was frozen before the measured phase
        self.warmed = 0  # tasks the warm-up ran
        # with a mock LLM: what each task spends on LLM calls (economics.py)
        self.spend: SpendMeter | None = None
        if instruments.mock is not None:
            self.spend = SpendMeter(instruments.mock, instruments.prices)
            self.driver = self.spend.wrap(driver)

    async def execute(self) -> PerfResult:
        plan, sampler = self.plan, self.perf.memory
        if sampler is not None and plan.n is None:
            raise LoadConfigError(
                "run(): a memory budget measures growth per task, so it needs n=... (or a "
                "task list), not only a duration."
            )
        clock_overhead()  # measured once per process, before any round can count it
        # With a memory sampler the tracker manages the heap (it freezes it between rounds).
        with frozen_heap(self.perf.freeze_gc and sampler is None) as heap:
            await self._warmup()
            heap.refreeze()
            self.frozen = heap.enabled
            return await self._measure(sampler)

    async def _measure(self, sampler: RoundSampler | None) -> PerfResult:
        total = self.plan.n
        if self.perf.progress is not None:
            self.perf.progress.start(self.plan.name, total)
        monitor = Monitor(self.perf.progress, self._status)
        started_at, t0 = time.time(), time.perf_counter()
        monitor.start()
        try:
            memory = None
            if sampler is not None:
                memory = await self._rounds(sampler, monitor)
            else:
                await self._single()
        finally:
            observed = await monitor.stop()
            if self.perf.progress is not None:
                # The monitor samples periodically; the last line must show the final count.
                done, p95 = self._status()
                elapsed = time.perf_counter() - t0
                self.perf.progress.update(done, done / elapsed if elapsed > 0 else 0.0, p95)
                self.perf.progress.finish()
        return self._result(observed, monitor, memory, started_at)

    async def _warmup(self) -> None:
        w = self.plan.warmup
        if not w:
            return
        count, seconds = (w, None) if isinstance(w, int) else (None, float(w))
        records = TaskRecords(count)
        await run_phase(self.driver, self.source, self.plan.phase(count, seconds), records)
        self.done_before = self.source.index
        self.warmed = records.count

    async def _single(self) -> None:
        self.measured = _Measured(TaskRecords(self.plan.n, max_records=self.perf.max_records))
        if self.spend is not None:
            self.spend.prepare(self.plan.n, self.perf.max_records)
        await self._measured_phase(self.plan.n, self.plan.duration)

    async def _measured_phase(self, count: int | None, duration: float | None) -> None:
        assert self.measured is not None
        rec = self.measured.records
        done_before = rec.count
        injected0, mock0 = self._mock_figures()
        if self.spend is not None:
            self.spend.start()
        try:
            cpu0 = time.process_time()
            times = await run_phase(self.driver, self.source, self.plan.phase(count, duration), rec)
            cpu1 = time.process_time()
        finally:
            if self.spend is not None:
                self.spend.stop()
        injected1, mock1 = self._mock_figures()
        self.measured.add(times, rec.count - done_before, _delta(injected0, injected1))
        if self.plan.mode == "closed":
            self.measured.add_steady(times, done_before)
        self.measured.add_cpu(cpu1 - cpu0, _delta(mock0, mock1))

    async def _rounds(self, sampler: RoundSampler, monitor: Monitor) -> MemoryReport:
        assert self.plan.n is not None
        rounds = sampler.plan(self.plan.n)
        measured = sum(size for size, warm in rounds if not warm)
        self.measured = _Measured(TaskRecords(measured, max_records=self.perf.max_records))
        if self.spend is not None:
            self.spend.prepare(measured, self.perf.max_records)
        scratch = TaskRecords(max((size for size, _ in rounds), default=1))
        with monitor.paused():
            sampler.sample(0, warmup=True)
        done = 0
        for size, warm in rounds:
            if warm:
                scratch.reset()  # reused: no bookkeeping growth between samples
                await run_phase(self.driver, self.source, self.plan.phase(size, None), scratch)
            else:
                await self._measured_phase(size, None)
            done += size
            with monitor.paused():
                sampler.sample(done, warmup=warm)
        diagnostic = sampler.diagnostic_round()
        if diagnostic is not None and rounds:
            with monitor.paused(), diagnostic:
                last = rounds[-1][0]
                spec = self.plan.phase(last, None)
                await run_phase(self.driver, self.source, spec, TaskRecords(last))
        return sampler.report()

    def _mock_figures(self) -> tuple[float | None, float | None]:
        """The mock's cumulative injected latency and its own CPU in this process (seconds):
        ``stats().injected_latency_total`` and ``stats().harness_cpu``, when it has them."""
        mock = self.perf.mock
        if mock is None:
            return None, None
        stats = mock.stats()
        return _number(stats, "injected_latency_total"), _number(stats, "harness_cpu")

    def _status(self) -> tuple[int, float | None]:
        m = self.measured
        if m is None:
            return 0, None
        rec = m.records
        lo = max(0, rec.kept - 256)
        recent = sorted(
            f - i
            for i, f in zip(rec.intended[lo : rec.kept], rec.finished[lo : rec.kept], strict=True)
        )
        return rec.count, percentile(recent, 0.95) if recent else None

    def _result(
        self, observed: Any, monitor: Monitor, memory: MemoryReport | None, started_at: float
    ) -> PerfResult:
        assert self.measured is not None
        m, plan = self.measured, self.plan
        rec = m.records
        duration = m.busy if m.busy > 0 else 0.0
        latencies, services = rec.latencies(), rec.service_latencies()
        latency = summarize(latencies)
        service = summarize(services) if plan.mode == "open" else latency
        ttfts = rec.ttfts()
        eff = efficiency(
            m.injected if m.injected_known else 0.0,
            rec.count,
            busy_time=math.fsum(latencies) * (rec.count / rec.kept if rec.kept else 1.0),
        )
        delays = rec.start_delays() if plan.mode == "open" else []
        late = rec.scaled(sum(1 for d in delays if d > LATE_THRESHOLD))
        overall = rec.completed / duration if duration > 0 else 0.0
        steady = m.steady_throughput if plan.mode == "closed" else None
        throughput = overall if steady is None else steady
        achieved = m.achieved_rate if plan.mode == "open" else None
        cpu = attribute_cpu(
            m.cpu,
            rec.count,
            engine_per_task=rec.bookkeeping(),
            monitor=monitor.own_cpu,
            mock=m.mock_cpu,
        )
        figures = RunFigures(
            latency=latency,
            offered_rate=plan.rate,
            achieved_rate=achieved,
            late_starts=late,
            start_delay_p99=percentile(sorted(delays), 0.99) if delays else 0.0,
            total=rec.count,
            capped=plan.concurrency is not None,
            throughput=throughput,
            concurrency=plan.concurrency if plan.mode == "closed" else None,
            mean_injected_latency=eff.mean_injected_latency if eff else None,
            cpu_per_task=cpu.per_task if cpu else None,
            harness_cpu_per_task=cpu.harness if cpu else None,
            harness_parts=dict(cpu.parts) if cpu else {},
            gc_frozen=self.frozen,
        )
        # Per-window CPU: not across memory rounds, whose sampling pauses it would include.
        window_cpu = monitor.timeline.cpu_between if memory is None else None
        return PerfResult(
            name=plan.name,
            mode=plan.mode,
            duration=duration,
            completed=rec.completed,
            failed=rec.failed,
            throughput=throughput,
            latency=latency,
            service_latency=service,
            concurrency=plan.concurrency,
            offered_rate=plan.rate,
            late_starts=late,
            ttft=summarize(ttfts) if ttfts else None,
            errors=rec.errors(),
            efficiency=eff.value if eff else None,
            mean_injected_latency=eff.mean_injected_latency if eff else None,
            cpu_per_task=cpu.per_task if cpu else None,
            harness_cpu_per_task=cpu.harness if cpu else None,
            agent_cpu_per_task=cpu.agent if cpu else None,
            memory=memory,
            timeseries=timeseries(rec, m.start, m.end - m.start, cpu=window_cpu),
            samples=_reservoir(latencies, plan.seed),
            service_samples=_reservoir(services, plan.seed),
            selfcheck=assess_harness(observed, figures),
            started_at=started_at,
            extra=_extra(rec, plan, achieved, overall if steady is not None else None),
            llm=self.spend.result(rec.count) if self.spend is not None else None,
        )


def _delta(before: float | None, after: float | None) -> float | None:
    return after - before if before is not None and after is not None else None


def _number(stats: object, name: str) -> float | None:
    value = getattr(stats, name, None)
    return float(value) if isinstance(value, int | float) else None


def _reservoir(values: list[float], seed: int | None) -> tuple[float, ...]:
    return tuple(values[i] for i in reservoir_indices(len(values), seed=seed or 0))


def _extra(
    rec: TaskRecords, plan: RunPlan, achieved: float | None, overall: float | None
) -> dict[str, Any]:
    extra: dict[str, Any] = {"arrival": plan.arrival} if plan.mode == "open" else {}
    if overall is not None:
        # closed loop: throughput is the steady rate (every worker busy); this one also
        # counts the drain, when fewer tasks than workers were left
        extra["overall_throughput"] = overall
    if achieved is not None:
        # tasks started per second over the arrival schedule (the drain after the last start
        # left out): ~ offered_rate when the system and the generator kept up
        extra["achieved_rate"] = achieved
    if rec.sampled:
        extra["records_sampled"] = {"kept": rec.kept, "tasks": rec.count}
    return extra
