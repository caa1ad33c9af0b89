"""``MemoryTracker``: measures a workload's memory growth per task, in rounds.

The load engine drives it through the :class:`RoundSampler` protocol; users can drive it
themselves (:meth:`MemoryTracker.rounds`, :meth:`MemoryTracker.track`).

Method. The work is split into warm-up rounds and measured rounds. Between rounds, with
nothing in flight, the sampler calls the reset hooks (the mock LLM's ``reset_history``),
runs ``gc.collect()`` and reads the process: RSS, private anonymous memory (Linux), USS and
``sys.getallocatedblocks()``. Two lines are fitted by least squares against tasks done, over
the last warm-up sample and the measured ones:

* bytes (private anonymous memory on Linux): *how much* grows. Not USS: USS drops by
  megabytes when another process maps the same shared libraries, and not RSS: RSS grows when
  new library code is paged in.
* allocated blocks: *whether* Python objects accumulate. Exact, but blind to sizes.

A leak is called when either line has a 95% interval wholly above zero **and** its size is
above the measurement's resolution: the fitted bytes growth is at least ``min_growth``
(256 KiB by default: a clean agent's heap creeps by ~50-80 KiB, then stops), or objects
accumulate at ``min_blocks_per_task`` or more (0.05: one object kept per 20 tasks) and at
least ``MIN_BLOCKS_GROWTH`` (32) objects in all, so a block or two of bookkeeping per round
is not a leak in a short run. And the growth must persist: over the second half of the
measured rounds the slope must still be significant (its interval above zero) and at least
half of the whole run's, because a bounded structure that fills up during the run (a cache
of 1,024 entries, a latency reservoir of 4,096 samples) grows and then levels off, while a
leak keeps growing.
"""

from __future__ import annotations

import functools
import gc
import time
import weakref
from array import array
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from typing import Literal

from pytest_agentperf.errors import MemoryConfigError
from pytest_agentperf.memory.diagnose import Diagnosis
from pytest_agentperf.memory.fit import SlopeFit, fit_slope
from pytest_agentperf.memory.probe import Probe, peak_rss
from pytest_agentperf.memory.rounds import Rounds, run_rounds_async, run_rounds_sync
from pytest_agentperf.result import MemoryReport, MemorySample
from pytest_agentperf.units import format_bytes, parse_bytes

__all__ = ["MemoryTracker"]

PERSIST_FRACTION = 0.5  # second-half slope / whole-run slope below this: growth stopped
PERSIST_MIN_SAMPLES = 3  # the second half needs this many samples to judge persistence
# Objects a run must accumulate in all before blocks alone call a leak: the engine and
# asyncio keep about one block per round alive between samples, which over short rounds
# (n=300: 30 tasks each) reads as 0.05 blocks/task while nothing is kept per task.
MIN_BLOCKS_GROWTH = 32

_MIB = 1024.0 * 1024.0


def _persists(late: SlopeFit, whole: SlopeFit) -> bool:
    """Whether growth goes on in the second half: significant there too, at half the rate."""
    return late.excludes_zero and late.slope >= PERSIST_FRACTION * whole.slope


class _Series:
    """Preallocated columns, so that sampling leaves no Python object behind."""

    __slots__ = ("anon", "blocks", "n", "rss", "tasks", "uss", "warmup")

    def __init__(self, capacity: int) -> None:
        self.n = 0
        self.tasks = array("q", bytes(8 * capacity))
        self.rss = array("q", bytes(8 * capacity))
        self.anon = array("q", bytes(8 * capacity))
        self.uss = array("q", bytes(8 * capacity))
        self.blocks = array("q", bytes(8 * capacity))
        self.warmup = array("b", bytes(capacity))

    def append(self, tasks: int, rss: int, anon: int, uss: int, blocks: int, warm: bool) -> None:
        if self.n == len(self.tasks):  # more samples than planned: grow (rare, allowed)
            for column in (self.tasks, self.rss, self.anon, self.uss, self.blocks):
                column.extend(array("q", bytes(64)))
            self.warmup.extend(array("b", bytes(8)))
        i = self.n
        self.tasks[i], self.rss[i], self.anon[i] = tasks, rss, anon
        self.uss[i], self.blocks[i], self.warmup[i] = uss, blocks, int(warm)
        self.n = i + 1

    def window(self) -> range:
        """The samples the fit uses: the last warm-up sample and every measured one after it."""
        first_measured = next((i for i in range(self.n) if not self.warmup[i]), None)
        if first_measured is None:
            return range(0)
        return range(max(first_measured - 1, 0), self.n)


