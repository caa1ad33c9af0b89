"""The harness watching itself, and what a run says about the system under test.

A :class:`Monitor` runs beside the workload as one light task. Every ``INTERVAL`` (50 ms)
it sleeps and measures how late it woke up (*loop lag*: the time every callback on the
loop, harness and agent alike, waited for its turn), samples the process's CPU into a
:class:`~pytest_agentperf.engine.cputime.CpuTimeline` (per-window CPU) and calls the
optional progress sink at most ten times a second; its own work is timed on the thread
CPU clock (the harness's ``monitor`` share). A :class:`~pytest_agentperf.engine.gcpause.GcWatch`
times every garbage collection. The lags go into a preallocated array (a uniform sample of
at most ``LAG_SAMPLE`` of them, Algorithm R, plus the exact maximum and count), so the
monitor allocates nothing that survives a sample: it also runs during memory rounds, where
a growing list would count as the workload's growth. Before and after, it reads the
process's CPU time, the loop thread's CPU and run-queue wait, and the machine's CPU.

:func:`assess_harness` turns those figures and the run's CPU attribution into *findings*
about the system under test (it is CPU-bound; garbage collection paused it) and *warnings*
that doubt the harness's own figures (the harness's share of a saturated process, other
processes' load, an unexplained stall); thresholds below, documented in
``docs/engine.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import psutil

from pytest_agentperf.engine.cputime import CpuTimeline, SchedStat, read_schedstat
from pytest_agentperf.engine.gcpause import GcWatch
from pytest_agentperf.engine.stats import percentile
from pytest_agentperf.protocols import ProgressSink
from pytest_agentperf.result import LatencySummary, SelfCheck
from pytest_agentperf.units import format_duration, format_fraction, format_rate

__all__ = [
    "MachineCpu",
    "MachineTimes",
    "Monitor",
    "Observed",
    "RunFigures",
    "assess_harness",
    "merge_selfchecks",
]

#: Each tick is a wake-up of the loop: ~150-250 µs of CPU on a small VM, which the tick's
#: own thread-clock timing does not see. At 20 ms that was ~1% of a core (~5 µs a task at
#: 2,000 tasks/s); at 50 ms it is ~0.4%, and every stall longer than a tick is still seen.
INTERVAL = 0.05
PROGRESS_EVERY = 0.1
#: Lags kept for the p99 (beyond this, a uniform sample of them): 4096 x 50 ms = 205 s.
LAG_SAMPLE = 4096
#: Loop lag p99 above this share of the measured p50 (and above LAG_FLOOR) is notable:
#: quoted in the CPU-bound finding, and (with LAG_FINDING instead) a finding of its own
#: when the process was not CPU-bound.
LAG_SHARE = 0.10
LAG_FLOOR = 0.002
LAG_FINDING = 0.25
#: ... and only when the loop's thread waited for a CPU less than this share of the run:
#: each wait is a scheduler slice (4 ms at HZ=250) for which every timer is late, so even
#: a few percent of waiting puts the lag p99 at a slice, whatever the agent does.
LAG_WAIT = 0.02
#: A single stall of the loop longer than this (and above half the measured p99) is named.
STALL_FLOOR = 0.1
#: The loop's thread running or waiting to run this share of one core: CPU-bound.
CPU_SATURATED = 90.0
#: Shorter measured phases are too short to call CPU-bound (a few ms of CPU over a few
#: ms of wall reads 100% for any process).
CPU_MIN_WALL = 0.1
#: The harness's share of a CPU-bound process's CPU above which its figures are doubtful.
#: Below it, the CPU-bound finding states the split (the agent's capacity per core leaves
#: the harness out) and the in-process mock stands in for the socket I/O a deployed agent
#: pays instead (more, over real sockets); above it, the load generator and the mock weigh
#: on the measured throughput about as much as the agent.
HARNESS_SHARE = 1 / 3
#: The loop's thread waiting for a CPU (other processes had it) this share of the run.
STARVED = 0.10
#: Without run-queue figures: the machine's CPUs busier than this (all processes).
MACHINE_BUSY = 95.0
#: Garbage collection worth a finding: this share of the process's CPU, or one pause
#: above GC_PAUSE_FLOOR and LAG_SHARE of the p50 latency.
GC_SHARE = 0.20
GC_PAUSE_FLOOR = 0.005
#: Open loop: achieved below this share of offered, or this share of late starts.
RATE_SHORTFALL = 0.95
LATE_SHARE = 0.05

Gen3 = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Observed:
    """Raw figures a :class:`Monitor` collected."""

    lags: tuple[float, ...]  # every lag, or a uniform sample of them (see ``LAG_SAMPLE``)
    cpu_percent: float  # this process, percent of one core
    machine_percent: float  # all CPUs, percent of the whole machine
    lag_max: float = 0.0  # the largest lag of all (a sample may have left it out)
    loop_percent: float | None = None  # the loop's thread: running + waiting, % of a core
    run_queue_wait: float | None = None  # share of the run the loop's thread waited
    wall: float = 0.0  # seconds monitored
    gc_collections: tuple[int, int, int] = (0, 0, 0)
    gc_pause_max: Gen3 = (0.0, 0.0, 0.0)
    gc_pause_total: Gen3 = (0.0, 0.0, 0.0)
    other_cpu: float | None = None  # other processes' CPU, in cores
    steal: float | None = None  # share of the machine's CPU time stolen (Linux VMs)
    cpus: int | None = None  # the machine's logical CPUs


class Monitor:
    """Samples loop lag, CPU and GC pauses (and drives progress) while a run is in flight."""

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
        self._own_cpu = array("d", [0.0])  # the monitor's own ticks, thread CPU seconds
        self._rng = random.Random(0x1A6)
        self.timeline = CpuTimeline()
        self.gc = GcWatch()
        self._task: asyncio.Task[None] | None = None
        self._cpu0 = 0.0
        self._thread0 = 0.0
        self._sched0: SchedStat | None = None
        self._machine0 = MachineTimes(0.0, 0.0, None)
        self._wall0 = 0.0
        self._paused = False
        self._pause_end = 0.0

    @property
    def own_cpu(self) -> float:
        """CPU seconds the monitor's ticks took so far (thread CPU clock)."""
        return self._own_cpu[0]

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Leave out the lag and GC of what runs inside (memory sampling, a diagnostic round)."""
        self._paused = True
        self.gc.active = False
        try:
            yield
        finally:
            self._paused = False
            self.gc.active = True
            self._pause_end = time.perf_counter()

    def start(self) -> None:
        self._machine0 = _machine_cpu()
        self._sched0 = read_schedstat()
        self._thread0 = time.thread_time()
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()
        self.timeline.force(self._wall0, self._cpu0)
        self.gc.install()
        self._task = asyncio.get_running_loop().create_task(self._sample(), name="agentperf-lag")

    async def stop(self) -> Observed:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.gc.remove()
        now, cpu1 = time.perf_counter(), time.process_time()
        thread1, sched1 = time.thread_time(), read_schedstat()
        self.timeline.force(now, cpu1)
        wall = max(now - self._wall0, 1e-9)
        machine = _machine_cpu().since(self._machine0, own=(cpu1 - self._cpu0) / wall)
        kept = self._lags[: min(self._lag_count[0], LAG_SAMPLE)]
        collections, longest, total = self.gc.figures()
        wait = None
        loop = (thread1 - self._thread0) / wall * 100.0
        if sched1 is not None and self._sched0 is not None:
            waited = max(0.0, sched1.wait - self._sched0.wait)
            wait = waited / wall
            loop += wait * 100.0
        return Observed(
            lags=tuple(kept),
            cpu_percent=(cpu1 - self._cpu0) / wall * 100.0,
            machine_percent=machine.percent,
            lag_max=self._lag_max[0],
            loop_percent=loop,
            run_queue_wait=wait,
            wall=wall,
            gc_collections=collections,
            gc_pause_max=longest,
            gc_pause_total=(total[0], total[1], total[2]),
            other_cpu=machine.other_cpu,
            steal=machine.steal,
            cpus=machine.cpus,
        )

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
        clock, tick, cpu = time.perf_counter, time.thread_time, time.process_time
        own = self._own_cpu
        next_progress = clock() + PROGRESS_EVERY
        last_done, last_t = 0, clock()
        while True:
            before = clock()
            await asyncio.sleep(INTERVAL)
            c0 = tick()
            now = clock()
            if not self._paused and before >= self._pause_end:
                self.record(max(0.0, now - before - INTERVAL))
            self.timeline.add(now, cpu())
            if self._progress is not None and self._status is not None and now >= next_progress:
                done, p95 = self._status()
                rate = (done - last_done) / (now - last_t) if now > last_t else 0.0
                self._progress.update(done, rate, p95)
                last_done, last_t, next_progress = done, now, now + PROGRESS_EVERY
            own[0] += tick() - c0


@dataclass(frozen=True, slots=True)
class MachineCpu:
    """The machine's CPU over a run: all processes, other processes, the hypervisor."""

    percent: float  # busy share of the whole machine (all processes, steal included), %
    other_cpu: float | None  # other processes' CPU, in cores
    steal: float | None  # share of the machine's CPU time stolen by the hypervisor
    cpus: int | None


