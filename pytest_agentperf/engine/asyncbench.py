"""Async-correct micro-benchmarks that land in pytest-benchmark's own table and JSON.

``benchmark(coro_fn)`` times *creating* a coroutine (the call returns at once and the
coroutine is never run). :class:`AsyncBenchmark` wraps the ``benchmark`` fixture and times
``await coro_fn(*args)`` inside the running event loop, with pytest-benchmark's own
calibration (loops per round so a round outlasts the timer's precision), rounds, warm-up,
``--benchmark-disable-gc`` and timer; the timings go into the fixture's own stats object,
so ``--benchmark-json``, ``--benchmark-autosave`` and ``--benchmark-compare`` see them as
any other benchmark::

    @pytest.mark.asyncio
    async def test_parse(async_benchmark):
        result = await async_benchmark(parse_reply, raw)

Each round awaits the coroutine function ``iterations`` times back to back, so a
coroutine that suspends includes the event loop's scheduling of its wake-ups (that is
what it costs in production); one that never suspends costs only its own code.
"""

from __future__ import annotations

import gc
import inspect
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pytest_agentperf.errors import LoadConfigError, StateError, TargetError

__all__ = ["AsyncBenchmark", "make_async_benchmark"]

CoroFn = Callable[..., Awaitable[Any]]


class AsyncBenchmark:
    """``await async_benchmark(coro_fn, *args, **kwargs)`` -> the coroutine's result."""

    def __init__(self, fixture: Any) -> None:
        self._fixture = fixture

    @property
    def fixture(self) -> Any:
        """The wrapped pytest-benchmark ``BenchmarkFixture`` (``extra_info``, ``group``...)."""
        return self._fixture

    @property
    def extra_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self._fixture.extra_info
        return info

    async def __call__(self, fn: CoroFn, *args: Any, **kwargs: Any) -> Any:
        """Calibrate, warm up and time ``await fn(*args, **kwargs)``; return its result."""
        self._claim(fn, "async_benchmark(...)")
        try:
            if not self._fixture.disabled:
                await self._measure(fn, args, kwargs)
            return await fn(*args, **kwargs)
        except Exception:
            self._fixture.has_error = True
            raise

    async def pedantic(
        self,
        fn: CoroFn,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        rounds: int = 1,
        warmup_rounds: int = 0,
        iterations: int = 1,
    ) -> Any:
        """Exactly ``rounds`` x ``iterations`` awaits, as ``benchmark.pedantic``."""
        self._claim(fn, "async_benchmark.pedantic(...)")
        kwargs = kwargs or {}
        if min(rounds, iterations) < 1 or warmup_rounds < 0:
            raise LoadConfigError(
                "pedantic() needs rounds >= 1, iterations >= 1, warmup_rounds >= 0."
            )
        try:
            if not self._fixture.disabled:
                runner = self._runner(fn, args, kwargs)
                for _ in range(warmup_rounds):
                    await runner(iterations)
                stats = self._fixture._make_stats(iterations)
                for _ in range(rounds):
                    stats.update(await runner(iterations))
            return await fn(*args, **kwargs)
        except Exception:
            self._fixture.has_error = True
            raise

    def _claim(self, fn: object, mode: str) -> None:
        fixture = self._fixture
        if fixture._mode:
            fixture.has_error = True
            raise StateError(
                f"The benchmark fixture can be used only once per test; it was already used "
                f"in {fixture._mode} mode."
            )
        if inspect.iscoroutine(fn):
            fn.close()
            raise TargetError(
                "async_benchmark() got a coroutine object: pass the coroutine function and "
                "its arguments, e.g. 'await async_benchmark(fetch, url)', not fetch(url)."
            )
        if not callable(fn):
            raise TargetError(f"async_benchmark() needs an async function, got {fn!r}.")
        fixture._mode = mode

    def _runner(
        self, fn: CoroFn, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Callable[[int], Awaitable[float]]:
        timer: Callable[[], float] = self._fixture._timer
        disable_gc = bool(self._fixture._disable_gc)

        async def runner(loops: int) -> float:
            gc_was_enabled = gc.isenabled()
            if disable_gc:
                gc.disable()
            try:
                start = timer()
                for _ in range(loops):
                    await fn(*args, **kwargs)
                return timer() - start
            finally:
                if gc_was_enabled:
                    gc.enable()

        return runner

    async def _measure(self, fn: CoroFn, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        fx = self._fixture
        runner = self._runner(fn, args, kwargs)
        duration, loops = await self._calibrate(runner)
        rounds = max(math.ceil(fx._max_time / duration), fx._min_rounds) if duration else 1
        stats = fx._make_stats(loops)
        if fx._warmup:
            for _ in range(min(rounds, max(1, int(fx._warmup / loops)))):
                await runner(loops)
        if fx._precision is None:
            for _ in range(rounds):
                stats.update(await runner(loops))
        else:
            await self._until_precise(runner, loops, stats, rounds)

    async def _calibrate(self, runner: Callable[[int], Awaitable[float]]) -> tuple[float, int]:
        """pytest-benchmark's calibration: grow loops until a round outlasts ``min_time``."""
        fx = self._fixture
        precision = fx._get_precision(fx._timer)
        min_time = max(fx._min_time, precision * fx._calibration_precision)
        estimate_at = min_time * 5 / fx._calibration_precision
        loops = 1
        while True:
            duration = await runner(loops)
            if fx._warmup:
                began, done = time.time(), 0
                while time.time() - began < fx._max_time and done < fx._warmup:
                    duration = min(duration, await runner(loops))
                    done += loops
            if duration >= min_time:
                return duration, loops
            if duration >= estimate_at:
                loops = math.ceil(min_time * loops / duration)
                if loops == 1:
                    return duration, loops
            else:
                loops *= 10

    async def _until_precise(
        self, runner: Callable[[int], Awaitable[float]], loops: int, stats: Any, max_rounds: int
    ) -> None:
        """Stop early once the mean is known to ``--benchmark-precision`` (Welford)."""
        fx = self._fixture
        z = statistics.NormalDist().inv_cdf(0.5 + fx._confidence / 2)
        mean = m2 = 0.0
        for n in range(1, max_rounds + 1):
            duration = await runner(loops)
            stats.update(duration)
            delta = duration - mean
            mean += delta / n
            m2 += delta * (duration - mean)
            if n >= max(fx._min_rounds, 2) and mean > 0:
                margin = z * math.sqrt(m2 / (n - 1)) / math.sqrt(n) / mean
                if margin <= fx._precision:
                    return


def make_async_benchmark(benchmark_fixture: Any) -> AsyncBenchmark:
    """The ``async_benchmark`` fixture's value, built from pytest-benchmark's ``benchmark``."""
    return AsyncBenchmark(benchmark_fixture)
