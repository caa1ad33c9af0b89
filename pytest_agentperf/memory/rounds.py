"""Standalone use of a tracker: a loop of your own, measured in rounds."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator, Iterator
from types import TracebackType

from pytest_agentperf.errors import MemoryConfigError, StateError
from pytest_agentperf.protocols import RoundSampler
from pytest_agentperf.result import MemoryReport

__all__ = ["Rounds", "run_rounds_async", "run_rounds_sync"]


class Rounds:
    """Yields round sizes; between them (nothing in flight) the tracker samples.

    Run exactly ``size`` tasks per round, to completion. When a leak was found, one more
    round is yielded under tracemalloc for the diagnosis. ``report`` is set when the loop
    ends (or the ``with`` block exits early: then it covers the rounds run so far).
    """

    def __init__(self, tracker: RoundSampler, n: int) -> None:
        if n < 0:
            raise MemoryConfigError(f"memory_tracker.rounds(n={n!r}): n must be >= 0")
        self.tracker = tracker
        self.n = n
        self.report: MemoryReport | None = None
        self._gen: Generator[int, None, None] | None = None

    def __iter__(self) -> Iterator[int]:
        if self._gen is not None:
            raise StateError("memory_tracker.rounds(...) can be iterated only once.")
        self._gen = self._run()
        return self._gen

    def _run(self) -> Generator[int, None, None]:
        plan = self.tracker.plan(self.n)
        self.tracker.sample(0, warmup=True)
        done = 0
        for size, warm in plan:
            yield size
            done += size
            self.tracker.sample(done, warmup=warm)
        diagnosis = self.tracker.diagnostic_round()
        if diagnosis is not None and plan:
            with diagnosis:
                yield plan[-1][0]
        self.report = self.tracker.report()

    def _finish(self) -> None:
        if self._gen is not None:
            self._gen.close()  # leaves the diagnostic context if the loop stopped inside it
        if self.report is None:
            self.report = self.tracker.report()

    def __enter__(self) -> Rounds:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish()

    async def __aenter__(self) -> Rounds:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish()


async def run_rounds_async(
    tracker: RoundSampler,
    fn: Callable[[int], Awaitable[object] | object],
    *,
    n: int,
    concurrency: int = 1,
) -> MemoryReport:
    """Call ``fn(i)`` for ``i`` in ``range(n)`` with ``concurrency`` workers, in rounds."""
    if concurrency < 1:
        raise MemoryConfigError(f"memory_tracker.track(concurrency={concurrency!r}): use 1 or more")
    start = 0
    with Rounds(tracker, n) as rounds:
        for size in rounds:
            indices = iter(range(start, start + size))
            start += size

            async def worker(indices: Iterator[int] = indices) -> None:
                for i in indices:
                    result = fn(i)
                    if inspect.isawaitable(result):
                        await result

            await asyncio.gather(*(worker() for _ in range(min(concurrency, size))))
    assert rounds.report is not None
    return rounds.report


def run_rounds_sync(tracker: RoundSampler, fn: Callable[[int], object], *, n: int) -> MemoryReport:
    """Call ``fn(i)`` for ``i`` in ``range(n)``, in rounds."""
    start = 0
    with Rounds(tracker, n) as rounds:
        for size in rounds:
            for i in range(start, start + size):
                fn(i)
            start += size
    assert rounds.report is not None
    return rounds.report
