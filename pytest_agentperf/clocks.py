"""The thread CPU clock, sampled: how the harness times its own work (engine and mock).

The harness's CPU in the agent's process is charged to the harness, not the agent, so the
engine and the mock time their own work on the calling thread's CPU clock
(``time.thread_time``, ``CLOCK_THREAD_CPUTIME_ID``): exact whatever else runs on the
machine (a wall clock would count the time the process waited for a CPU), but a system
call, ~0.7 µs on a KVM guest. So hot paths time one occurrence in :data:`SAMPLE_EVERY` and
scale the mean to all of them, and the clock's own cost inside a timed region (measured
once per process, :func:`clock_overhead`) is subtracted.

Garbage collection is left out of every timed region: a collection runs inside whatever
allocation crosses the threshold, and one 8 ms collection in one timed occurrence of 16
would be scaled to 128 ms. While the engine watches a run it adds the thread CPU of every
collection to :data:`GC_CPU` (exactly, not sampled), and regions subtract what accrued
there meanwhile; the collections themselves are the run's own figure.

:class:`SampledCpu` does this for work that spans awaits (the mock's reply to one request):
:meth:`SampledCpu.timed` wraps an awaitable so that each of its steps (from a resumption
to the next suspension) is timed, and what it awaits (a timer, the network) is not.
"""

from __future__ import annotations

import statistics
import time
from array import array
from collections.abc import Awaitable, Generator
from typing import Any, TypeVar

__all__ = ["GC_CPU", "SAMPLE_EVERY", "SAMPLE_MASK", "SampledCpu", "clock_overhead"]

T = TypeVar("T")

#: Hot paths time one occurrence in this many (a power of two).
SAMPLE_EVERY = 16
SAMPLE_MASK = SAMPLE_EVERY - 1

#: Thread CPU seconds spent in garbage collections so far, while the engine watched.
GC_CPU = array("d", [0.0])

_OVERHEAD: list[float] = []


def clock_overhead() -> float:
    """What one ``thread_time()`` pair adds to the region it times, in seconds (cached).

    The median of back-to-back pairs: each timed region contains the tail of its first
    call and the head of its second, which is one call's cost.
    """
    if not _OVERHEAD:
        tick = time.thread_time
        pairs = []
        for _ in range(301):
            c0 = tick()
            pairs.append(tick() - c0)
        _OVERHEAD.append(max(0.0, statistics.median(pairs)))
    return _OVERHEAD[0]


class SampledCpu:
    """CPU seconds of one kind of work, timed on one occurrence in ``every``.

    ``due()`` is called once per occurrence and says whether to time it; the timed ones go
    through ``timed(awaitable)`` (or ``add(seconds)``); :attr:`total` scales their CPU to
    every occurrence. Plain numbers in slots: an update replaces one, nothing grows.
    """

    __slots__ = ("cpu", "mask", "seen", "timed_count")

    def __init__(self, every: int = SAMPLE_EVERY) -> None:
        if every < 1 or every & (every - 1):
            raise ValueError(f"SampledCpu(every={every!r}): use a power of two")
        self.mask = every - 1
        self.cpu = 0.0  # CPU seconds of the timed occurrences
        self.timed_count = 0
        self.seen = 0

    def due(self) -> bool:
        """Count one occurrence; whether it is one to time."""
        seen = self.seen
        self.seen = seen + 1
        if seen & self.mask:
            return False
        self.timed_count += 1
        return True

    def add(self, seconds: float) -> None:
        """Add the CPU of (a part of) a timed occurrence."""
        self.cpu += seconds

    def timed(self, awaitable: Awaitable[T]) -> Awaitable[T]:
        """``awaitable``, with each of its steps timed on the thread CPU clock."""
        return _Timed(awaitable, self)

    @property
    def total(self) -> float:
        """CPU seconds of every occurrence so far (the timed ones' mean x all of them)."""
        return self.cpu * self.seen / self.timed_count if self.timed_count else 0.0


class _Timed(Awaitable[T]):
    """Drives an awaitable step by step, adding each step's thread CPU to ``meter``."""

    __slots__ = ("_inner", "_meter")

    def __init__(self, inner: Awaitable[T], meter: SampledCpu) -> None:
        self._inner = inner
        self._meter = meter

    def __await__(self) -> Generator[Any, Any, T]:
        steps = self._inner.__await__()
        tick, meter, overhead, gc_cpu = time.thread_time, self._meter, clock_overhead(), GC_CPU
        value: Any = None
        error: BaseException | None = None
        while True:
            g0 = gc_cpu[0]
            c0 = tick()
            try:
                out = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as stop:
                meter.cpu += tick() - c0 - overhead - (gc_cpu[0] - g0)
                return stop.value  # type: ignore[no-any-return]
            except BaseException:
                meter.cpu += tick() - c0 - overhead - (gc_cpu[0] - g0)
                raise
            meter.cpu += tick() - c0 - overhead - (gc_cpu[0] - g0)
            try:
                value, error = (yield out), None
            except BaseException as exc:  # a cancellation, thrown in by the task
                value, error = None, exc
