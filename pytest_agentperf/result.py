"""What a measured run produced: :class:`PerfResult` and its parts.

These are plain frozen dataclasses with ``to_dict()`` / ``from_dict()`` so that results
travel unchanged from a test to the JSON report, across xdist workers, into baselines and
back into the HTML report. All times are seconds, sizes bytes, rates per second,
fractions in [0, 1]. ``None`` means "not measured" (e.g. TTFT for a non-streaming target).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

__all__ = [
    "Distribution",
    "LLMSpend",
    "LatencySummary",
    "MemoryReport",
    "MemorySample",
    "PerfResult",
    "SelfCheck",
    "WindowStats",
    "finite_or_none",
    "json_safe",
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
        return cls(**_nan_for_null(_known(cls, data)))


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
    cpu: float | None = None  # process CPU seconds in the window (None: not measured)

    @property
    def cpu_per_task(self) -> float | None:
        """Process CPU per task finished in the window (``None``: not measured, or none)."""
        tasks = self.completed + self.errors
        cpu = self.cpu
        return cpu / tasks if tasks and cpu is not None and not math.isnan(cpu) else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowStats:
        known = _known(cls, data)
        cpu = known.pop("cpu", None)
        return cls(**_nan_for_null(known), cpu=None if cpu is None else float(cpu))


Gen3 = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class SelfCheck:
    """What the run says about the system under test, and how far the harness can be trusted.

    ``findings`` are facts about the system under test (it is CPU-bound, garbage collection
    paused it); ``warnings`` are doubts about the harness's own figures (the harness used a
    large share of a saturated process, other processes kept it waiting for a CPU, the loop
    was blocked by something unknown). ``harness_cpu`` splits the harness's CPU per task by
    part (``engine``, ``mock``, ``monitor``; seconds). The ``gc_*`` figures are per
    generation (0, 1, 2) over the measured phase, timed on the thread CPU clock;
    ``gc_frozen`` says the harness froze the heap before it.

    What the machine was doing, for baseline verdicts that know it (``None``: not
    measured): ``run_queue_wait`` (the loop's thread ready but waiting for a CPU, a share
    of the run; Linux), ``other_cpu`` (every other process's CPU, in cores, from the
    machine's CPU times), ``steal`` (the share of the machine's CPU time the hypervisor gave
    to other guests; Linux VMs) and ``cpus`` (the machine's logical CPUs).
    """

    loop_lag_p99: float = 0.0  # event-loop lag, seconds
    loop_lag_max: float = 0.0
    cpu_percent: float = 0.0  # process CPU during the run, percent of one core
    warnings: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    run_queue_wait: float | None = None  # share of the run the loop waited for a CPU
    harness_cpu: dict[str, float] = field(default_factory=dict)  # per task, by part
    gc_collections: tuple[int, int, int] = (0, 0, 0)
    gc_pause_max: Gen3 = (0.0, 0.0, 0.0)  # seconds
    gc_pause_total: Gen3 = (0.0, 0.0, 0.0)  # seconds
    gc_frozen: bool = False
    other_cpu: float | None = None  # other processes' CPU during the run, in cores
    steal: float | None = None  # share of the machine's CPU time stolen by the hypervisor
    cpus: int | None = None  # the machine's logical CPUs

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("warnings", "findings", "gc_collections", "gc_pause_max", "gc_pause_total"):
            data[key] = list(getattr(self, key))
        data["harness_cpu"] = dict(self.harness_cpu)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SelfCheck:
        known = _known(cls, data)
        for key in ("warnings", "findings"):
            known[key] = tuple(known.get(key, ()))
        for key in ("gc_collections", "gc_pause_max", "gc_pause_total"):
            if key in known:
                known[key] = tuple(known[key])
        known["harness_cpu"] = dict(known.get("harness_cpu") or {})
        return cls(**known)


@dataclass(frozen=True, slots=True)
class MemorySample:
    """One memory sample, taken between rounds after the reset hooks and ``gc.collect()``."""

    tasks: int  # tasks completed when sampled
    rss: int  # bytes
    uss: int  # bytes (0 where the platform cannot tell, or USS sampling is off)
    blocks: int  # sys.getallocatedblocks()
    warmup: bool = False
    anon: int = 0  # resident private anonymous bytes (Linux: RSS - shared), 0 elsewhere

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemorySample:
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class MemoryReport:
    """Memory growth of a workload measured in rounds (see ``pytest_agentperf.memory``).

    ``leak`` says the growth is real (the slope's interval excludes zero and the growth is
    above the measurement's resolution); a budget fails only when ``leak`` is true *and* the
    growth crosses the limit: :meth:`exceeds`.
    """

    tasks: int  # measured tasks (warm-up excluded)
    growth_bytes: float  # fitted growth over the measured tasks (slope x tasks)
    per_task_bytes: float  # fitted slope, bytes per task
    per_task_ci: tuple[float, float]  # 95% confidence interval of the slope
    rss_start: int
    rss_end: int
    rss_peak: int
    leak: bool  # growth is real (the budget decides whether it fails)
    samples: tuple[MemorySample, ...] = ()
    metric: str = "anon"  # the series fitted for bytes: "anon", "uss" or "rss"
    diagnosis: str | None = None  # top allocation sites, when a leak was diagnosed
    blocks_per_task: float = 0.0  # fitted slope of sys.getallocatedblocks() per task
    blocks_per_task_ci: tuple[float, float] = (0.0, 0.0)
    reason: str = ""  # why ``leak`` is what it is, in one sentence
    sampling_seconds: float = 0.0  # time spent in the sampler (reset hooks, gc, reads)

    def exceeds(self, max_bytes: float | None = None, per_task_bytes: float | None = None) -> bool:
        """True when this is a leak whose growth crosses either limit (``None``: no limit).

        With no limit at all, any leak exceeds.
        """
        if not self.leak:
            return False
        if max_bytes is None and per_task_bytes is None:
            return True
        return (max_bytes is not None and self.growth_bytes > max_bytes) or (
            per_task_bytes is not None and self.per_task_bytes > per_task_bytes
        )

    def describe(self) -> str:
        """A few lines for a failure message or a report: growth, fit, verdict, diagnosis."""
        from pytest_agentperf.units import format_bytes as _size

        low, high = self.per_task_ci
        lines = [
            f"memory growth {_size(self.growth_bytes)} over {self.tasks:,} measured tasks: "
            f"{self.per_task_bytes:,.0f} B/task (95% CI {low:,.0f} .. {high:,.0f}), "
            f"fitted on {self.metric} memory",
            f"allocated blocks {self.blocks_per_task:+.3f}/task "
            f"(95% CI {self.blocks_per_task_ci[0]:+.3f} .. {self.blocks_per_task_ci[1]:+.3f}); "
            f"RSS {_size(self.rss_start)} -> {_size(self.rss_end)}, peak {_size(self.rss_peak)}",
            f"leak: {'yes' if self.leak else 'no'}" + (f" ({self.reason})" if self.reason else ""),
        ]
        if self.diagnosis:
            lines.append(self.diagnosis)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # JSON has no infinity: an unbounded interval end (too few samples) travels as null.
        for key in ("per_task_ci", "blocks_per_task_ci"):
            data[key] = [finite_or_none(v) for v in getattr(self, key)]
        data["samples"] = [s.to_dict() for s in self.samples]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryReport:
        known = _known(cls, data)
        for key in ("per_task_ci", "blocks_per_task_ci"):
            low, high = known.get(key) or (0.0, 0.0)
            known[key] = (
                float("-inf") if low is None else float(low),
                float("inf") if high is None else float(high),
            )
        known["samples"] = tuple(MemorySample.from_dict(s) for s in known.get("samples", ()))
        return cls(**known)


@dataclass(frozen=True, slots=True)
class Distribution:
    """One per-task figure across the measured tasks: total, mean and spread.

    ``total`` and ``mean`` (total / tasks) are exact whatever the attribution; ``p50``,
    ``p95`` and ``max`` need every call attributed to its task and are ``None`` otherwise.
    """

    total: float = 0.0
    mean: float = float("nan")
    p50: float | None = None
    p95: float | None = None
    max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: finite_or_none(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Distribution:
        known = _known(cls, data)
        mean = known.get("mean")
        known["mean"] = float("nan") if mean is None else mean
        return cls(**known)


@dataclass(frozen=True, slots=True)
class LLMSpend:
    """What the measured tasks spent on LLM calls, as the mock LLM served them.

    ``calls`` counts every request that reached an LLM endpoint (chat, Responses, messages,
    embeddings), answered or failed; ``retries`` the calls that repeated an earlier request
    of the same task; ``tool_rounds`` the replies with tool calls followed by a request
    carrying the results; ``cost`` comes from the price table (in ``currency``; ``None``
    without a table, or when a model had no price: ``unpriced``). ``unattributed_calls``
    were made during the measured phase outside any task: they count in the totals and
    means, not in the per-task spread. ``tokenizers`` says how the prompt tokens were
    counted (calls by method). Streamed answers give ``itl`` (per stream: time from its
    first to its last token / (tokens - 1), as the mock sent them) and
    ``output_tokens_per_s`` (tokens after the first / time from first to last, all streams).
    """

    tasks: int
    calls: Distribution
    tokens_in: Distribution
    tokens_out: Distribution
    tokens: Distribution
    tool_rounds: Distribution
    retries: Distribution
    cost: Distribution | None = None
    currency: str = ""
    unpriced: tuple[str, ...] = ()
    unattributed_calls: int = 0
    unattributed_socket_calls: int = 0  # of which over serve()'s sockets without the header
    tokenizers: dict[str, int] = field(default_factory=dict)
    streams: int = 0
    itl: LatencySummary | None = None
    output_tokens_per_s: float | None = None

    _FIGURES = ("calls", "tokens_in", "tokens_out", "tokens", "tool_rounds", "retries")

    @property
    def estimated(self) -> bool:
        """Whether some prompt tokens were estimated (~4 characters per token)."""
        return any(how.startswith("estimate") for how in self.tokenizers)

    def notes(self) -> list[str]:
        """What a reader must know about these figures (partial attribution, estimates)."""
        notes = []
        sockets = self.unattributed_socket_calls
        if sockets:
            notes.append(
                f"{sockets} of {self.calls.total:.0f} LLM calls came over mock_llm.serve() "
                "without the x-agentperf-task header (pytest_agentperf.task_headers()): totals "
                "and means are exact, the per-task spread is not shown"
            )
        if self.unattributed_calls > sockets:
            notes.append(
                f"{self.unattributed_calls - sockets} of {self.calls.total:.0f} LLM calls ran "
                "outside any task (the agent does not run its work in the submitter's "
                "context): totals and means are exact, the per-task spread is not shown"
            )
        if self.estimated:
            notes.append("token counts are estimates (~4 characters per token)")
        if self.unpriced:
            notes.append(f"no price for model(s) {', '.join(self.unpriced)}: cost not measured")
        return notes

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tasks": self.tasks}
        data.update({name: getattr(self, name).to_dict() for name in self._FIGURES})
        data.update(
            cost=self.cost.to_dict() if self.cost else None,
            currency=self.currency,
            unpriced=list(self.unpriced),
            unattributed_calls=self.unattributed_calls,
            unattributed_socket_calls=self.unattributed_socket_calls,
            tokenizers=dict(self.tokenizers),
            estimated=self.estimated,
            streams=self.streams,
            itl=self.itl.to_dict() if self.itl else None,
            output_tokens_per_s=finite_or_none(self.output_tokens_per_s),
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMSpend:
        known = _known(cls, data)
        for name in cls._FIGURES:
            known[name] = Distribution.from_dict(data[name])
        known["cost"] = Distribution.from_dict(data["cost"]) if data.get("cost") else None
        known["itl"] = LatencySummary.from_dict(data["itl"]) if data.get("itl") else None
        known["unpriced"] = tuple(known.get("unpriced", ()))
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
    cpu_per_task: float | None = None  # process CPU over the measured phase / tasks, seconds
    harness_cpu_per_task: float | None = None  # the harness's share of it (engine, mock, ...)
    agent_cpu_per_task: float | None = None  # the rest: the system under test's share
    memory: MemoryReport | None = None
    timeseries: tuple[WindowStats, ...] = ()
    samples: tuple[float, ...] = ()  # a uniform reservoir of latencies, for charts and tests
    service_samples: tuple[float, ...] = ()  # service latencies of the same sampled tasks
    selfcheck: SelfCheck = field(default_factory=SelfCheck)
    started_at: float = 0.0  # wall-clock epoch seconds
    extra: dict[str, Any] = field(default_factory=dict)  # user or workload figures
    llm: LLMSpend | None = None  # what the tasks spent on LLM calls (with a mock LLM)

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
    def achieved_rate(self) -> float:
        """Tasks started per second over the arrival schedule (compare with ``offered_rate``).

        The engine measures it from the first intended start to the last actual start, so
        the drain after the last arrival does not count; a result without that figure (an
        older file, a result built by hand) falls back to tasks finished per second.
        """
        measured = self.extra.get("achieved_rate")
        if isinstance(measured, int | float):
            return float(measured)
        return self.total / self.duration if self.duration > 0 else 0.0

    @property
    def capacity_per_core(self) -> float | None:
        """Tasks per second one fully busy core could run: 1 / the agent's CPU per task."""
        agent = self.agent_cpu_per_task
        return 1.0 / agent if agent is not None and agent > 0 else None

    @property
    def warnings(self) -> tuple[str, ...]:
        """Doubts about the harness's own figures in this run."""
        return self.selfcheck.warnings

    @property
    def findings(self) -> tuple[str, ...]:
        """Facts the run established about the system under test (CPU-bound, GC pauses)."""
        return self.selfcheck.findings

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
            "achieved_rate": self.achieved_rate,
            "late_starts": self.late_starts,
            "ttft": self.ttft.to_dict() if self.ttft else None,
            "errors": dict(self.errors),
            "efficiency": self.efficiency,
            "mean_injected_latency": self.mean_injected_latency,
            "cpu_per_task": self.cpu_per_task,
            "harness_cpu_per_task": self.harness_cpu_per_task,
            "agent_cpu_per_task": self.agent_cpu_per_task,
            "capacity_per_core": self.capacity_per_core,
            "memory": self.memory.to_dict() if self.memory else None,
            "timeseries": [w.to_dict() for w in self.timeseries],
            "samples": list(self.samples),
            "service_samples": list(self.service_samples),
            "selfcheck": self.selfcheck.to_dict(),
            "started_at": self.started_at,
            "extra": dict(self.extra),
            "llm": self.llm.to_dict() if self.llm else None,
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
        known["service_samples"] = tuple(data.get("service_samples", ()))
        known["selfcheck"] = SelfCheck.from_dict(data.get("selfcheck", {}))
        known["llm"] = LLMSpend.from_dict(data["llm"]) if data.get("llm") else None
        return cls(**known)


def finite_or_none(value: float | None) -> float | None:
    """``value``, or ``None`` when it is not a finite number (JSON has no NaN or infinity)."""
    return None if value is None or not math.isfinite(value) else value


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``None`` and tuples by lists.

    The one writer-side JSON cleaning of the project; readers map ``null`` back to NaN
    (:func:`_nan_for_null`).
    """
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _nan_for_null(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: writers store an unmeasured float as null; read it back as NaN."""
    return {k: float("nan") if v is None else v for k, v in values.items()}


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of ``cls`` (newer writers may add keys)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}
