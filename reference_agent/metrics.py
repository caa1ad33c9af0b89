"""Metrics: a bounded latency reservoir, a psutil resource sampler, and the frozen
snapshots ``statistics()`` and ``health_check()`` return.

Hot-path cost: recording a latency is O(1) (a slot write in a fixed ring); percentiles are
computed only when a snapshot is asked for. The resource sampler runs in its own asyncio
task at a fixed interval, never per task.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

__all__ = [
    "AgentStatistics",
    "HealthReport",
    "LatencyReservoir",
    "LatencyStats",
    "ResourceSampler",
]


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Summary of durations in seconds: ``count`` and ``mean``/``max`` over every sample
    recorded, percentiles over the most recent ones kept by the reservoir."""

    count: int = 0
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None


class LatencyReservoir:
    """A fixed-size ring of the most recent samples plus exact count, sum and max."""

    __slots__ = ("_index", "_max", "_ring", "_size", "_total", "count")

    def __init__(self, size: int) -> None:
        self._size = size
        self._ring: list[float] = []
        self._index = 0
        self._total = 0.0
        self._max = 0.0
        self.count = 0

    def add(self, value: float) -> None:
        """Record one sample in O(1)."""
        self.count += 1
        self._total += value
        if value > self._max:
            self._max = value
        if len(self._ring) < self._size:
            self._ring.append(value)
        else:
            self._ring[self._index] = value
            self._index = (self._index + 1) % self._size

    def summary(self) -> LatencyStats:
        """Percentiles over the kept samples, interpolated linearly between the two closest
        ranks (``numpy.percentile``'s default, as the harness computes them, so the same
        samples give the same figures); O(k log k), off the hot path."""
        if not self.count:
            return LatencyStats()
        ordered = sorted(self._ring)
        last = len(ordered) - 1

        def rank(q: float) -> float:
            h = last * q
            lo = math.floor(h)
            hi = min(lo + 1, last)
            return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])

        return LatencyStats(
            count=self.count,
            mean=self._total / self.count,
            p50=rank(0.50),
            p90=rank(0.90),
            p95=rank(0.95),
            p99=rank(0.99),
            max=self._max,
        )


class ResourceSampler:
    """Samples this process's CPU percent and RSS with psutil every ``interval`` seconds in
    a background task; ``latest()`` and the peak RSS are read by ``statistics()``."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._process = psutil.Process()
        self._task: asyncio.Task[None] | None = None
        self.cpu_percent: float | None = None
        self.rss_bytes: int | None = None
        self.peak_rss_bytes: int | None = None
        self.samples = 0

    def sample(self) -> None:
        """Take one sample now (about tens of microseconds)."""
        with self._process.oneshot():
            self.cpu_percent = self._process.cpu_percent(interval=None)
            rss = self._process.memory_info().rss
        self.rss_bytes = rss
        self.peak_rss_bytes = max(rss, self.peak_rss_bytes or 0)
        self.samples += 1

    def start(self) -> None:
        """Start sampling in the background (the first sample is taken at once)."""
        if self._task is None:
            self.sample()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="reference_agent-resource-sampler"
            )

    async def stop(self) -> None:
        """Stop the background task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.sample()


@dataclass(frozen=True, slots=True)
class AgentStatistics:
    """A snapshot of an agent, taken by ``statistics()``; later changes do not alter it.

    Counts reconcile: ``submitted == accepted + rejected`` and ``accepted == completed +
    failed + cancelled + timed_out + queue_depth + in_flight``.
    """

    state: str
    concurrency: int
    max_pending: int
    submitted: int
    accepted: int
    completed: int
    failed: int
    cancelled: int
    timed_out: int
    rejected: int
    queue_depth: int
    in_flight: int
    workers_alive: int
    uptime: float | None
    queue_wait: LatencyStats
    service_time: LatencyStats
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    peak_rss_bytes: int | None = None
    retries: int = 0
    breaker_state: str | None = None
    breaker_transitions: Mapping[str, int] = field(default_factory=dict)
    cache_hits: int | None = None
    cache_misses: int | None = None
    cache_coalesced: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Tasks per final status, plus the pending and running ones."""
        return {
            "pending": self.queue_depth,
            "running": self.in_flight,
            "completed": self.completed,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "timed_out": self.timed_out,
            "rejected": self.rejected,
        }

    @property
    def cache_hit_ratio(self) -> float | None:
        """Lookups served without an upstream call of their own (hits and coalesced
        single-flight waiters) over all lookups; None without a cache or lookups."""
        if self.cache_hits is None:
            return None
        served = self.cache_hits + (self.cache_coalesced or 0)
        lookups = served + (self.cache_misses or 0)
        return served / lookups if lookups else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON)."""
        out = asdict(self)
        out["breaker_transitions"] = dict(self.breaker_transitions)
        out["cache_hit_ratio"] = self.cache_hit_ratio
        return out


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What ``health_check()`` says: ``status`` is "ok", "degraded" (working, but the
    breaker is not closed or the queue is nearly full) or "unhealthy" (not running, a
    worker died, or the breaker is open); ``reasons`` say why."""

    status: str
    reasons: tuple[str, ...]
    state: str
    workers_alive: int
    concurrency: int
    saturation: float
    breaker_state: str | None = None

    @property
    def healthy(self) -> bool:
        """True unless the status is "unhealthy"."""
        return self.status != "unhealthy"
