"""One measured phase of a run: workers, task source and arrival schedule (the hot path).

Closed loop: ``concurrency`` worker coroutines pull the next payload and run it, back to
back. Open loop: each worker takes the next *slot* (payload + intended start), sleeps until
that absolute deadline and runs it; with a concurrency cap the pool is fixed, without one
it grows (one new worker whenever no idle worker holds the next slot), so there is no
``create_task`` per task in either mode. Timestamps go straight into :class:`TaskRecords`.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pytest_agentperf.clocks import GC_CPU, SAMPLE_MASK, clock_overhead
from pytest_agentperf.engine.targets import Driver, new_slot
from pytest_agentperf.engine.task_records import TaskRecords
from pytest_agentperf.errors import LoadConfigError

__all__ = ["Arrivals", "PhaseSpec", "PhaseTimes", "TaskSource", "run_phase"]

Arrival = Literal["constant", "poisson"]
_END: Any = object()


class TaskSource:
    """One stream of payloads for a whole run (warm-up, rounds and measured phase).

    ``tasks`` is ``None`` (payload = index), a sequence (cycled by index), a factory
    ``f(i)``, or any other iterable (consumed; the run ends when it is exhausted).
    """

    def __init__(self, tasks: object) -> None:
        self.index = 0
        self.length: int | None = None
        self._seq: Sequence[Any] | None = None
        self._iter: Iterator[Any] | None = None
        self._factory: Callable[[int], Any] | None = None
        if tasks is None:
            pass
        elif isinstance(tasks, str | bytes):
            raise LoadConfigError(_TASKS_HELP.format(got=f"a string {tasks!r:.40}"))
        elif isinstance(tasks, Sequence):
            if not tasks:
                raise LoadConfigError(_TASKS_HELP.format(got="an empty sequence"))
            self._seq, self.length = tasks, len(tasks)
        elif callable(tasks):
            self._factory = tasks
        elif isinstance(tasks, Iterable):
            self._iter = iter(tasks)
        else:
            raise LoadConfigError(_TASKS_HELP.format(got=f"{type(tasks).__qualname__}"))

    @property
    def is_factory(self) -> bool:
        return self._seq is None and self._iter is None

    @property
    def finite(self) -> bool:
        return self._iter is not None

    def next(self) -> Any:
        """The next payload, or the end marker when an iterable is exhausted."""
        i = self.index
        self.index = i + 1
        if self._seq is not None:
            return self._seq[i % len(self._seq)]
        if self._iter is not None:
            return next(self._iter, _END)
        if self._factory is not None:
            return self._factory(i)
        return i


_TASKS_HELP = (
    "tasks= got {got}: pass a list of payloads, an iterable, a factory f(i) -> payload, "
    "or nothing (with n=...: the payload is the task index)"
)


class Arrivals:
    """Intended start offsets (seconds from phase start): constant or seeded Poisson."""

    def __init__(self, rate: float, arrival: Arrival, seed: int | None) -> None:
        self.rate = rate
        self.poisson = arrival == "poisson"
        self._rng = random.Random(seed)
        self._k = 0
        self._t = 0.0

    def next(self) -> float:
        k = self._k
        self._k = k + 1
        if self.poisson:
            t = self._t
            self._t = t + self._rng.expovariate(self.rate)
            return t
        return k / self.rate


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    """What to run in one phase."""

    count: int | None  # tasks; None: until the duration ends (or the source does)
    duration: float | None
    concurrency: int | None  # closed loop: workers; open loop: cap (None = no cap)
    rate: float | None = None  # open loop when set
    arrival: Arrival = "constant"
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class PhaseTimes:
    """When a phase ran, how many workers it had and (open loop) when its last task started.

    ``start`` is also the first intended start of an open loop (the schedule's offset 0).
    """

    start: float
    end: float
    workers: int = 1  # worker coroutines started (closed loop: min(concurrency, count))
    last_start: float = math.nan  # open loop: the latest actual start of a task
    first_idle: float = math.nan  # closed loop: when a worker first found no task left


class _Phase:
    """State shared by the workers of one phase."""

    def __init__(
        self, driver: Driver, source: TaskSource, spec: PhaseSpec, rec: TaskRecords
    ) -> None:
        self.driver = driver
        self.source = source
        self.spec = spec
        self.rec = rec
        self.remaining = spec.count if spec.count is not None else math.inf
        self.deadline = math.inf
        self.timed = spec.duration is not None  # only then does take() read the clock
        self.waiting = 0
        self.exhausted = False
        self.arrivals = Arrivals(spec.rate, spec.arrival, spec.seed) if spec.rate else None
        self.workers: list[asyncio.Task[None]] = []
        self.live = 0  # workers not finished yet
        self.failure: asyncio.Task[None] | None = None  # the first worker that failed
        self.finished: asyncio.Future[None] | None = None  # set: all done, or one failed
        self.start = 0.0
        self.last_start = math.nan
        self.first_idle = math.nan

    # -- closed loop ------------------------------------------------------------------

    def take(self) -> Any:
        if self.remaining <= 0 or (self.timed and time.perf_counter() >= self.deadline):
            if self.first_idle != self.first_idle:  # NaN: the first worker to run dry
                self.first_idle = time.perf_counter()
            return _END
        self.remaining -= 1
        return self.source.next()

    async def closed_worker(self) -> None:
        call, judge, rec, clock = self.driver.call, self.driver.judge, self.rec, time.perf_counter
        take, slot, nan, me = self.take, new_slot(), math.nan, asyncio.current_task()
        tick, cpu, overhead, gc_cpu = time.thread_time, rec.harness_cpu, clock_overhead(), GC_CPU
        payload = take()
        while payload is not _END:
            slot[0] = nan
            t0 = clock()
            try:
                result = await call(payload)
            except Exception as exc:
                rec.add(t0, t0, slot[0], clock(), rec.error_code(type(exc).__name__))
                payload = take()
                continue
            except asyncio.CancelledError:
                if _cancelled(me):
                    raise  # the worker itself is being cancelled: stop
                # the target raised it on its own (e.g. a cancelled inner task): its failure
                rec.add(t0, t0, slot[0], clock(), rec.error_code("CancelledError"))
                payload = take()
                continue
            t1 = clock()
            # One task in SAMPLE_EVERY times the engine's own work on its thread CPU clock:
            # recording this task and taking the next payload (the task factory included).
            timed = not rec.count & SAMPLE_MASK
            g0 = gc_cpu[0]
            c0 = tick() if timed else 0.0
            if judge is None:
                rec.add(t0, t0, slot[0], t1, 0)
            else:
                self.judged(result, t0, t0, slot[0], t1)
            payload = take()
            if timed:
                cpu[0] += tick() - c0 - overhead - (gc_cpu[0] - g0)  # GC: not the engine's
                cpu[1] += 1.0

    def judged(self, result: Any, intended: float, t0: float, first: float, t1: float) -> None:
        """Record an agent's ``TaskResult`` (status decides success; timings give TTFT)."""
        assert self.driver.judge is not None
        error = self.driver.judge(result)
        if first != first and self.driver.first_token_of is not None:
            first = t0 + self.driver.first_token_of(result)  # NaN stays NaN
        self.rec.add(intended, t0, first, t1, self.rec.error_code(error) if error else 0)

    # -- open loop --------------------------------------------------------------------

    def take_slot(self) -> tuple[Any, float] | None:
        assert self.arrivals is not None
        if self.remaining <= 0 or self.exhausted:
            return None
        intended = self.start + self.arrivals.next()
        if intended >= self.deadline:
            self.exhausted = True
            return None
        payload = self.source.next()
        if payload is _END:
            self.exhausted = True
            return None
        self.remaining -= 1
        self.waiting += 1
        return payload, intended

    async def open_worker(self) -> None:
        call, judge, rec, clock = self.driver.call, self.driver.judge, self.rec, time.perf_counter
        sleep, slot, nan, me = asyncio.sleep, new_slot(), math.nan, asyncio.current_task()
        elastic = self.spec.concurrency is None
        tick, cpu, overhead, gc_cpu = time.thread_time, rec.harness_cpu, clock_overhead(), GC_CPU
        item = self.take_slot()
        while item is not None:
            payload, intended = item
            delay = intended - clock()
            if delay > 0:
                await sleep(delay)
            self.waiting -= 1
            if elastic and self.waiting == 0 and not self.exhausted and self.remaining > 0:
                self.spawn(self.open_worker)  # before t0: not part of this task's service time
            slot[0] = nan
            self.last_start = t0 = clock()
            try:
                result = await call(payload)
            except Exception as exc:
                rec.add(intended, t0, slot[0], clock(), rec.error_code(type(exc).__name__))
                item = self.take_slot()
                continue
            except asyncio.CancelledError:
                if _cancelled(me):
                    raise
                rec.add(intended, t0, slot[0], clock(), rec.error_code("CancelledError"))
                item = self.take_slot()
                continue
            t1 = clock()
            timed = not rec.count & SAMPLE_MASK  # as in the closed loop
            g0 = gc_cpu[0]
            c0 = tick() if timed else 0.0
            if judge is None:
                rec.add(intended, t0, slot[0], t1, 0)
            else:
                self.judged(result, intended, t0, slot[0], t1)
            item = self.take_slot()
            if timed:
                cpu[0] += tick() - c0 - overhead - (gc_cpu[0] - g0)  # GC: not the engine's
                cpu[1] += 1.0

    def spawn(self, worker: Callable[[], Any]) -> None:
        task = asyncio.get_running_loop().create_task(worker())
        self.live += 1
        task.add_done_callback(self._worker_done)
        self.workers.append(task)

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        self.live -= 1
        failed = task.cancelled() or task.exception() is not None  # (marks it retrieved)
        if failed and self.failure is None:
            self.failure = task
        elif self.live:
            return
        if self.finished is not None and not self.finished.done():
            self.finished.set_result(None)

    async def run(self) -> PhaseTimes:
        self.finished = asyncio.get_running_loop().create_future()
        self.start = time.perf_counter()
        if self.spec.duration is not None:
            self.deadline = self.start + self.spec.duration
        if self.arrivals is None:
            pool = self.spec.concurrency or 1
            if self.spec.count is not None:
                pool = max(1, min(pool, self.spec.count))
            for _ in range(pool):
                self.spawn(self.closed_worker)
        else:
            for _ in range(self.spec.concurrency or 1):
                self.spawn(self.open_worker)
        await self.join()
        end = time.perf_counter()
        return PhaseTimes(self.start, end, len(self.workers), self.last_start, self.first_idle)

    async def join(self) -> None:
        """Wait until every worker is done (the open-loop pool may grow meanwhile) or one
        fails; then re-raise that failure, after cancelling and awaiting the others.

        One future set by the workers' done callbacks, rather than ``gather``: a worker
        spawned later is watched too, and on CPython 3.11 ``gather`` leaves blocks behind
        (up to ~150 over its first few hundred calls in a process), which a memory run, one
        phase per round, would count as the workload's growth.
        """
        assert self.finished is not None
        try:
            await self.finished
            if self.failure is not None:
                self.failure.result()  # its exception, or its cancellation
        finally:
            pending = [task for task in self.workers if not task.done()]
            for task in pending:
                task.cancel()
            if pending:  # no worker is left running (or pending) after the phase
                await asyncio.gather(*pending, return_exceptions=True)


def _cancelled(task: asyncio.Task[Any] | None) -> bool:
    """Whether ``task`` is being cancelled (not: a CancelledError merely passed through it)."""
    return task is None or task.cancelling() > 0


async def run_phase(
    driver: Driver, source: TaskSource, spec: PhaseSpec, rec: TaskRecords
) -> PhaseTimes:
    """Run one phase to completion, recording every task in ``rec``."""
    return await _Phase(driver, source, spec, rec).run()
