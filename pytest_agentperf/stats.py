"""Per-task records and the numbers made from them (pure functions, no I/O).

Percentiles are exact: the values are sorted and the percentile is interpolated linearly
between the two closest ranks (the definition of ``numpy.percentile``'s default and of
``statistics.quantiles(method="inclusive")``); nothing is bucketed or rounded.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_agentperf.result import LatencySummary, WindowStats

__all__ = [
    "DEFAULT_MAX_RECORDS",
    "RESERVOIR_SIZE",
    "Records",
    "efficiency",
    "percentile",
    "reservoir_indices",
    "summarize",
    "timeseries",
    "window_size",
]

#: Per-run bound on kept task records (34 bytes each: ~34 MB). Beyond it the records become
#: a uniform sample of all tasks (Algorithm R); counts stay exact.
DEFAULT_MAX_RECORDS = 1_000_000
#: Size of the uniform latency sample a result carries (for charts and significance tests).
RESERVOIR_SIZE = 2000
_CHUNK = 8192
_NAN = math.nan


class Records:
    """Compact per-task timestamps (``perf_counter`` seconds) of one measured phase.

    Five flat arrays (intended start, actual start, first token or NaN, finish, outcome
    code: 0 = success, k = ``error_names[k - 1]``) indexed by completion order. With
    ``expected`` known they are allocated once up front, so recording a task allocates
    nothing; otherwise they grow in chunks of 8192. At most ``max_records`` are kept;
    after that each new task replaces a random kept one (a uniform sample of all tasks).
    """

    __slots__ = (
        "_capacity",
        "_error_index",
        "_rng",
        "code",
        "completed",
        "count",
        "error_counts",
        "error_names",
        "failed",
        "finished",
        "first",
        "intended",
        "kept",
        "max_records",
        "started",
    )

    def __init__(
        self, expected: int | None = None, *, max_records: int = DEFAULT_MAX_RECORDS
    ) -> None:
        self.max_records = max(1, max_records)
        size = min(expected, self.max_records) if expected else 0
        self.intended = _doubles(size)
        self.started = _doubles(size)
        self.first = array("d", [_NAN]) * size
        self.finished = _doubles(size)
        self.code = array("H", bytes(2 * size))
        self._capacity = size
        self.count = 0  # tasks recorded (exact)
        self.kept = 0  # records held (<= max_records)
        self.completed = 0
        self.failed = 0
        self.error_names: list[str] = []
        self.error_counts: list[int] = []
        self._error_index: dict[str, int] = {}
        self._rng = random.Random(0x5EED)

    def add(self, intended: float, started: float, first: float, finished: float, err: int) -> None:
        """Record one task (``err`` from :meth:`error_code`, 0 for success)."""
        k = self.count
        self.count = k + 1
        if err:
            self.failed += 1
            self.error_counts[err - 1] += 1
        else:
            self.completed += 1
        if k >= self._capacity:
            if k >= self.max_records:
                k = self._rng.randrange(k + 1)
                if k >= self.max_records:
                    return
            else:
                self._grow()
        if k >= self.kept:
            self.kept = k + 1
        self.intended[k] = intended
        self.started[k] = started
        self.first[k] = first
        self.finished[k] = finished
        self.code[k] = err

    def reset(self) -> None:
        """Forget every record, keeping the allocated arrays (for reused scratch records)."""
        self.count = self.kept = self.completed = self.failed = 0
        self.error_counts = [0] * len(self.error_names)

    def error_code(self, name: str) -> int:
        """The outcome code of error type ``name`` (allocated on first sight)."""
        code = self._error_index.get(name)
        if code is None:
            if len(self.error_names) >= 65534:
                return self.error_code("other")
            self.error_names.append(name)
            self.error_counts.append(0)
            code = self._error_index[name] = len(self.error_names)
        return code

    def _grow(self) -> None:
        step = min(_CHUNK, self.max_records - self._capacity)
        self.intended.extend(_doubles(step))
        self.started.extend(_doubles(step))
        self.first.extend(array("d", [_NAN]) * step)
        self.finished.extend(_doubles(step))
        self.code.extend(array("H", bytes(2 * step)))
        self._capacity += step

    @property
    def sampled(self) -> bool:
        """Whether the records are a sample (more tasks than ``max_records``)."""
        return self.count > self.kept

    def errors(self) -> dict[str, int]:
        return {n: c for n, c in zip(self.error_names, self.error_counts, strict=True) if c}

    def latencies(self) -> list[float]:
        """Finish minus intended start, per kept record."""
        return [
            f - i
            for i, f in zip(self.intended[: self.kept], self.finished[: self.kept], strict=True)
        ]

    def service_latencies(self) -> list[float]:
        """Finish minus actual start, per kept record."""
        return [
            f - s
            for s, f in zip(self.started[: self.kept], self.finished[: self.kept], strict=True)
        ]

    def ttfts(self) -> list[float]:
        """First token minus intended start, for records that marked one."""
        pairs = zip(self.intended[: self.kept], self.first[: self.kept], strict=True)
        return [t - i for i, t in pairs if t == t]

    def start_delays(self) -> list[float]:
        """Actual minus intended start, per kept record (open loop: dispatch lateness)."""
        pairs = zip(self.intended[: self.kept], self.started[: self.kept], strict=True)
        return [s - i for i, s in pairs]

    def scaled(self, kept_count: int) -> int:
        """A count among the kept records scaled to all tasks (records may be a sample)."""
        return round(kept_count * self.count / self.kept) if self.kept else 0


def _doubles(n: int) -> array[float]:
    return array("d", bytes(8 * n))


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
    records: Records, start: float, duration: float, window: float | None = None
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
