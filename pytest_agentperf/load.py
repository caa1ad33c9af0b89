"""The load engine: ``AgentPerf.run`` / ``run_sync`` / ``sweep`` and ``merge``.

``run`` resolves its parameters once (:class:`RunPlan`), runs an optional warm-up phase,
then the measured phase (or the memory sampler's rounds), with a :class:`Monitor` watching
the event loop, and turns the records into a :class:`PerfResult` (see ``stats.py``).
"""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pytest_agentperf.errors import LoadConfigError
from pytest_agentperf.merge import merge
from pytest_agentperf.phase import Arrival, PhaseSpec, PhaseTimes, TaskSource, run_phase
from pytest_agentperf.progress import ProgressSink
from pytest_agentperf.result import MemoryReport, PerfResult
from pytest_agentperf.selfcheck import Monitor, RunFigures, judge
from pytest_agentperf.stats import (
    DEFAULT_MAX_RECORDS,
    Records,
    efficiency,
    percentile,
    reservoir_indices,
    summarize,
    timeseries,
)
from pytest_agentperf.targets import Driver, adapt_target, driving, first_token, target_name
from pytest_agentperf.units import parse_duration, parse_rate

if TYPE_CHECKING:
    from pytest_agentperf.sweep import SweepResult

__all__ = ["AgentPerf", "MockStatsSource", "ProgressSink", "RoundSampler", "RunPlan", "merge"]

LATE_THRESHOLD = 0.001  # a task is a "late start" beyond 1 ms after its intended start


class RoundSampler(Protocol):
    """Memory sampling between rounds (implemented by ``pytest_agentperf.memory``)."""

    def plan(self, n_tasks: int) -> list[tuple[int, bool]]: ...
    def sample(self, tasks_done: int, *, warmup: bool) -> None: ...
    def diagnostic_round(self) -> AbstractContextManager[None] | None: ...
    def report(self) -> MemoryReport: ...


