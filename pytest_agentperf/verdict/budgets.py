"""Budgets: limits on metrics, their precedence, and their evaluation against results.

A *budget* is one limit on one metric (``p95 <= 150ms``). Budgets come from markers
(``@pytest.mark.latency(p95="150ms")``, or the ``budget()`` sugar), from the command line
(``--agentperf-budget p95=150ms``) and from ``[tool.agentperf.budgets]`` in pyproject.toml;
:func:`resolve` applies the precedence marker > CLI > ini/pyproject per metric. The metrics
themselves are defined once, in :mod:`pytest_agentperf.metrics`.

Everything here is data in, data out: the text a person reads when a budget is missed is
rendered by :mod:`pytest_agentperf.report.text`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pytest_agentperf.engine.runner import NOTHING_MEASURED
from pytest_agentperf.engine.shares import LOST_SHARES
from pytest_agentperf.errors import BudgetConfigError, UnitError
from pytest_agentperf.metrics import DURATION, METRICS, MONEY, lookup
from pytest_agentperf.result import PerfResult
from pytest_agentperf.units import Bound, duration_hint, format_money, money_currency, parse_bound

__all__ = [
    "MEMORY_METRICS",
    "Budget",
    "BudgetCheck",
    "BudgetVerdict",
    "Source",
    "check",
    "evaluate",
    "evaluate_budgets",
    "memory_details",
    "parse_budget",
    "resolve",
    "select",
]

Source = Literal["marker", "cli", "ini", "pyproject"]
MEMORY_METRICS = frozenset(name for name in METRICS if name.startswith("memory_"))


@dataclass(frozen=True, slots=True)
class Budget:
    """One limit on one metric, and where it was declared."""

    metric: str
    bound: Bound
    source: Source = "marker"
    currency: str | None = None  # a cost limit's currency, when its text names one

    def describe(self) -> str:
        if self.currency is not None:
            return f"{self.bound.op} {format_money(self.bound.limit, self.currency)}"
        return f"{self.bound.op} {METRICS[self.metric].format(self.bound.limit)}"


def parse_budget(metric: str, value: object, where: str, source: Source = "marker") -> Budget:
    """Parse one limit; raise :class:`BudgetConfigError` naming ``where`` and what is accepted.

    ``metric`` may be any accepted spelling (``mean`` for ``mean_latency``); the budget
    carries the canonical name.
    """
    spec = lookup(metric)
    if spec is None:
        accepted = ", ".join(METRICS)
        raise BudgetConfigError(f"{where}: unknown metric {metric!r}; accepted: {accepted}.")
    if value is None:
        raise BudgetConfigError(
            f"{where}: None is not a limit; leave the keyword out to set no limit "
            f"(a limit is {spec.accepted})."
        )
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BudgetConfigError(f"{where}: {value!r} is not {spec.accepted}.")
    try:
        bound = parse_bound(value, spec.parse, spec.op, where)
    except UnitError:
        hint = duration_hint(value) if spec.unit is DURATION else ""
        raise BudgetConfigError(f"{where}: {value!r} is not {spec.accepted}{hint}.") from None
    currency = money_currency(value) if spec.unit is MONEY else None
    return Budget(spec.name, bound, source, currency)


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
    currency: str = ""  # a cost budget's currency (the price table's)

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
            "currency": self.currency,
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
    measured = METRICS[item.metric].value(result)
    if measured is None and item.source != "marker":
        return None
    ok, note, margin = False, _unmeasured(item.metric, result), None
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
        currency=(result.llm.currency if result.llm else "") or (item.currency or ""),
    )


def _unmeasured(metric: str, result: PerfResult) -> str:
    """Why ``metric`` has no value in ``result`` (a model the price table does not price)."""
    spend = result.llm
    if metric == "cost_per_task" and spend is not None and spend.unpriced:
        return (
            f"not measured: no price for model(s) {', '.join(spend.unpriced)} in "
            "[tool.agentperf.prices]"
        )
    return "not measured"


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
class BudgetVerdict:
    """What the budgets say about a test: its outcome and checks.

    ``problem`` explains a failure that is not a missed limit (no workload ran, or
    ``budget_on`` matched no result); ``memory`` holds the memory fit of each result whose
    memory budget failed (see :func:`memory_details`).
    """

    outcome: Literal["passed", "budget-failed"]
    checks: tuple[BudgetCheck, ...] = ()
    problem: str = ""
    memory: tuple[str, ...] = ()


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


def _nothing_measured(budgets: Sequence[Budget], empty: Sequence[PerfResult]) -> str:
    """Why budgets fail on results that measured no task (0% errors of nothing is no pass)."""
    declared = ", ".join(f"{b.metric} {b.describe()}" for b in budgets)
    why = [
        next((w for w in r.warnings if w.startswith(NOTHING_MEASURED)), NOTHING_MEASURED)
        for r in empty
    ]
    runs = "; ".join(f"the run {r.name!r} {w}" for r, w in zip(empty, why, strict=True))
    return f"agentperf budget not met: {runs}; its figures meet no budget ({declared})."


def evaluate_budgets(
    budgets: Sequence[Budget],
    results: Sequence[PerfResult],
    *,
    budget_on: str = "all",
    declared: bool = False,
) -> BudgetVerdict:
    """Check ``budgets`` against the results they apply to (see :func:`select`).

    ``declared``: the test itself declares budgets (markers), so running no workload fails.
    A result that measured no task fails every budget (its 0% error rate is the rate of
    nothing), with the reason the engine gave in its warnings.
    """
    selected = select(results, budget_on)
    if not selected:
        if declared or results:
            problem = _no_workload(budgets, results, budget_on)
            return BudgetVerdict("budget-failed", (), problem)
        return BudgetVerdict("passed")
    empty = [r for r in selected if r.total == 0]
    if empty and budgets:
        return BudgetVerdict("budget-failed", (), _nothing_measured(budgets, empty))
    checks = tuple(evaluate(budgets, selected))
    partial = _partial(selected)
    if partial:
        return BudgetVerdict("budget-failed", checks, partial)
    if all(c.ok for c in checks):
        return BudgetVerdict("passed", checks)
    return BudgetVerdict("budget-failed", checks, memory=tuple(memory_details(budgets, selected)))


def _partial(results: Sequence[PerfResult]) -> str:
    """Why budgets cannot pass: a result that lost worker processes (``processes=N``)."""
    lines = [
        f"{r.name!r}: {entry.get('text', entry)}"
        for r in results
        for entry in r.extra.get(LOST_SHARES, ())
    ]
    if not lines:
        return ""
    return "agentperf budgets failed: the run is partial, budgets cannot pass on it.\n" + "\n".join(
        f"  {line}" for line in lines
    )


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
