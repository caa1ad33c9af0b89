"""The one registry of metrics: every figure a budget, SLO, baseline or report can name.

A :class:`Metric` says what a figure is called (one canonical name, plus the spellings
accepted for it), its unit (how a limit is parsed and a value shown), which way is better,
how it is read from a :class:`~pytest_agentperf.result.PerfResult`, the budget marker
keyword that limits it, and how a baseline comparison tests it. Budgets, markers,
``budget()``, sweep SLOs, ``--agentperf-compare-fail`` rules, the JSON and
github-action-benchmark exports, JUnit properties and the HTML and terminal reports all
look metrics up here, so adding a metric is one entry in :data:`METRICS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from pytest_agentperf.result import Distribution, LatencySummary, PerfResult
from pytest_agentperf.units import (
    Op,
    format_bytes,
    format_count,
    format_duration,
    format_fraction,
    format_money,
    format_rate,
    parse_bytes,
    parse_count,
    parse_duration,
    parse_fraction,
    parse_money,
    parse_rate,
    parse_ratio,
    parse_token_rate,
)

__all__ = [
    "BYTES",
    "COUNT",
    "DURATION",
    "FRACTION",
    "MARKER_HELP",
    "METRICS",
    "MONEY",
    "RATE",
    "RATIO",
    "TOKEN_RATE",
    "Metric",
    "Unit",
    "format_value",
    "lookup",
    "marker_keywords",
    "resolve_name",
]

Better = Literal["lower", "higher"]
#: How a baseline comparison decides that a change is real (``None``: not comparable).
#: ``latency``: Mann-Whitney U on the latency samples (plus a quantile test for
#: percentiles); ``rate``: Mann-Whitney U on per-window throughput; ``proportion``: a
#: two-proportion z-test on the task counts; ``cpu``: Mann-Whitney U on the per-window
#: process CPU per task; ``exact``: no test, any change beyond the metric's ``tolerance``
#: counts (figures a seeded mock makes deterministic: LLM calls, tokens, tool rounds, cost
#: per task).
Test = Literal["latency", "rate", "proportion", "cpu", "exact"]
Parser = Callable[[str | float, str], float]
Measure = Callable[[PerfResult], float | None]
MIB = 1024.0**2


def _format_ratio(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


@dataclass(frozen=True, slots=True)
class Unit:
    """How values of a kind are parsed, shown and exported."""

    name: str
    parse: Parser
    format: Callable[[float | None], str]
    accepted: str  # what a limit may look like, for error messages
    export_unit: str  # the unit of github-action-benchmark entries
    export_scale: float  # SI value x scale = exported value


DURATION = Unit(
    "duration",
    parse_duration,
    format_duration,
    "a duration such as '<= 150ms' or a number of seconds",
    "ms",
    1e3,
)
RATE = Unit(
    "rate",
    parse_rate,
    format_rate,
    "a rate such as '>= 400/s', '1200/min' or a number of tasks per second",
    "tasks/s",
    1.0,
)
FRACTION = Unit(
    "fraction", parse_fraction, format_fraction, "a fraction such as '<= 1%' or 0.01", "%", 100.0
)
RATIO = Unit(
    "ratio", parse_ratio, _format_ratio, "a ratio such as '>= 0.9', '90%' or 1.2", "ratio", 1.0
)
BYTES = Unit(
    "bytes",
    parse_bytes,
    format_bytes,
    "a size such as '<= 1KB' or a number of bytes",
    "MiB",
    1 / MIB,
)
COUNT = Unit(
    "count",
    parse_count,
    format_count,
    "a count such as '<= 2', '3k' (3,000) or '1.5M'",
    "count",
    1.0,
)
MONEY = Unit(
    "money",
    parse_money,
    format_money,
    "an amount such as '<= $0.002', '0.002 USD' or a number in the price table's currency",
    "currency",
    1.0,
)
TOKEN_RATE = Unit(
    "token rate",
    parse_token_rate,
    lambda v: "-" if v is None or math.isnan(v) else f"{v:,.0f} tok/s",
    "a rate such as '>= 50/s' or a number of tokens per second",
    "tokens/s",
    1.0,
)


@dataclass(frozen=True, slots=True)
class Metric:
    """A figure of a result, and everything the plugin needs to know about it."""

    name: str  # the canonical name: budget(), pyproject, CLI, SLOs, fail rules, JSON, HTML
    label: str  # for people: "latency p95"
    unit: Unit
    better: Better
    measure: Measure
    marker: tuple[str, str] | None = None  # the budget marker and keyword that limit it
    aliases: tuple[str, ...] = ()  # other accepted spellings
    test: Test | None = None  # how a baseline comparison tests a change
    quantile: float | None = None  # latency percentiles: for the quantile test
    parse_bare: Parser | None = None  # when a bare number means something else than SI
    accepted_bare: str = ""  # ... and what a limit may then look like, for error messages
    export: bool = False  # written to the github-action-benchmark files
    tolerance: float = 0.0  # exact tests: the relative change allowed by default

    @property
    def op(self) -> Op:
        """The operator a bare limit gets: ``<=`` when lower is better, else ``>=``."""
        return "<=" if self.better == "lower" else ">="

    @property
    def parse(self) -> Parser:
        """The parser of a limit's value (after its operator)."""
        return self.parse_bare or self.unit.parse

    @property
    def accepted(self) -> str:
        """What a limit on this metric may look like, for error messages."""
        return self.accepted_bare or self.unit.accepted

    def format(self, value: float | None) -> str:
        """``value`` (SI) as a person reads it; ``-`` when not measured."""
        return self.unit.format(value)

    def value(self, result: PerfResult) -> float | None:
        """The measured value, ``None`` when the run did not measure it (or it is NaN)."""
        measured = self.measure(result)
        return None if measured is None or math.isnan(measured) else float(measured)


