"""Per-task records and the numbers made from them (pure functions, no I/O).

Percentiles are exact: the values are sorted and the percentile is interpolated linearly
between the two closest ranks (the definition of ``numpy.percentile``'s default and of
``statistics.quantiles(method="inclusive")``); nothing is bucketed or rounded.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_agentperf.engine.task_records import TaskRecords
from pytest_agentperf.result import LatencySummary, WindowStats

__all__ = [
    "RESERVOIR_SIZE",
    "CpuAttribution",
    "attribute_cpu",
    "efficiency",
    "merge_cpu",
    "percentile",
    "reservoir_indices",
    "summarize",
    "timeseries",
    "window_size",
]

#: Size of the uniform latency sample a result carries (for charts and significance tests).
RESERVOIR_SIZE = 2000
_NAN = math.nan


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ascending ``ordered``, interpolated between ranks."""
    if not ordered:
        return _NAN
    h = (len(ordered) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def summarize(values: Sequence[float]) -> LatencySummary:
    """Exact summary (count, mean, min, p50, p90, p95, p99, p99.9, max) of ``values``."""
    if not values:
        return LatencySummary()
    ordered = sorted(values)
    return LatencySummary(
        count=len(ordered),
        mean=math.fsum(ordered) / len(ordered),
        min=ordered[0],
        p50=percentile(ordered, 0.50),
        p90=percentile(ordered, 0.90),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        p999=percentile(ordered, 0.999),
        max=ordered[-1],
    )


def window_size(duration: float, max_windows: int = 60) -> float:
    """A round window length (1-2-5 steps, at least 0.1 s) giving at most ``max_windows``."""
    target = max(duration / max_windows, 0.1)
    exponent = math.floor(math.log10(target))
    for step in (1.0, 2.0, 5.0, 10.0):
        size = step * 10.0**exponent
        if size >= target - 1e-12:
            return size
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


def timeseries(
    records: TaskRecords,
    start: float,
    duration: float,
    window: float | None = None,
    *,
    cpu: Callable[[float, float], float] | None = None,
) -> tuple[WindowStats, ...]:
    """Per-window completions, errors, throughput, p50 and p95 (by finish time).

    Latency is from intended start. When the records are a sample, counts are scaled up.
    ``cpu(lo, hi)`` gives the process CPU seconds between two ``perf_counter`` instants
    (each window's ``cpu``; ``None`` without it, or where it returns NaN).
    """
    if records.kept == 0 or duration <= 0:
        return ()
    size = window or window_size(duration)
    n_windows = max(1, math.ceil(duration / size - 1e-9))
    lat: list[list[float]] = [[] for _ in range(n_windows)]
    errs = [0] * n_windows
    for k in range(records.kept):
        w = min(int((records.finished[k] - start) / size), n_windows - 1)
        if w < 0:
            continue
        lat[w].append(records.finished[k] - records.intended[k])
        if records.code[k]:
            errs[w] += 1
    scale = records.count / records.kept
    out = []
    for w in range(n_windows):
        lo, hi = w * size, min((w + 1) * size, duration)
        ordered = sorted(lat[w])
        done = round((len(ordered) - errs[w]) * scale)
        out.append(
            WindowStats(
                start=lo,
                end=hi,
                completed=done,
                errors=round(errs[w] * scale),
                throughput=done / (hi - lo) if hi > lo else 0.0,
                p50=percentile(ordered, 0.5),
                p95=percentile(ordered, 0.95),
                cpu=_finite(cpu(start + lo, start + hi)) if cpu is not None else None,
            )
        )
    return tuple(out)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def reservoir_indices(count: int, size: int = RESERVOIR_SIZE, seed: int = 0) -> list[int]:
    """Indices of a uniform sample (without replacement) of ``size`` out of ``count``."""
    if count <= size:
        return list(range(count))
    return sorted(random.Random(seed).sample(range(count), size))


@dataclass(frozen=True, slots=True)
class Efficiency:
    """Efficiency and the mean injected latency per task it came from."""

    value: float
    mean_injected_latency: float


def efficiency(injected_delta: float, tasks: int, *, busy_time: float) -> Efficiency | None:
    """Little's-law efficiency of a run, or ``None`` when the mock injected nothing.

    ``injected / busy_time``, where ``busy_time`` is the sum of the tasks' latencies (from
    their intended start): the mean injected latency over the mean latency, the share of a
    task's time spent waiting on the LLM. With every worker busy all the time this is
    ``throughput / (workers / mean injected latency)``; unlike that form, a closed run's
    drain (the last tasks still running while the other workers have nothing left) and the
    workers that never ran (5 tasks at ``concurrency=10``) do not count against the agent.
    In an open loop it is ``throughput / (mean tasks in flight / mean injected latency)``,
    Little's law with the measured mean in flight. 1.0 means the agent adds nothing to the
    LLM's own latency.
    """
    if injected_delta <= 0 or tasks <= 0 or busy_time <= 0:
        return None
    return Efficiency(injected_delta / busy_time, injected_delta / tasks)


@dataclass(frozen=True, slots=True)
class CpuAttribution:
    """A run's CPU per task (seconds) and who spent it: the harness's parts, the rest the
    agent's (everything else the process ran: the agent, its client, its event loop)."""

    per_task: float
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def harness(self) -> float:
        return math.fsum(self.parts.values())

    @property
    def agent(self) -> float:
        return max(0.0, self.per_task - self.harness)


def attribute_cpu(
    process_cpu: float,
    tasks: int,
    *,
    engine_per_task: float | None,
    monitor: float,
    mock: float | None,
) -> CpuAttribution | None:
    """Split ``process_cpu`` seconds over ``tasks`` tasks; ``None`` when nothing ran.

    ``engine_per_task`` is the engine's timed bookkeeping per task (a sample's mean),
    ``monitor`` and ``mock`` the seconds the monitor's ticks and the mock took in this
    process (``None``: the mock does not account for itself, or there is none).
    """
    if tasks <= 0 or not process_cpu > 0:
        return None
    parts = {"engine": engine_per_task or 0.0, "monitor": monitor / tasks}
    if mock is not None:
        parts["mock"] = max(0.0, mock) / tasks
    return CpuAttribution(process_cpu / tasks, parts)


def merge_cpu(
    figures: Sequence[tuple[int, float | None, float | None, float | None]],
) -> tuple[float | None, float | None, float | None]:
    """CPU per task (process, harness, agent) of results run side by side, exactly.

    ``figures`` holds each result's ``(tasks, cpu_per_task, harness_cpu_per_task,
    agent_cpu_per_task)``; each merged figure is the task-weighted mean (total CPU over
    total tasks), ``None`` when a result did not measure it.
    """

    def weighted(k: int) -> float | None:
        values = [(f[0], f[k]) for f in figures]
        tasks = sum(n for n, _ in values)
        if not tasks or any(v is None for _, v in values):
            return None
        return math.fsum(n * (v or 0.0) for n, v in values) / tasks

    return weighted(1), weighted(2), weighted(3)