class MockStatsSource(Protocol):
    """Anything with ``stats().injected_latency_total`` (a ``MockLLM``)."""

    def stats(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class RunPlan:
    """``run()``'s parameters, validated and scaled."""

    name: str
    mode: Literal["closed", "open"]
    n: int | None
    duration: float | None
    concurrency: int | None
    rate: float | None
    arrival: Arrival
    warmup: int | float  # int: tasks; float: seconds
    seed: int | None

    def phase(self, count: int | None, duration: float | None) -> PhaseSpec:
        return PhaseSpec(count, duration, self.concurrency, self.rate, self.arrival, self.seed)


class _Measured:
    """Accumulated over the measured phase or rounds.

    The sums live in one preallocated array: between memory rounds nothing here may turn
    into a new object (a float replacing the shared ``0.0`` constant is one more block).
    """

    __slots__ = ("injected_known", "records", "sums")

    _START, _END, _BUSY, _INJECTED, _WORKER_TIME, _SPAN, _DISPATCHED = range(7)

    def __init__(self, records: Records) -> None:
        self.records = records
        self.sums = array("d", [math.inf] + [0.0] * 6)
        self.injected_known = False

    def add(self, times: PhaseTimes, tasks: int, injected: float | None) -> None:
        """One phase that ran ``tasks`` tasks (and made the mock inject ``injected`` s)."""
        s = self.sums
        s[self._START] = min(s[self._START], times.start)
        s[self._END] = max(s[self._END], times.end)
        s[self._BUSY] += times.end - times.start
        s[self._WORKER_TIME] += times.workers * (times.end - times.start)
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
    def worker_time(self) -> float:
        """Sum over phases of workers started x phase duration (closed-loop capacity)."""
        return self.sums[self._WORKER_TIME]

    @property
    def achieved_rate(self) -> float | None:
        """Open loop: tasks started per second, from the first intended start to the last
        actual start of each phase (so the drain after the last start does not count)."""
        span = self.sums[self._SPAN]
        return self.sums[self._DISPATCHED] / span if span > 0 else None


class AgentPerf:
    """Drives targets under load and measures them (the ``agent_perf`` fixture).

    ``scale`` multiplies ``n``, ``duration`` and factory-generated task counts (never below
    one task); ``seed`` seeds Poisson arrivals; ``mock`` (a ``MockLLM``) enables efficiency;
    ``memory`` runs the workload in the sampler's rounds; ``progress`` gets live updates;
    ``max_records`` bounds the per-task records kept per run (beyond it they are sampled).
    """

    mark_first_token = staticmethod(first_token)

    def __init__(
        self,
        *,
        scale: float = 1.0,
        seed: int | None = None,
        mock: MockStatsSource | None = None,
        memory: RoundSampler | None = None,
        progress: ProgressSink | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        if not scale > 0:
            raise LoadConfigError(f"AgentPerf(scale={scale!r}): the scale must be > 0.")
        self.scale = scale
        self.seed = seed
        self.mock = mock
        self.memory = memory
        self.progress = progress
        self.max_records = max_records
        self.results: list[PerfResult] = []

    def __repr__(self) -> str:
        return f"<AgentPerf scale={self.scale} runs={len(self.results)}>"

    async def run(
        self,
        target: object,
        *,
        tasks: object = None,
        n: int | None = None,
        concurrency: int | None = None,
        rate: float | str | None = None,
        arrival: Arrival = "constant",
        duration: float | str | None = None,
        warmup: int | float | str | None = None,
        name: str | None = None,
    ) -> PerfResult:
        """Run ``target`` under load and return (and append to ``results``) a PerfResult."""
        driver = adapt_target(target)
        source = TaskSource(tasks)
        name = name or target_name(target)
        plan = self._plan(driver, source, n, concurrency, rate, arrival, duration, warmup, name)
        async with driving(target, driver):
            result = await _Run(self, driver, source, plan).execute()
        self.results.append(result)
        return result

    def run_sync(self, target: object, **kwargs: Any) -> PerfResult:
        """``run`` for synchronous tests (uses ``asyncio.run``; not inside a running loop)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run(target, **kwargs))
        raise LoadConfigError(
            "agent_perf.run_sync() was called inside a running event loop: in an async test "
            "use 'await agent_perf.run(...)'."
        )

    async def sweep(self, target: object, **kwargs: Any) -> SweepResult:
        """Run steps of ``concurrency=[...]`` or ``rate=[...]``; see ``sweep.sweep``."""
        from pytest_agentperf.sweep import sweep  # sweep imports this module

        return await sweep(self, target, **kwargs)

    def _plan(
        self,
        driver: Driver,
        source: TaskSource,
        n: int | None,
        concurrency: int | None,
        rate: float | str | None,
        arrival: str,
        duration: float | str | None,
        warmup: int | float | str | None,
        name: str | None,
    ) -> RunPlan:
        rate_value = parse_rate(rate, "run(rate=...)") if rate is not None else None
        if rate_value is not None and rate_value <= 0:
            raise LoadConfigError(f"run(rate={rate!r}): the rate must be above 0 tasks/s.")
        if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
            raise LoadConfigError(f"run(concurrency={concurrency!r}): use an integer >= 1.")
        if arrival not in ("constant", "poisson"):
            raise LoadConfigError(f"run(arrival={arrival!r}): use 'constant' or 'poisson'.")
        if n is not None and (not isinstance(n, int) or n < 1):
            raise LoadConfigError(f"run(n={n!r}): use an integer >= 1.")
        seconds = parse_duration(duration, "run(duration=...)") if duration is not None else None
        count = self._count(source, n, seconds)
        if seconds is not None:
            seconds *= self.scale
        mode: Literal["closed", "open"] = "open" if rate_value is not None else "closed"
        if mode == "closed" and concurrency is None:
            concurrency = 1
        return RunPlan(
            name=name or driver.description,
            mode=mode,
            n=count,
            duration=seconds,
            concurrency=concurrency,
            rate=rate_value,
            arrival=arrival,  # type: ignore[arg-type]
            warmup=0
            if warmup is None and self.memory is not None  # the sampler plans warm-up rounds
            else self._warmup(warmup, count, concurrency, rate_value),
            seed=self.seed if self.seed is not None else 0,
        )

    def _count(self, source: TaskSource, n: int | None, seconds: float | None) -> int | None:
        if n is not None:
            return max(1, round(n * self.scale)) if source.is_factory else n
        if source.length is not None and seconds is None:
            return source.length  # a list without n or duration: each item once
        if seconds is None and not source.finite:
            raise LoadConfigError(
                "run() needs to know when to stop: give n=... (tasks) or duration=... "
                "(or tasks= as a list or a finite iterable)."
            )
        return None

    @staticmethod
    def _warmup(
        warmup: int | float | str | None, n: int | None, concurrency: int | None, rate: float | None
    ) -> int | float:
        if warmup is None:  # auto: fill each worker (or 100 ms of arrivals), <= 10% of n
            auto = (concurrency or 1) if rate is None else math.ceil(rate * 0.1)
            return min(auto, n // 10) if n is not None else auto
        if isinstance(warmup, bool) or (isinstance(warmup, int) and warmup < 0):
            raise LoadConfigError(f"run(warmup={warmup!r}): use a task count or a duration.")
        if isinstance(warmup, int):
            return warmup
        return parse_duration(warmup, "run(warmup=...)")


class _Run:
    """One ``run()`` call: warm-up, measured phase or memory rounds, result."""

    def __init__(self, perf: AgentPerf, driver: Driver, source: TaskSource, plan: RunPlan) -> None:
        self.perf, self.driver, self.source, self.plan = perf, driver, source, plan
        self.measured: _Measured | None = None
        self.done_before = 0  # tasks run before the measured records (progress)

    async def execute(self) -> PerfResult:
        plan, sampler = self.plan, self.perf.memory
        if sampler is not None and plan.n is None:
            raise LoadConfigError(
                "run(): a memory budget measures growth per task, so it needs n=... (or a "
                "task list), not only a duration."
            )
        await self._warmup()
        total = plan.n
        if self.perf.progress is not None:
            self.perf.progress.start(plan.name, total)
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
        return self._result(observed, memory, started_at)

    async def _warmup(self) -> None:
        w = self.plan.warmup
        if not w:
            return
        count, seconds = (w, None) if isinstance(w, int) else (None, float(w))
        await run_phase(self.driver, self.source, self.plan.phase(count, seconds), Records(count))
        self.done_before = self.source.index

    async def _single(self) -> None:
        self.measured = _Measured(Records(self.plan.n, max_records=self.perf.max_records))
        await self._measured_phase(self.plan.n, self.plan.duration)

    async def _measured_phase(self, count: int | None, duration: float | None) -> None:
        assert self.measured is not None
        rec = self.measured.records
        before, done_before = self._injected(), rec.count
        times = await run_phase(self.driver, self.source, self.plan.phase(count, duration), rec)
        after = self._injected()
        injected = after - before if before is not None and after is not None else None
        self.measured.add(times, rec.count - done_before, injected)

    async def _rounds(self, sampler: RoundSampler, monitor: Monitor) -> MemoryReport:
        assert self.plan.n is not None
        rounds = sampler.plan(self.plan.n)
        measured = sum(size for size, warm in rounds if not warm)
        self.measured = _Measured(Records(measured, max_records=self.perf.max_records))
        scratch = Records(max((size for size, _ in rounds), default=1))
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
                await run_phase(self.driver, self.source, spec, Records(last))
        return sampler.report()

    def _injected(self) -> float | None:
        mock = self.perf.mock
        if mock is None:
            return None
        value = getattr(mock.stats(), "injected_latency_total", None)
        return float(value) if isinstance(value, int | float) else None

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

    def _result(self, observed: Any, memory: MemoryReport | None, started_at: float) -> PerfResult:
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
            worker_time=m.worker_time if plan.mode == "closed" else None,
            busy_time=math.fsum(latencies) * (rec.count / rec.kept if rec.kept else 1.0),
        )
        delays = rec.start_delays() if plan.mode == "open" else []
        late = rec.scaled(sum(1 for d in delays if d > LATE_THRESHOLD))
        throughput = rec.completed / duration if duration > 0 else 0.0
        achieved = m.achieved_rate if plan.mode == "open" else None
        figures = RunFigures(
            latency=latency,
            offered_rate=plan.rate,
            achieved_rate=achieved,
            late_starts=late,
            start_delay_p99=percentile(sorted(delays), 0.99) if delays else 0.0,
            total=rec.count,
            capped=plan.concurrency is not None,
        )
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
            memory=memory,
            timeseries=timeseries(rec, m.start, m.end - m.start),
            samples=_reservoir(latencies, plan.seed),
            service_samples=_reservoir(services, plan.seed),
            selfcheck=judge(observed, figures),
            started_at=started_at,
            extra=_extra(rec, plan, achieved),
        )


def _reservoir(values: list[float], seed: int | None) -> tuple[float, ...]:
    return tuple(values[i] for i in reservoir_indices(len(values), seed=seed or 0))


def _extra(rec: Records, plan: RunPlan, achieved: float | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"arrival": plan.arrival} if plan.mode == "open" else {}
    if achieved is not None:
        # tasks started per second over the arrival schedule (the drain after the last start
        # left out): ~ offered_rate when the system and the generator kept up
        extra["achieved_rate"] = achieved
    if rec.sampled:
        extra["records_sampled"] = {"kept": rec.kept, "tasks": rec.count}
    return extra
