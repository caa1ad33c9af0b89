"""One measured phase of a run: workers, task source and arrival schedule (the hot path).

Closed loop: ``concurrency`` worker coroutines pull the next payload and run it, back to
back. Open loop: each worker takes the next *slot* (payload + intended start), sleeps until
that absolute deadline and runs it; with a concurrency cap the pool is fixed, without one
it grows (one new worker whenever no idle worker holds the next slot), so there is no
``create_task`` per task in either mode. Timestamps go straight into :class:`Records`.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pytest_agentperf.errors import LoadConfigError
from pytest_agentperf.stats import Records
from pytest_agentperf.targets import Driver, new_slot

__all__ = ["Arrivals", "PhaseSpec", "TaskSource", "arrival_offsets", "run_phase"]

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


def arrival_offsets(
    rate: float, n: int, arrival: Arrival = "constant", seed: int = 0
) -> list[float]:
    """The first ``n`` intended start offsets of a schedule (for inspection and tests)."""
    arrivals = Arrivals(rate, arrival, seed)
    return [arrivals.next() for _ in range(n)]


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
    start: float
    end: float


class _Phase:
    """State shared by the workers of one phase."""

    def __init__(self, driver: Driver, source: TaskSource, spec: PhaseSpec, rec: Records) -> None:
        self.driver = driver
        self.source = source
        self.spec = spec
        self.rec = rec
        self.remaining = spec.count if spec.count is not None else math.inf
        self.deadline = math.inf
        self.waiting = 0
        self.exhausted = False
        self.arrivals = Arrivals(spec.rate, spec.arrival, spec.seed) if spec.rate else None
        self.workers: list[asyncio.Task[None]] = []
        self.start = 0.0

    # -- closed loop ------------------------------------------------------------------

    def take(self) -> Any:
        if self.remaining <= 0 or time.perf_counter() >= self.deadline:
            return _END
        self.remaining -= 1
        return self.source.next()

    async def closed_worker(self) -> None:
        call, judge, rec, clock = self.driver.call, self.driver.judge, self.rec, time.perf_counter
        take, slot, nan = self.take, new_slot(), math.nan
        while (payload := take()) is not _END:
            slot[0] = nan
            t0 = clock()
            try:
                result = await call(payload)
            except Exception as exc:
                rec.add(t0, t0, slot[0], clock(), rec.error_code(type(exc).__name__))
                continue
            t1 = clock()
            if judge is None:
                rec.add(t0, t0, slot[0], t1, 0)
            else:
                self.judged(result, t0, t0, slot[0], t1)

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
        sleep, slot, nan, elastic = (
            asyncio.sleep,
            new_slot(),
            math.nan,
            self.spec.concurrency is None,
        )
        while (item := self.take_slot()) is not None:
            payload, intended = item
            delay = intended - clock()
            if delay > 0:
                await sleep(delay)
            slot[0] = nan
            t0 = clock()
            self.waiting -= 1
            if elastic and self.waiting == 0 and not self.exhausted and self.remaining > 0:
                self.spawn(self.open_worker)
            try:
                result = await call(payload)
            except Exception as exc:
                rec.add(intended, t0, slot[0], clock(), rec.error_code(type(exc).__name__))
                continue
            t1 = clock()
            if judge is None:
                rec.add(intended, t0, slot[0], t1, 0)
            else:
                self.judged(result, intended, t0, slot[0], t1)

    def spawn(self, worker: Callable[[], Any]) -> None:
        self.workers.append(asyncio.get_running_loop().create_task(worker()))

    async def run(self) -> PhaseTimes:
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
        return PhaseTimes(self.start, time.perf_counter())

    async def join(self) -> None:
        done = 0
        try:
            while done < len(self.workers):
                batch = self.workers[done:]
                await asyncio.gather(*batch)
                done += len(batch)
        finally:
            for task in self.workers:
                task.cancel()


async def run_phase(
    driver: Driver, source: TaskSource, spec: PhaseSpec, rec: Records
) -> PhaseTimes:
    """Run one phase to completion, recording every task in ``rec``."""
    return await _Phase(driver, source, spec, rec).run()
