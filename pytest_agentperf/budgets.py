"""Budgets: the metrics a test may limit, ``budget()``, and evaluation against results.

A *budget* is one limit on one metric (``p95 <= 150ms``). Budgets come from markers
(``@pytest.mark.latency(p95="150ms")``, or the ``budget()`` sugar), from the command line
(``--agentperf-budget p95=150ms``) and from ``[tool.agentperf.budgets]`` in pyproject.toml;
:func:`resolve` applies the precedence marker > CLI > ini/pyproject per metric.

Everything here is pure: parse values, evaluate results, render the failure text (the
table, plus the fit and diagnosis of a failed memory budget).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from pytest_agentperf.errors import BudgetConfigError, UnitError
from pytest_agentperf.result import LatencySummary, PerfResult
from pytest_agentperf.units import (
    Bound,
    Op,
    format_bytes,
    format_duration,
    format_fraction,
    format_rate,
    parse_bound,
    parse_bytes,
    parse_duration,
    parse_fraction,
    parse_rate,
)

__all__ = [
    "METRICS",
    "Budget",
    "BudgetCheck",
    "BudgetMarks",
    "Metric",
    "Verdict",
    "budget",
    "evaluate",
    "judge",
    "memory_details",
    "parse_budget",
    "render_checks",
    "resolve",
]

Source = Literal["marker", "cli", "ini", "pyproject"]
MIB = 1024.0**2

Parser = Callable[[str | float, str], float]
Measure = Callable[[PerfResult], float | None]


def _parse_mib(value: str | float, where: str = "") -> float:
    return parse_bytes(value, where, number_unit=MIB)


def _format_ratio(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _latency(field: str) -> Measure:
    return lambda r: _clean(getattr(r.latency, field))


def _ttft(field: str) -> Measure:
    def measure(r: PerfResult) -> float | None:
        summary: LatencySummary | None = r.ttft
        return None if summary is None else _clean(getattr(summary, field))

    return measure


def _memory(field: str) -> Measure:
    return lambda r: None if r.memory is None else float(getattr(r.memory, field))


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric a budget can limit: how to parse a limit, measure a result and show both."""

    name: str
    parse: Parser
    op: Op  # the operator a bare value gets
    fmt: Callable[[float | None], str]
    measure: Measure
    accepted: str  # what a value may look like, for error messages


_DURATION = "a duration such as '<= 150ms' or a number of seconds"
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "throughput",
            parse_rate,
            ">=",
            format_rate,
            lambda r: r.throughput,
            "a rate such as '>= 400/s', '1200/min' or a number of tasks per second",
        ),
        Metric(
            "efficiency",
            parse_fraction,
            ">=",
            _format_ratio,
            lambda r: r.efficiency,
            "a fraction such as '>= 0.9' or '90%'",
        ),
        *(
            Metric(p, parse_duration, "<=", format_duration, _latency(p), _DURATION)
            for p in ("p50", "p90", "p95", "p99")
        ),
        Metric("max_latency", parse_duration, "<=", format_duration, _latency("max"), _DURATION),
        Metric("mean_latency", parse_duration, "<=", format_duration, _latency("mean"), _DURATION),
        *(
            Metric(f"ttft_{p}", parse_duration, "<=", format_duration, _ttft(p), _DURATION)
            for p in ("p50", "p95", "p99")
        ),
        Metric(
            "error_rate",
            parse_fraction,
            "<=",
            format_fraction,
            lambda r: r.error_rate,
            "a fraction such as '<= 1%' or 0.01",
        ),
        Metric(
            "memory_growth",
            _parse_mib,
            "<=",
            format_bytes,
            _memory("growth_bytes"),
            "a size such as '<= 2MB', '512KB' or a number of MiB",
        ),
        Metric(
            "memory_per_task",
            parse_bytes,
            "<=",
            format_bytes,
            _memory("per_task_bytes"),
            "a size such as '<= 1KB' or a number of bytes",
        ),
    )
}
MEMORY_METRICS = frozenset({"memory_growth", "memory_per_task"})


@dataclass(frozen=True, slots=True)
class Budget:
    """One limit on one metric, and where it was declared."""

    metric: str
    bound: Bound
    source: Source = "marker"

    def describe(self) -> str:
        return f"{self.bound.op} {METRICS[self.metric].fmt(self.bound.limit)}"


