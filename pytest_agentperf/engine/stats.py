"""Per-task records and the numbers made from them (pure functions, no I/O).

Percentiles are exact: the values are sorted and the percentile is interpolated linearly
between the two closest ranks (the definition of ``numpy.percentile``'s default and of
``statistics.quantiles(method="inclusive")``); nothing is bucketed or rounded.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_agentperf.engine.task_records import TaskRecords
from pytest_agentperf.result import LatencySummary, WindowStats

__all__ = [
    "RESERVOIR_SIZE",
    "efficiency",
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
    records: TaskRecords, start: float, duration: float, window: float | None = None
) -> tuple[WindowStats, ...]:
    """Per-window completions, errors, throughput, p50 and p95 (by finish time).

    Latency is from intended start. When the records are a sample, counts are scaled up.
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
            )
        )
    return tuple(out)


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


def efficiency(
    injected_delta: float,
    tasks: int,
    *,
    worker_time: float | None,
    busy_time: float,
) -> Efficiency | None:
    """Little's-law efficiency of a run, or ``None`` when the mock injected nothing.

    Closed loop (``worker_time`` given): ``injected / worker_time``, where ``worker_time``
    is the workers that actually ran x the measured duration, summed over the phases
    (``min(concurrency, tasks)`` workers per phase: 5 tasks at ``concurrency=10`` run on 5
    workers): the share of the workers' time spent waiting on the mock (= throughput /
    (workers / mean injected latency per task)). Open loop: ``injected / busy_time`` where
    ``busy_time`` is the sum of the tasks' latencies from their intended start (= mean
    injected latency / mean latency = throughput / (mean tasks in flight / mean injected
    latency), Little's law with the measured mean in flight). 1.0 means the agent adds
    nothing to the LLM's own latency.
    """
    if injected_delta <= 0 or tasks <= 0:
        return None
    denominator = worker_time if worker_time is not None else busy_time
    if denominator <= 0:
        return None
    return Efficiency(injected_delta / denominator, injected_delta / tasks)