def _latency(field: str) -> Measure:
    return lambda r: getattr(r.latency, field)


def _ttft(field: str) -> Measure:
    def measure(r: PerfResult) -> float | None:
        summary: LatencySummary | None = r.ttft
        return None if summary is None else float(getattr(summary, field))

    return measure


def _spend(figure: str) -> Measure:
    def measure(r: PerfResult) -> float | None:
        spend = r.llm
        value: Distribution | None = None if spend is None else getattr(spend, figure)
        return None if value is None else value.mean

    return measure


def _itl(field: str) -> Measure:
    def measure(r: PerfResult) -> float | None:
        summary = None if r.llm is None else r.llm.itl
        return None if summary is None else float(getattr(summary, field))

    return measure


def _memory(field: str) -> Measure:
    return lambda r: None if r.memory is None else float(getattr(r.memory, field))


def _parse_mib(value: str | float, where: str = "") -> float:
    return parse_bytes(value, where, number_unit=MIB)


def _percentiles() -> Iterator[Metric]:
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)):
        label = f"latency {name}"
        yield Metric(name, label, DURATION, "lower", _latency(name), ("latency", name),
                     test="latency", quantile=q, export=name in ("p50", "p95", "p99"))  # fmt: skip


def _ttfts() -> Iterator[Metric]:
    for p in ("p50", "p95", "p99"):
        name = f"ttft_{p}"
        yield Metric(name, f"TTFT {p}", DURATION, "lower", _ttft(p), ("latency", name),
                     export=name == "ttft_p95")  # fmt: skip


def _per_task() -> Iterator[Metric]:
    """What a task spends on LLM calls (means over the measured tasks), gated exactly."""
    for figure, label, keyword, aliases in (
        ("calls", "LLM calls/task", "calls_per_task", ("calls_per_task",)),
        ("tokens", "tokens/task", "tokens_per_task", ()),
        ("tokens_in", "input tokens/task", "tokens_in_per_task", ()),
        ("tokens_out", "output tokens/task", "tokens_out_per_task", ()),
        ("tool_rounds", "tool rounds/task", "tool_rounds_per_task", ()),
        ("retries", "retries/task", "retries_per_task", ()),
    ):
        name = "llm_calls_per_task" if figure == "calls" else keyword
        export = figure in ("calls", "tokens")
        yield Metric(name, label, COUNT, "lower", _spend(figure), ("llm", keyword),
                     aliases=aliases, test="exact", export=export)  # fmt: skip
    yield Metric("cost_per_task", "cost/task", MONEY, "lower", _spend("cost"),
                 ("llm", "cost_per_task"), test="exact", tolerance=0.01, export=True)  # fmt: skip


def _streaming() -> Iterator[Metric]:
    yield Metric("output_tokens_per_s", "output tokens/s", TOKEN_RATE, "higher",
                 lambda r: None if r.llm is None else r.llm.output_tokens_per_s,
                 ("llm", "output_tokens_per_s"))  # fmt: skip
    for p in ("p50", "p95", "p99"):
        yield Metric(f"itl_{p}", f"ITL {p}", DURATION, "lower", _itl(p), ("latency", f"itl_{p}"))