def parse_budget(metric: str, value: object, where: str, source: Source = "marker") -> Budget:
    """Parse one limit; raise :class:`BudgetConfigError` naming ``where`` and what is accepted."""
    spec = METRICS.get(metric)
    if spec is None:
        accepted = ", ".join(METRICS)
        raise BudgetConfigError(f"{where}: unknown metric {metric!r}; accepted: {accepted}.")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BudgetConfigError(f"{where}: {value!r} is not {spec.accepted}.")
    try:
        bound = parse_bound(value, spec.parse, spec.op, where)
    except UnitError:
        raise BudgetConfigError(f"{where}: {value!r} is not {spec.accepted}.") from None
    return Budget(metric, bound, source)


def resolve(*tiers: Mapping[str, Budget]) -> list[Budget]:
    """Merge budget tiers, highest precedence first (marker, CLI, ini/pyproject), per metric."""
    merged: dict[str, Budget] = {}
    for tier in tiers:
        for metric, item in tier.items():
            merged.setdefault(metric, item)
    return [merged[name] for name in METRICS if name in merged]


# -- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """The verdict of one budget against one result."""

    metric: str
    op: str
    limit: float
    measured: float | None
    ok: bool
    margin: float | None  # (measured - limit) / limit; None when the limit is 0 or unmeasured
    source: str
    result: str = ""  # the name of the PerfResult checked
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "op": self.op,
            "limit": self.limit,
            "measured": self.measured,
            "ok": self.ok,
            "margin": self.margin,
            "source": self.source,
            "result": self.result,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BudgetCheck:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def _margin(measured: float, limit: float) -> float | None:
    return (measured - limit) / limit if limit else None


def check(item: Budget, result: PerfResult) -> BudgetCheck | None:
    """Check ``item`` against ``result``; ``None`` for a default budget the run did not measure.

    A memory budget fails only when the growth crosses the limit *and* the memory report
    found a significant trend (``leak``): noise alone never fails a test.
    """
    measured = METRICS[item.metric].measure(result)
    if measured is None and item.source != "marker":
        return None
    ok, note, margin = False, "not measured", None
    if measured is not None:
        ok, note, margin = item.bound.holds(measured), "", _margin(measured, item.bound.limit)
        memory = result.memory
        if not ok and item.metric in MEMORY_METRICS and memory is not None and not memory.leak:
            ok, note = True, "no significant growth trend"
    return BudgetCheck(
        metric=item.metric,
        op=item.bound.op,
        limit=item.bound.limit,
        measured=measured,
        ok=ok,
        margin=margin,
        source=item.source,
        result=result.name,
        note=note,
    )


def select(results: Sequence[PerfResult], budget_on: str) -> list[PerfResult]:
    """The results budgets apply to: ``"all"``, ``"last"`` or the results with that name."""
    if budget_on == "all":
        return list(results)
    if budget_on == "last":
        return list(results[-1:])
    return [r for r in results if r.name == budget_on]


