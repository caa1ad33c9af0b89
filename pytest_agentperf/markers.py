"""The markers: their registration lines and one strict parser.

``agentperf`` marks a performance test; the budget markers ``throughput``, ``latency``,
``memory_growth`` and ``error_rate`` imply it. Every keyword maps to one metric of
:data:`pytest_agentperf.budgets.METRICS`; unknown keywords and positional arguments are
rejected with a message naming the test, the marker, the keyword and what is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from pytest_agentperf.budgets import Budget, parse_budget
from pytest_agentperf.errors import BudgetConfigError

__all__ = [
    "BUDGET_MARKERS",
    "MARKER_LINES",
    "PERF_MARKERS",
    "SPEC_KEY",
    "PerfSpec",
    "parse_item",
]

# marker -> {keyword: metric}
BUDGET_MARKERS: dict[str, dict[str, str]] = {
    "throughput": {"min": "throughput", "efficiency": "efficiency"},
    "latency": {
        "p50": "p50",
        "p90": "p90",
        "p95": "p95",
        "p99": "p99",
        "max": "max_latency",
        "mean": "mean_latency",
        "ttft_p50": "ttft_p50",
        "ttft_p95": "ttft_p95",
        "ttft_p99": "ttft_p99",
    },
    "memory_growth": {"max_mb": "memory_growth", "per_task_bytes": "memory_per_task"},
    "error_rate": {"max": "error_rate"},
}
PERF_MARKERS = ("agentperf", *BUDGET_MARKERS)
BUDGET_ON_DEFAULT = "all"

MARKER_LINES = (
    "agentperf(budget_on='all'): a performance test; runs only with --agentperf. "
    "budget_on: the results budgets apply to: 'all' (default), 'last', or a result name.",
    "throughput(min=None, efficiency=None): fail when throughput is below min "
    "(e.g. '400/s') or efficiency below the fraction (e.g. 0.9); implies agentperf.",
    "latency(p50=None, p90=None, p95=None, p99=None, max=None, mean=None, ttft_p50=None, "
    "ttft_p95=None, ttft_p99=None): fail when a latency percentile exceeds the duration "
    "(e.g. '150ms', numbers are seconds); implies agentperf.",
    "memory_growth(max_mb=None, per_task_bytes=None): fail when memory grows significantly "
    "by more than max_mb (e.g. '2MB', numbers are MiB) or per_task_bytes per task; "
    "implies agentperf.",
    "error_rate(max=None): fail when the error rate exceeds max (e.g. '1%' or 0.01); "
    "implies agentperf.",
)


@dataclass(frozen=True, slots=True)
class PerfSpec:
    """What the markers of one test declare."""

    is_perf: bool = False
    budgets: Mapping[str, Budget] = field(default_factory=dict)  # metric -> marker budget
    budget_on: str = BUDGET_ON_DEFAULT

    @property
    def has_memory_budget(self) -> bool:
        return any(m.startswith("memory_") for m in self.budgets)


SPEC_KEY = pytest.StashKey[PerfSpec]()


def closest_first(item: pytest.Item, name: str) -> list[pytest.Mark]:
    """Marks named ``name``, closest first; ``pytest.param(marks=...)`` beat the decorators."""
    callspec = getattr(item, "callspec", None)
    param = [m for m in (callspec.marks if callspec else ()) if m.name == name]
    rest = [m for m in item.iter_markers(name) if not any(m is p for p in param)]
    return param + rest


def _check_signature(nodeid: str, mark: pytest.Mark, accepted: list[str]) -> None:
    names = ", ".join(accepted)
    if mark.args:
        raise BudgetConfigError(
            f"{nodeid}: @pytest.mark.{mark.name} takes keyword arguments only, got "
            f"{', '.join(map(repr, mark.args))}; accepted: {names}."
        )
    for keyword in mark.kwargs:
        if keyword not in accepted:
            raise BudgetConfigError(
                f"{nodeid}: @pytest.mark.{mark.name} has no keyword {keyword!r}; accepted: {names}."
            )


def _budget_on(item: pytest.Item) -> str:
    marks = closest_first(item, "agentperf")
    for mark in marks:
        _check_signature(item.nodeid, mark, ["budget_on"])
    value = next((m.kwargs["budget_on"] for m in marks if "budget_on" in m.kwargs), None)
    if value is None:
        return BUDGET_ON_DEFAULT
    if not isinstance(value, str) or not value:
        raise BudgetConfigError(
            f"{item.nodeid}: @pytest.mark.agentperf(budget_on={value!r}): "
            "accepted: 'all', 'last' or the name of a result."
        )
    return value


def _marker_budgets(item: pytest.Item) -> dict[str, Budget]:
    budgets: dict[str, Budget] = {}
    for name, keywords in BUDGET_MARKERS.items():
        for mark in closest_first(item, name):
            _check_signature(item.nodeid, mark, list(keywords))
            for keyword, value in mark.kwargs.items():
                metric = keywords[keyword]
                if metric in budgets or value is None:
                    continue
                where = f"{item.nodeid}: @pytest.mark.{name}({keyword}=...)"
                budgets[metric] = parse_budget(metric, value, where, "marker")
    return budgets


def parse_item(item: pytest.Item) -> PerfSpec:
    """Read and validate the markers of ``item``; raise :class:`BudgetConfigError` if bad."""
    is_perf = any(item.get_closest_marker(name) is not None for name in PERF_MARKERS)
    if not is_perf:
        return PerfSpec()
    return PerfSpec(True, _marker_budgets(item), _budget_on(item))