class MemoryTracker:
    """Samples memory between rounds of a workload and fits its growth per task.

    One tracker per test (the ``memory_tracker`` fixture builds one); each :meth:`plan`
    starts a new measurement. Nothing is shared between processes, so it works unchanged in
    every pytest-xdist worker.

    Args:
        rounds: measured rounds (8 -> 9 points in the fit, with the last warm-up sample).
        warmup_rounds: rounds run first and left out of the fit (caches, pools, lazy imports).
        min_round_tasks: smallest round; fewer tasks mean fewer rounds (at least 3 measured).
        reset: callables run before every sample (e.g. ``mock_llm.reset_history``).
        diagnose: run the tracemalloc pass after the measured run when a leak was found.
        min_growth: bytes growth under this is never called a leak ("256KB" or bytes).
        min_blocks_per_task: allocated-block growth under this is never called a leak.
        confidence: of the slope intervals.
        uss: when to read USS: ``"ends"`` (first and last sample, default), ``"all"`` or
            ``"none"``. It costs 0.1-1 ms per reading on Linux, 90% of the sampler's time,
            and is recorded, not fitted there (on Windows, where it is fitted: always).
        top: allocation sites shown in the diagnosis.
        freeze_gc: ``gc.freeze()`` the objects that exist at the first sample, until the last
            sample, so that each ``gc.collect()`` walks only what the run created: 10-12 ms
            -> ~0.1 ms per sample in a process holding pytest and httpx (42k objects).
            Skipped when something else has frozen objects already.
    """

    def __init__(
        self,
        *,
        rounds: int = 8,
        warmup_rounds: int = 2,
        min_round_tasks: int = 25,
        reset: Iterable[Callable[[], object]] = (),
        diagnose: bool = True,
        min_growth: str | float = "256KB",
        min_blocks_per_task: float = 0.05,
        confidence: float = 0.95,
        uss: Literal["ends", "all", "none"] = "ends",
        top: int = 5,
        freeze_gc: bool = True,
    ) -> None:
        if rounds < 3:
            raise MemoryConfigError(
                f"MemoryTracker(rounds={rounds!r}): a fit needs at least 3 rounds"
            )
        if warmup_rounds < 0 or min_round_tasks < 1:
            raise MemoryConfigError(
                f"MemoryTracker(warmup_rounds={warmup_rounds!r}, min_round_tasks="
                f"{min_round_tasks!r}): use warmup_rounds >= 0 and min_round_tasks >= 1"
            )
        if uss not in ("ends", "all", "none"):
            raise MemoryConfigError(f"MemoryTracker(uss={uss!r}): use 'ends', 'all' or 'none'")
        if not 0.0 < confidence < 1.0:
            raise MemoryConfigError(f"MemoryTracker(confidence={confidence!r}): use e.g. 0.95")
        self.measured_rounds = rounds
        self.warmup_rounds = warmup_rounds
        self.min_round_tasks = min_round_tasks
        self.reset_hooks: list[Callable[[], object]] = list(reset)
        self.diagnose = diagnose
        self.min_growth = parse_bytes(min_growth, "MemoryTracker(min_growth=...)")
        self.min_blocks_per_task = min_blocks_per_task
        self.confidence = confidence
        self.top = top
        self.freeze_gc = freeze_gc
        self.probe = Probe(uss=uss != "none")
        self.uss = uss
        self._series = _Series(16)
        self._plan: list[tuple[int, bool]] = []
        self._peak_before = 0
        self._sampling = 0.0
        self._diagnosis: str | None = None
        self._frozen: weakref.finalize[[], object] | None = None

    def __repr__(self) -> str:
        return (
            f"MemoryTracker(rounds={self.measured_rounds}, warmup_rounds={self.warmup_rounds}, "
            f"samples={self._series.n}, metric={self.probe.metric!r})"
        )

    def add_reset_hook(self, hook: Callable[[], object]) -> None:
        """Run ``hook`` before every sample (drop per-call history the harness keeps)."""
        self.reset_hooks.append(hook)

    def replica(self) -> Callable[[], MemoryTracker]:
        """A picklable recipe for a tracker with these settings (no reset hooks): what each
        worker process of ``agent_perf.run(..., processes=N)`` measures its share with."""
        return functools.partial(
            MemoryTracker,
            rounds=self.measured_rounds,
            warmup_rounds=self.warmup_rounds,
            min_round_tasks=self.min_round_tasks,
            diagnose=self.diagnose,
            min_growth=self.min_growth,
            min_blocks_per_task=self.min_blocks_per_task,
            confidence=self.confidence,
            uss=self.uss,
            top=self.top,
            freeze_gc=self.freeze_gc,
        )

    # -- the RoundSampler protocol ------------------------------------------------------
    def plan(self, n_tasks: int) -> list[tuple[int, bool]]:
        """Split ``n_tasks`` into ``[(round_size, is_warmup), ...]`` and start afresh."""
        count = min(
            self.warmup_rounds + self.measured_rounds,
            max(n_tasks // self.min_round_tasks, min(n_tasks, 4)),
        )
        warm = min(self.warmup_rounds, max(count - 3, 0))
        base, extra = divmod(n_tasks, count) if count else (0, 0)
        self._plan = [(base + (i < extra), i < warm) for i in range(count)]
        self._series = _Series(count + 4)
        self._sampling = 0.0
        self._diagnosis = None
        self._peak_before = peak_rss(self.probe.process)
        self._thaw()
        return list(self._plan)

    def sample(self, tasks_done: int, *, warmup: bool) -> None:
        """Reset hooks, ``gc.collect()``, then read the process (nothing may be in flight)."""
        started = time.perf_counter()
        for hook in self.reset_hooks:
            hook()
        n = self._series.n
        if n == 0 and self._plan and self._can_freeze():
            # The first sample is warm-up, outside the fit: freeze the heap as it is rather
            # than walk all of it (~20 ms with httpx and an SDK loaded). Garbage frozen with
            # it stays constant until the thaw, so it cannot tilt a slope.
            gc.collect(0)
            self._freeze()
        else:
            gc.collect()
        ends = n == 0 or n >= len(self._plan)
        r = self.probe.read(uss=self.uss == "all" or self.probe.metric == "uss" or ends)
        self._series.append(tasks_done, r.rss, r.anon, r.uss, r.blocks, warmup)
        if self._series.n > len(self._plan):  # the last planned sample
            self._thaw()
        self._sampling += time.perf_counter() - started

    def diagnostic_round(self) -> AbstractContextManager[None] | None:
        """A tracemalloc context for one extra round, when a leak was found; else ``None``."""
        self._thaw()
        if not self.diagnose or not self._verdict()[0]:
            return None
        tasks = self._plan[-1][0] if self._plan else 0
        return Diagnosis(
            tasks=tasks, reset=self.reset_hooks, on_done=self._set_diagnosis, top=self.top
        )

    def report(self) -> MemoryReport:
        """The growth fit of the samples taken so far."""
        self._thaw()
        s = self._series
        window = s.window()
        leak, reason, bytes_fit, blocks_fit = self._verdict()
        tasks = s.tasks[window[-1]] - s.tasks[window[0]] if window else 0
        rss = [s.rss[i] for i in window] or [0]
        peak = max(s.rss[i] for i in range(s.n)) if s.n else 0
        process_peak = peak_rss(self.probe.process)
        if process_peak > self._peak_before:  # the process's peak was reached during the run
            peak = max(peak, process_peak)
        return MemoryReport(
            tasks=tasks,
            growth_bytes=bytes_fit.slope * tasks,
            per_task_bytes=bytes_fit.slope,
            per_task_ci=bytes_fit.ci,
            rss_start=rss[0],
            rss_end=rss[-1],
            rss_peak=peak,
            leak=leak,
            samples=tuple(self._samples()),
            metric=self.probe.metric,
            diagnosis=self._diagnosis,
            blocks_per_task=blocks_fit.slope,
            blocks_per_task_ci=blocks_fit.ci,
            reason=reason,
            sampling_seconds=self._sampling,
        )

    # -- standalone use -----------------------------------------------------------------
    def rounds(self, n: int) -> Rounds:
        """Iterate over round sizes and run that many tasks each time; sampling is automatic.

        ``with tracker.rounds(n=5000) as rounds: for size in rounds: ...`` (or ``async with``),
        then ``rounds.report``.
        """
        return Rounds(self, n)

    async def track(
        self, fn: Callable[[int], Awaitable[object] | object], *, n: int, concurrency: int = 1
    ) -> MemoryReport:
        """Call ``fn(i)`` for ``i`` in ``range(n)`` (awaiting it when async), in rounds."""
        return await run_rounds_async(self, fn, n=n, concurrency=concurrency)

    def track_sync(self, fn: Callable[[int], object], *, n: int) -> MemoryReport:
        """The same for a synchronous ``fn``."""
        return run_rounds_sync(self, fn, n=n)

    def assert_no_leak(
        self, *, max_mb: str | float | None = None, per_task_bytes: str | float | None = None
    ) -> MemoryReport:
        """Raise ``AssertionError`` (with the fit and diagnosis) when the budget is exceeded.

        Plain numbers are MiB for ``max_mb`` and bytes for ``per_task_bytes``; with neither,
        any leak fails.
        """
        where = "memory_tracker.assert_no_leak"
        limit = (
            None
            if max_mb is None
            else parse_bytes(max_mb, f"{where}(max_mb=...)", number_unit=_MIB)
        )
        per_task = (
            None
            if per_task_bytes is None
            else parse_bytes(per_task_bytes, f"{where}(per_task_bytes=...)")
        )
        report = self.report()
        if report.exceeds(limit, per_task):
            raise AssertionError(report.describe())
        return report

    # -- internals ----------------------------------------------------------------------
    def _can_freeze(self) -> bool:
        return self.freeze_gc and not self._frozen and gc.get_freeze_count() == 0

    def _freeze(self) -> None:
        if self._can_freeze():
            gc.freeze()
            # Thawed after the last planned sample, by report(), or -- if the run died
            # half-way -- when the tracker is collected.
            self._frozen = weakref.finalize(self, gc.unfreeze)

    def _thaw(self) -> None:
        if self._frozen:
            self._frozen.detach()
            self._frozen = None
            gc.unfreeze()

    def _set_diagnosis(self, text: str) -> None:
        self._diagnosis = text

    def _fits(self, window: range | None = None) -> tuple[SlopeFit, SlopeFit]:
        s = self._series
        window = s.window() if window is None else window
        column = {"anon": s.anon, "uss": s.uss, "rss": s.rss}[self.probe.metric]
        xs = [float(s.tasks[i]) for i in window]
        return (
            fit_slope(xs, [float(column[i]) for i in window], self.confidence),
            fit_slope(xs, [float(s.blocks[i]) for i in window], self.confidence),
        )

    def _late_fits(self, window: range) -> tuple[SlopeFit, SlopeFit] | None:
        """Fits over the second half of the window, when it has enough samples to fit."""
        late = window[len(window) // 2 :]
        return self._fits(late) if len(late) >= PERSIST_MIN_SAMPLES else None

    def _verdict(self) -> tuple[bool, str, SlopeFit, SlopeFit]:
        bytes_fit, blocks_fit = self._fits()
        s = self._series
        window = s.window()
        tasks = s.tasks[window[-1]] - s.tasks[window[0]] if window else 0
        growth = bytes_fit.slope * tasks
        by_bytes = bytes_fit.excludes_zero and growth >= self.min_growth
        by_blocks = (
            blocks_fit.excludes_zero
            and blocks_fit.slope >= self.min_blocks_per_task
            and blocks_fit.slope * tasks >= MIN_BLOCKS_GROWTH
        )
        late = self._late_fits(window) if (by_bytes or by_blocks) else None
        if late is not None:
            # A leak keeps growing; a bounded cache or buffer filling up levels off.
            stopped = not (
                (by_bytes and _persists(late[0], bytes_fit))
                or (by_blocks and _persists(late[1], blocks_fit))
            )
            if stopped:
                why = (
                    f"growth stopped: {bytes_fit.slope:,.0f} B/task and "
                    f"{blocks_fit.slope:.2f} blocks/task over the run, but "
                    f"{late[0].slope:,.0f} B/task and {late[1].slope:.2f} blocks/task over its "
                    "second half (a bounded cache or buffer filling up, not a leak)"
                )
                return False, why, bytes_fit, blocks_fit
        if by_bytes or by_blocks:
            parts = []
            if by_bytes:
                parts.append(
                    f"{self.probe.metric} memory grows {bytes_fit.slope:,.0f} B/task, interval "
                    f"above zero, {format_bytes(growth)} >= {format_bytes(self.min_growth)}"
                )
            if by_blocks:
                parts.append(
                    f"Python objects accumulate {blocks_fit.slope:.2f}/task, interval above zero"
                )
            return True, "; ".join(parts), bytes_fit, blocks_fit
        if len(window) < 3:
            return False, "too few measured rounds to fit a slope", bytes_fit, blocks_fit
        if not bytes_fit.excludes_zero and not blocks_fit.excludes_zero:
            why = "no slope: both intervals include zero"
        else:
            why = (
                f"growth below the resolution ({format_bytes(growth)} < "
                f"{format_bytes(self.min_growth)}; {blocks_fit.slope:.3f} blocks/task, "
                f"{blocks_fit.slope * tasks:.0f} blocks in all, needs >= "
                f"{self.min_blocks_per_task} and >= {MIN_BLOCKS_GROWTH})"
            )
        return False, why, bytes_fit, blocks_fit

    def _samples(self) -> Iterable[MemorySample]:
        s = self._series
        for i in range(s.n):
            yield MemorySample(
                tasks=s.tasks[i],
                rss=s.rss[i],
                uss=s.uss[i],
                blocks=s.blocks[i],
                warmup=bool(s.warmup[i]),
                anon=s.anon[i],
            )