def evaluate(budgets: Iterable[Budget], results: Sequence[PerfResult]) -> list[BudgetCheck]:
    """Check every budget against every result (in metric order, then result order)."""
    checks = (check(b, r) for b in budgets for r in results)
    return [c for c in checks if c is not None]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the budgets say about a test: its outcome, the checks and the failure text."""

    outcome: Literal["passed", "budget-failed"]
    checks: tuple[BudgetCheck, ...] = ()
    text: str = ""


def _no_workload(budgets: Sequence[Budget], results: Sequence[PerfResult], budget_on: str) -> str:
    declared = ", ".join(f"{b.metric} {b.describe()}" for b in budgets)
    if results:
        names = ", ".join(repr(r.name) for r in results)
        return (
            f"agentperf budget not checked: budget_on={budget_on!r} matches none of the "
            f"results ({names}); use 'all', 'last' or one of those names."
        )
    return (
        f"agentperf budget not checked: the test declares budgets ({declared}) but ran no "
        "workload; call 'await agent_perf.run(...)' (or 'agent_perf.run_sync(...)') in it."
    )


def judge(
    budgets: Sequence[Budget],
    results: Sequence[PerfResult],
    *,
    budget_on: str = "all",
    declared: bool = False,
) -> Verdict:
    """Check ``budgets`` against the results they apply to (see :func:`select`).

    ``declared``: the test itself declares budgets (markers), so running no workload fails.
    """
    selected = select(results, budget_on)
    if not selected:
        if declared or results:
            return Verdict("budget-failed", (), _no_workload(budgets, results, budget_on))
        return Verdict("passed")
    checks = tuple(evaluate(budgets, selected))
    if all(c.ok for c in checks):
        return Verdict("passed", checks)
    text = "\n\n".join([render_checks(checks), *memory_details(budgets, selected)])
    return Verdict("budget-failed", checks, text)


def memory_details(budgets: Sequence[Budget], results: Sequence[PerfResult]) -> list[str]:
    """The ``MemoryReport.describe()`` of every result whose memory budget failed.

    That is the fit (bytes per task), the leak verdict and the tracemalloc diagnosis; each is
    headed by the result's name when several results were checked.
    """
    memory_budgets = [b for b in budgets if b.metric in MEMORY_METRICS]
    details: list[str] = []
    for result in results:
        if result.memory is None:
            continue
        checks = (check(b, result) for b in memory_budgets)
        if any(c is not None and not c.ok for c in checks):
            text = result.memory.describe()
            details.append(f"memory of {result.name!r}:\n{text}" if len(results) > 1 else text)
    return details


# -- rendering ----------------------------------------------------------------------------


def _by(c: BudgetCheck) -> str:
    if c.measured is None:
        return c.note
    if c.ok:
        return "ok" + (f" ({c.note})" if c.note else "")
    fmt = METRICS[c.metric].fmt if c.metric in METRICS else str
    diff = c.measured - c.limit
    sign = "+" if diff >= 0 else "-"
    text = f"{sign}{fmt(abs(diff))}"
    if c.margin is not None:
        text += f" ({c.margin:+.1%})"
    return text + (" over" if c.op in ("<=", "<") else " under")


def check_row(c: BudgetCheck, with_result: bool) -> list[str]:
    """One row of the budget table: metric, limit, measured, by how much."""
    fmt = METRICS[c.metric].fmt if c.metric in METRICS else str
    row = [c.metric, f"{c.op} {fmt(c.limit)}", fmt(c.measured), _by(c)]
    return [c.result or "-", *row] if with_result else row


def table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in (header, *rows)
    ]
    return "\n".join(indent + line.rstrip() for line in lines)


def render_checks(checks: Sequence[BudgetCheck]) -> str:
    """The failure text: a headline naming the misses, then the table of every check."""
    missed = [c for c in checks if not c.ok]
    with_result = len({c.result for c in checks}) > 1
    heads = ", ".join(f"{c.metric} {_short(c)}" for c in missed)
    header = ["metric", "limit", "measured", "by"]
    if with_result:
        header = ["result", *header]
    rows = [check_row(c, with_result) for c in checks]
    headline = f"agentperf budget missed: {heads}"
    return f"{headline}\n{table(header, rows)}"


def _short(c: BudgetCheck) -> str:
    fmt = METRICS[c.metric].fmt if c.metric in METRICS else str
    if c.measured is None:
        return "not measured"
    return f"{fmt(c.measured)} (limit {c.op} {fmt(c.limit)})"


# -- budget() -----------------------------------------------------------------------------

# budget() key -> (marker, keyword)
BUDGET_KEYS: dict[str, tuple[str, str]] = {
    "throughput": ("throughput", "min"),
    "efficiency": ("throughput", "efficiency"),
    **{p: ("latency", p) for p in ("p50", "p90", "p95", "p99")},
    "max_latency": ("latency", "max"),
    "mean_latency": ("latency", "mean"),
    **{f"ttft_{p}": ("latency", f"ttft_{p}") for p in ("p50", "p95", "p99")},
    "error_rate": ("error_rate", "max"),
    "memory_growth": ("memory_growth", "max_mb"),
    "memory_per_task": ("memory_growth", "per_task_bytes"),
}


class BudgetMarks(list[pytest.MarkDecorator]):
    """What ``budget()`` returns: the equivalent markers.

    Usable as a decorator, as ``pytest.param(..., marks=budget(...))`` and as ``pytestmark``.
    """

    def __call__(self, func: Any) -> Any:
        for mark in self:
            func = mark(func)
        return func


def budget(**limits: str | float) -> BudgetMarks:
    """Declare budgets in one call: sugar for the ``throughput``/``latency``/... markers.

    ``budget(throughput=">= 400/s", p95="<= 150ms", error_rate="<= 1%", memory_growth="2MB")``.
    Keys are metric names (see ``METRICS``); values are validated when tests are collected.
    """
    unknown = sorted(set(limits) - set(BUDGET_KEYS))
    if unknown:
        raise BudgetConfigError(
            f"budget() got unknown limit(s) {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(BUDGET_KEYS)}."
        )
    grouped: dict[str, dict[str, str | float]] = {}
    for key, value in limits.items():
        marker, keyword = BUDGET_KEYS[key]
        grouped.setdefault(marker, {})[keyword] = value
    marks = BudgetMarks(getattr(pytest.mark, name)(**kwargs) for name, kwargs in grouped.items())
    return marks
