"""What a measured run produced: :class:`PerfResult` and its parts.

These are plain frozen dataclasses with ``to_dict()`` / ``from_dict()`` so that results
travel unchanged from a test to the JSON report, across xdist workers, into baselines and
back into the HTML report. All times are seconds, sizes bytes, rates per second,
fractions in [0, 1]. ``None`` means "not measured" (e.g. TTFT for a non-streaming target).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

__all__ = [
    "LatencySummary",
    "MemoryReport",
    "MemorySample",
    "PerfResult",
    "SelfCheck",
    "WindowStats",
]

Mode = Literal["closed", "open"]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles of a set of durations, in seconds (exact, not bucketed)."""

    count: int = 0
    mean: float = float("nan")
    min: float = float("nan")
    p50: float = float("nan")
    p90: float = float("nan")
    p95: float = float("nan")
    p99: float = float("nan")
    p999: float = float("nan")
    max: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencySummary:
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class WindowStats:
    """One window of the run's time series (for reports and per-window significance tests)."""

    start: float  # seconds since the measured run began
    end: float
    completed: int
    errors: int
    throughput: float
    p50: float
    p95: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowStats:
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class SelfCheck:
    """How far the harness itself can be trusted in this run."""

    loop_lag_p99: float = 0.0  # event-loop lag, seconds
    loop_lag_max: float = 0.0
    cpu_percent: float = 0.0  # process CPU during the run, percent of one core
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SelfCheck:
        known = _known(cls, data)
        known["warnings"] = tuple(known.get("warnings", ()))
        return cls(**known)


@dataclass(frozen=True, slots=True)
class MemorySample:
    """One memory sample, taken between rounds after ``gc.collect()``."""

    tasks: int  # tasks completed when sampled
    rss: int  # bytes
    uss: int  # bytes (0 where the platform cannot tell)
    blocks: int  # sys.getallocatedblocks()
    warmup: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemorySample:
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class MemoryReport:
    """Memory growth of a workload measured in rounds (see ``pytest_agentperf.memory``)."""

    tasks: int  # measured tasks (warm-up excluded)
    growth_bytes: float  # fitted growth over the measured tasks (slope x tasks)
    per_task_bytes: float  # fitted slope, bytes per task
    per_task_ci: tuple[float, float]  # 95% confidence interval of the slope
    rss_start: int
    rss_end: int
    rss_peak: int
    leak: bool  # slope interval excludes zero (the budget decides whether it fails)
    samples: tuple[MemorySample, ...] = ()
    metric: str = "uss"  # which series the fit used: "uss" or "rss"
    diagnosis: str | None = None  # top allocation sites, when a leak was diagnosed

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["per_task_ci"] = list(self.per_task_ci)
        data["samples"] = [s.to_dict() for s in self.samples]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryReport:
        known = _known(cls, data)
        known["per_task_ci"] = tuple(known.get("per_task_ci", (0.0, 0.0)))
        known["samples"] = tuple(MemorySample.from_dict(s) for s in known.get("samples", ()))
        return cls(**known)


@dataclass(frozen=True)
class PerfResult:
    """Everything one ``agent_perf.run(...)`` measured.

    In open loop ``latency`` is timed from each task's *intended* start (so stalls are not
    hidden: coordinated omission) and ``service_latency`` from its actual start; in closed
    loop the two are the same.
    """

    name: str
    mode: Mode
    duration: float  # measured window (warm-up excluded), seconds
    completed: int  # tasks that succeeded
    failed: int  # tasks that ended in any other final status
    throughput: float  # completed tasks per second
    latency: LatencySummary
    service_latency: LatencySummary
    concurrency: int | None = None
    offered_rate: float | None = None  # open loop: tasks per second asked for
    late_starts: int = 0  # open loop: tasks that started later than intended (beyond 1 ms)
    ttft: LatencySummary | None = None
    errors: dict[str, int] = field(default_factory=dict)  # error type name -> count
    efficiency: float | None = None
    mean_injected_latency: float | None = None  # per task, from the mock LLM
    memory: MemoryReport | None = None
    timeseries: tuple[WindowStats, ...] = ()
    samples: tuple[float, ...] = ()  # a uniform reservoir of latencies, for charts and tests
    selfcheck: SelfCheck = field(default_factory=SelfCheck)
    started_at: float = 0.0  # wall-clock epoch seconds
    extra: dict[str, Any] = field(default_factory=dict)  # user or workload figures

    @property
    def total(self) -> int:
        return self.completed + self.failed

    @property
    def success_rate(self) -> float:
        return self.completed / self.total if self.total else 0.0

    @property
    def error_rate(self) -> float:
        return self.failed / self.total if self.total else 0.0

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.selfcheck.warnings

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "mode": self.mode,
            "duration": self.duration,
            "completed": self.completed,
            "failed": self.failed,
            "total": self.total,
            "throughput": self.throughput,
            "success_rate": self.success_rate,
            "error_rate": self.error_rate,
            "latency": self.latency.to_dict(),
            "service_latency": self.service_latency.to_dict(),
            "concurrency": self.concurrency,
            "offered_rate": self.offered_rate,
            "late_starts": self.late_starts,
            "ttft": self.ttft.to_dict() if self.ttft else None,
            "errors": dict(self.errors),
            "efficiency": self.efficiency,
            "mean_injected_latency": self.mean_injected_latency,
            "memory": self.memory.to_dict() if self.memory else None,
            "timeseries": [w.to_dict() for w in self.timeseries],
            "samples": list(self.samples),
            "selfcheck": self.selfcheck.to_dict(),
            "started_at": self.started_at,
            "extra": dict(self.extra),
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerfResult:
        known = _known(cls, data)
        known["latency"] = LatencySummary.from_dict(data["latency"])
        known["service_latency"] = LatencySummary.from_dict(data["service_latency"])
        known["ttft"] = LatencySummary.from_dict(data["ttft"]) if data.get("ttft") else None
        known["memory"] = MemoryReport.from_dict(data["memory"]) if data.get("memory") else None
        known["timeseries"] = tuple(WindowStats.from_dict(w) for w in data.get("timeseries", ()))
        known["samples"] = tuple(data.get("samples", ()))
        known["selfcheck"] = SelfCheck.from_dict(data.get("selfcheck", {}))
        return cls(**known)


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of ``cls`` (newer writers may add keys)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}