@dataclass(frozen=True, slots=True)
class MachineTimes:
    """The machine's CPU times (seconds, summed over its CPUs) at one instant."""

    busy: float
    total: float
    steal: float | None  # None: the OS does not report it

    def since(self, before: MachineTimes, *, own: float) -> MachineCpu:
        """The load between ``before`` and now; ``own``: this process's cores meanwhile."""
        total = self.total - before.total
        cpus = psutil.cpu_count() or None
        if total <= 0 or cpus is None:
            return MachineCpu(0.0, None, None, cpus)
        stolen = None
        if self.steal is not None and before.steal is not None:
            stolen = max(0.0, self.steal - before.steal)
        busy = self.busy - before.busy
        # busy cores of this guest's own work (stolen time is not work done here)
        cores = (busy - (stolen or 0.0)) / total * cpus
        return MachineCpu(
            percent=busy / total * 100.0,
            other_cpu=max(0.0, cores - own),
            steal=None if stolen is None else stolen / total,
            cpus=cpus,
        )


def _machine_cpu() -> MachineTimes:
    times = psutil.cpu_times()
    # Linux counts guest time inside user and nice too: leave it out of the sum once.
    total = float(sum(times)) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = float(times.idle + getattr(times, "iowait", 0.0))
    steal = getattr(times, "steal", None)
    return MachineTimes(total - idle, total, None if steal is None else float(steal))


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
    throughput: float = 0.0
    concurrency: int | None = None  # closed loop: workers that ran
    mean_injected_latency: float | None = None  # per task, from the mock
    cpu_per_task: float | None = None  # process CPU / tasks, seconds
    harness_cpu_per_task: float | None = None
    harness_parts: dict[str, float] = field(default_factory=dict)  # per task, by part
    gc_frozen: bool = False  # the harness froze the heap before the measured phase

    @property
    def harness_share(self) -> float | None:
        """The harness's share of the process's CPU (``None``: not attributed)."""
        cpu, harness = self.cpu_per_task, self.harness_cpu_per_task
        return harness / cpu if cpu and harness is not None else None


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The facts every rule reads, worked out once."""

    observed: Observed
    run: RunFigures
    lag_p99: float
    lag_max: float
    cpu_bound: bool  # the loop's thread ran (or waited to run) nearly a whole core
    harness_heavy: bool  # ... and the harness took a large share of it
    starved: bool  # other processes kept the loop's thread waiting

    @property
    def lag_notable(self) -> bool:
        p50 = self.run.latency.p50
        return not math.isnan(p50) and self.lag_p99 > max(LAG_FLOOR, LAG_SHARE * p50)


def assess_harness(observed: Observed, run: RunFigures) -> SelfCheck:
    """The :class:`SelfCheck` of a run: its figures, findings and warnings."""
    lags = sorted(observed.lags)
    lag_p99 = percentile(lags, 0.99) if lags else 0.0
    demand = observed.loop_percent if observed.loop_percent is not None else observed.cpu_percent
    cpu_bound = demand >= CPU_SATURATED and observed.wall >= CPU_MIN_WALL
    share = run.harness_share
    if observed.run_queue_wait is not None:
        starved = observed.run_queue_wait >= STARVED
    else:
        starved = observed.machine_percent >= MACHINE_BUSY
    v = _Verdict(
        observed=observed,
        run=run,
        lag_p99=lag_p99,
        lag_max=max(lags[-1] if lags else 0.0, observed.lag_max),
        cpu_bound=cpu_bound,
        # without an attribution the harness cannot clear itself
        harness_heavy=cpu_bound and (share is None or share >= HARNESS_SHARE),
        starved=starved,
    )
    findings = (_cpu_finding(v), _gc_finding(v), _lag_finding(v))
    warnings = (
        _harness_warning(v),
        _starved_warning(v),
        _stall_warning(v),
        _rate_warning(v),
        _late_warning(v),
    )
    return SelfCheck(
        loop_lag_p99=lag_p99,
        loop_lag_max=v.lag_max,
        cpu_percent=observed.cpu_percent,
        warnings=tuple(w for w in warnings if w),
        findings=tuple(f for f in findings if f),
        run_queue_wait=observed.run_queue_wait,
        harness_cpu=dict(run.harness_parts),
        gc_collections=observed.gc_collections,
        gc_pause_max=observed.gc_pause_max,
        gc_pause_total=observed.gc_pause_total,
        gc_frozen=run.gc_frozen,
        other_cpu=observed.other_cpu,
        steal=observed.steal,
        cpus=observed.cpus,
    )


def merge_selfchecks(checks: Sequence[SelfCheck], tasks: Sequence[int]) -> SelfCheck:
    """The self-check of results run side by side (one per process, ``tasks`` each).

    Lags, CPU share, run-queue wait, other processes' CPU and steal: the worst process's
    (each process sees the others as "other processes"); findings and warnings: every
    one, once; the harness's CPU per task by part: task-weighted; collections and their
    CPU: summed, the longest pause: the longest.
    """
    total = sum(tasks) or 1
    parts: dict[str, float] = {}
    for check, n in zip(checks, tasks, strict=True):
        for name, value in check.harness_cpu.items():
            parts[name] = parts.get(name, 0.0) + value * n / total
    waits = [c.run_queue_wait for c in checks if c.run_queue_wait is not None]

    def worst(values: Iterable[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return max(known) if known else None

    def per_gen(pick: Callable[[SelfCheck], Gen3], how: Callable[[list[float]], float]) -> Gen3:
        return (
            how([pick(c)[0] for c in checks]),
            how([pick(c)[1] for c in checks]),
            how([pick(c)[2] for c in checks]),
        )

    counts = [sum(c.gc_collections[g] for c in checks) for g in range(3)]
    return SelfCheck(
        loop_lag_p99=max(c.loop_lag_p99 for c in checks),
        loop_lag_max=max(c.loop_lag_max for c in checks),
        cpu_percent=max(c.cpu_percent for c in checks),
        warnings=tuple(dict.fromkeys(w for c in checks for w in c.warnings)),
        findings=tuple(dict.fromkeys(f for c in checks for f in c.findings)),
        run_queue_wait=max(waits) if waits else None,
        harness_cpu=parts,
        gc_collections=(counts[0], counts[1], counts[2]),
        gc_pause_max=per_gen(lambda c: c.gc_pause_max, max),
        gc_pause_total=per_gen(lambda c: c.gc_pause_total, math.fsum),
        gc_frozen=all(c.gc_frozen for c in checks),
        other_cpu=worst(c.other_cpu for c in checks),
        steal=worst(c.steal for c in checks),
        cpus=max((c.cpus for c in checks if c.cpus is not None), default=None),
    )


# -- findings: about the system under test ------------------------------------------------


def _us(seconds: float | None) -> str:
    return format_duration(seconds)


def _harness_text(run: RunFigures) -> str:
    parts = ", ".join(  # leaving out parts below half a microsecond (the monitor's, mostly)
        f"{name} {_us(value)}" for name, value in run.harness_parts.items() if value >= 5e-7
    )
    return f"the harness {_us(run.harness_cpu_per_task)}" + (f" ({parts})" if parts else "")


def _ideal(run: RunFigures) -> str:
    if run.offered_rate:
        return f"{format_rate(run.offered_rate)} was offered"
    if run.concurrency and run.mean_injected_latency:
        ideal = run.concurrency / run.mean_injected_latency
        return (
            f"at concurrency {run.concurrency} and {_us(run.mean_injected_latency)} of LLM "
            f"latency the ideal is {format_rate(ideal)}"
        )
    return ""


def _cpu_finding(v: _Verdict) -> str | None:
    run = v.run
    if not v.cpu_bound or v.harness_heavy or not run.cpu_per_task:
        return None
    harness = run.harness_cpu_per_task or 0.0
    agent = run.cpu_per_task - harness
    text = (
        f"CPU-bound: {_us(run.cpu_per_task)} of CPU per task, of which {_harness_text(run)}; "
        f"the agent's {_us(agent)} per task caps it near "
        f"{format_rate(1.0 / agent) if agent > 0 else '-'} per core"
    )
    ideal = _ideal(run)
    text += f"; it ran {format_rate(run.throughput)}" + (f" where {ideal}" if ideal else "")
    if v.lag_notable:
        text += f"; tasks waited for the loop {_us(v.lag_p99)} (p99), included in latency"
    if _shortfall(run) or _late(run):
        text += "; the agent could not keep up with the schedule (the delay is in the latency)"
    return text + "."


def _gc_finding(v: _Verdict) -> str | None:
    o, run = v.observed, v.run
    longest, total = max(o.gc_pause_max), math.fsum(o.gc_pause_total)
    process = (run.cpu_per_task or 0.0) * run.total
    p50 = run.latency.p50
    like_lag = not math.isnan(p50) and longest > max(GC_PAUSE_FLOOR, LAG_SHARE * p50)
    if not (like_lag or (process > 0 and total > GC_SHARE * process) or _gc_stall(v)):
        return None
    gen = o.gc_pause_max.index(longest)
    counts = "/".join(str(c) for c in o.gc_collections)
    share = f" ({total / process:.0%} of the process's CPU)" if process > 0 else ""
    frozen = (
        "; the objects alive before the run were frozen, so these collections walked only "
        "what the run allocated"
        if run.gc_frozen
        else ""
    )
    return (
        f"garbage collection ran {sum(o.gc_collections)} times (generations 0/1/2: {counts}), "
        f"{_us(total)} of CPU in all{share}, the longest {_us(longest)} (generation {gen}), "
        f"during which the event loop stood still{frozen}."
    )


def _gc_stall(v: _Verdict) -> bool:
    """Whether the longest loop stall was a garbage collection (it took most of it)."""
    return _stalled(v) and max(v.observed.gc_pause_max) >= 0.5 * v.lag_max


def _lag_finding(v: _Verdict) -> str | None:
    run, p50 = v.run, v.run.latency.p50
    if v.cpu_bound or v.starved or not v.lag_notable or v.lag_p99 <= LAG_FINDING * p50:
        return None
    if (v.observed.run_queue_wait or 0.0) >= LAG_WAIT:
        return None  # the waits for a CPU explain such a lag
    text = (
        f"event-loop lag p99 was {_us(v.lag_p99)}, {v.lag_p99 / p50:.0%} of the measured p50 "
        f"latency ({_us(p50)}), though the process was not CPU-bound on average: "
    )
    burst = (run.concurrency or 0) * (run.cpu_per_task or 0.0)
    if burst >= v.lag_p99:
        text += (
            f"work arrives in bursts (up to {run.concurrency} tasks ready at once x "
            f"{_us(run.cpu_per_task)} of CPU each = {_us(burst)}), so callbacks queue for the "
            "loop; the latencies include that queueing"
        )
    else:
        text += (
            "callbacks waited for long synchronous stretches (the agent's code between "
            "awaits, or garbage collection); every task in flight then waits, and the "
            "latencies include it"
        )
    return text + "."


# -- warnings: doubts about the harness's own figures -------------------------------------


def _harness_warning(v: _Verdict) -> str | None:
    if not v.harness_heavy:
        return None
    share = v.run.harness_share
    if share is None:
        return (
            f"this process used {v.observed.cpu_percent:.0f}% of a CPU core: the event loop "
            "running both the load generator and the agent was CPU-bound, so throughput and "
            "latency may be limited by the process itself rather than by the system under test"
        )
    return (
        f"the process was CPU-bound and {_harness_text(v.run)} of its "
        f"{_us(v.run.cpu_per_task)} per task ({share:.0%}): the load generator and the mock "
        "limit the measured throughput and latency about as much as the agent does (the "
        "agent's capacity per core leaves them out); spread the load over processes or run "
        "the mock out of process"
    )


def _starved_warning(v: _Verdict) -> str | None:
    if not v.starved:
        return None
    o = v.observed
    if o.run_queue_wait is None:
        return (
            f"the machine's CPUs were {o.machine_percent:.0f}% busy (all processes): other work "
            "competed for the CPU, so timings are noisy; compare ratios measured in the same run"
        )
    return (
        f"other processes kept this process waiting for a CPU {o.run_queue_wait:.0%} of the "
        f"run ({_us(o.run_queue_wait * o.wall)}): latencies are inflated and throughput "
        "deflated by that; compare ratios measured in the same run"
    )


def _stalled(v: _Verdict) -> bool:
    p99 = v.run.latency.p99
    limit = max(STALL_FLOOR, 0.5 * p99) if not math.isnan(p99) else STALL_FLOOR
    return v.lag_max > limit


def _stall_warning(v: _Verdict) -> str | None:
    if not _stalled(v) or _gc_stall(v):
        return None
    return (
        f"the event loop was blocked for {_us(v.lag_max)} at least once, not by garbage "
        f"collection (the longest took {_us(max(v.observed.gc_pause_max))}): a blocking call "
        "in the agent, the test or the harness, or the process waiting for a CPU; every task "
        "in flight then was delayed, which shows in the tail latencies"
    )


def _shortfall(run: RunFigures) -> bool:
    offered, achieved = run.offered_rate, run.achieved_rate
    return bool(offered) and achieved is not None and achieved < RATE_SHORTFALL * (offered or 0)


def _rate_warning(v: _Verdict) -> str | None:
    run = v.run
    if not _shortfall(run) or run.capped or not v.harness_heavy:
        return None  # the system under test could not keep up: that is the measurement
    return (
        f"achieved {format_rate(run.achieved_rate)} of {format_rate(run.offered_rate)} "
        "offered while the process was CPU-bound: the load generator could not keep up, so "
        "the shortfall may be the harness's, not the agent's"
    )


def _late(run: RunFigures) -> bool:
    if run.capped or not run.total or run.late_starts <= LATE_SHARE * run.total:
        return False
    delay, p50 = run.start_delay_p99, run.latency.p50
    return delay > LAG_FLOOR and (math.isnan(p50) or delay > LAG_SHARE * p50)


def _late_warning(v: _Verdict) -> str | None:
    run = v.run
    if not _late(run) or (v.cpu_bound and not v.harness_heavy):
        return None  # CPU-bound by the agent: the CPU finding says so
    return (
        f"{format_fraction(run.late_starts / run.total)} of tasks started more than 1ms after "
        f"their intended start (p99 {_us(run.start_delay_p99)} late) with no concurrency "
        "cap: the event loop could not dispatch on time; latency (from the intended start) "
        "includes that delay"
    )