_ALL: tuple[Metric, ...] = (
    Metric("throughput", "throughput", RATE, "higher", lambda r: r.throughput,
           ("throughput", "min"), test="rate", export=True),
    Metric("efficiency", "efficiency", RATIO, "higher", lambda r: r.efficiency,
           ("throughput", "efficiency"), test="rate", export=True),
    *_percentiles(),
    Metric("max_latency", "latency max", DURATION, "lower", _latency("max"),
           ("latency", "max"), aliases=("max",)),
    Metric("mean_latency", "latency mean", DURATION, "lower", _latency("mean"),
           ("latency", "mean"), aliases=("mean",), test="latency"),
    *_ttfts(),
    Metric("error_rate", "error rate", FRACTION, "lower", lambda r: r.error_rate,
           ("error_rate", "max"), test="proportion", export=True),
    Metric("memory_growth", "memory growth", BYTES, "lower", _memory("growth_bytes"),
           ("memory_growth", "max_mb"), parse_bare=_parse_mib,
           accepted_bare="a size such as '<= 2MB', '512KB' or a number of MiB", export=True),
    Metric("memory_per_task", "memory per task", BYTES, "lower", _memory("per_task_bytes"),
           ("memory_growth", "per_task_bytes")),
    Metric("cpu_per_task", "CPU per task", DURATION, "lower", lambda r: r.cpu_per_task,
           ("cpu", "per_task"), test="cpu", export=True),
    Metric("agent_cpu_per_task", "agent CPU per task", DURATION, "lower",
           lambda r: r.agent_cpu_per_task, ("cpu", "agent_per_task")),
    Metric("harness_cpu_per_task", "harness CPU per task", DURATION, "lower",
           lambda r: r.harness_cpu_per_task, ("cpu", "harness_per_task")),
    Metric("capacity_per_core", "capacity per core", RATE, "higher",
           lambda r: r.capacity_per_core, ("cpu", "capacity_per_core")),
    *_per_task(),
    *_streaming(),
)  # fmt: skip

#: What each budget marker fails on (its registration line; keywords come from the metrics).
MARKER_HELP: dict[str, str] = {
    "throughput": "fail when throughput is below min (e.g. '400/s') or efficiency below the "
    "fraction (e.g. 0.9)",
    "latency": "fail when a latency percentile exceeds the duration (e.g. '150ms', numbers "
    "are seconds)",
    "error_rate": "fail when the error rate exceeds max (e.g. '1%' or 0.01)",
    "memory_growth": "fail when memory grows significantly by more than max_mb (e.g. '2MB', "
    "numbers are MiB) or per_task_bytes per task",
    "cpu": "fail when the process's CPU per task exceeds per_task (e.g. '500us', numbers are "
    "seconds), the agent's or the harness's share exceeds agent_per_task or "
    "harness_per_task, or capacity_per_core (1 / the agent's CPU per task) is below a rate "
    "(e.g. '1000/s')",
    "llm": "fail when what a task spends on LLM calls exceeds its limit: calls, tokens (e.g. "
    "'3k'), tool rounds or retries per task (means over the tasks), cost per task (e.g. "
    "'$0.002', needs [tool.agentperf.prices]); or when output_tokens_per_s falls below",
}

#: Every metric by canonical name, in the order tables list them.
METRICS: dict[str, Metric] = {m.name: m for m in _ALL}
_BY_SPELLING: dict[str, Metric] = {spelling: m for m in _ALL for spelling in (m.name, *m.aliases)}


def lookup(name: str) -> Metric | None:
    """The metric called ``name`` (canonical or an accepted alias, any case), or ``None``."""
    return _BY_SPELLING.get(name.strip().lower())


def resolve_name(name: str) -> str | None:
    """The canonical name of ``name``, or ``None`` when no metric is called so."""
    metric = lookup(name)
    return None if metric is None else metric.name


def marker_keywords() -> dict[str, dict[str, str]]:
    """Budget markers and their keywords: ``{"latency": {"p95": "p95", "max": ...}}``."""
    markers: dict[str, dict[str, str]] = {}
    for metric in _ALL:
        if metric.marker is not None:
            marker, keyword = metric.marker
            markers.setdefault(marker, {})[keyword] = metric.name
    return markers


def format_value(name: str, value: float | None) -> str:
    """``value`` in the unit of the metric ``name``; other figures as plain numbers."""
    metric = lookup(name)
    if metric is not None:
        return metric.format(value)
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3g}"
