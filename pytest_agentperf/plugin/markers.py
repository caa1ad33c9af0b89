"""The markers: their registration lines, one strict parser, and ``budget()``.

``agentperf`` marks a performance test; the budget markers ``throughput``, ``latency``,
``memory_growth`` and ``error_rate`` imply it. Every keyword maps to one metric of
:data:`pytest_agentperf.metrics.METRICS` (its ``marker``); unknown keywords and positional
arguments are rejected with a message naming the test, the marker, the keyword and what is
accepted. ``budget(p95="150ms", ...)`` is sugar that expands to those markers.

``mock_llm(hosts=, allow=, env=, base_url=)`` configures the ``mock_llm`` fixture for one
test (or a module or class, through ``pytestmark``); :func:`mock_options` merges it with the
suite's options and checks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_agentperf.errors import BudgetConfigError, MockConfigError
from pytest_agentperf.metrics import MARKER_HELP, METRICS, lookup, marker_keywords
from pytest_agentperf.plugin.settings import MockOptions
from pytest_agentperf.verdict.budgets import Budget, parse_budget

__all__ = [
    "BUDGET_MARKERS",
    "MARKER_LINES",
    "PERF_MARKERS",
    "SPEC_KEY",
    "BudgetMarks",
    "PerfSpec",
    "budget",
    "mock_options",
    "parse_item",
]

#: marker -> {keyword: metric}, from the metric registry.
BUDGET_MARKERS: dict[str, dict[str, str]] = marker_keywords()
PERF_MARKERS = ("agentperf", *BUDGET_MARKERS)
BUDGET_ON_DEFAULT = "all"

MOCK_KEYWORDS = ("hosts", "allow", "env", "base_url")
MARKER_LINES = (
    "agentperf(budget_on='all'): a performance test; runs only with --agentperf. "
    "budget_on: the results budgets apply to: 'all' (default), 'last', or a result name.",
    "mock_llm(hosts=None, allow=None, env=None, base_url=None): configure the mock_llm "
    "fixture: more hosts to mock (a provider name, URL or host[:port]), hosts to let through "
    "to the network, environment changes ({NAME: value or None}) and its base URL.",
    *(
        f"{marker}({', '.join(f'{k}=...' for k in keywords)}): "
        f"{MARKER_HELP.get(marker, 'fail when a figure misses its limit')}; implies agentperf."
        for marker, keywords in BUDGET_MARKERS.items()
    ),
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
                if metric in budgets:
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


# -- budget() -----------------------------------------------------------------------------


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
    Keys are metric names (see ``pytest_agentperf.metrics``). Keys and values are checked
    here, so a bad one is a :class:`BudgetConfigError` naming ``budget(key=...)`` when the
    test module is collected.
    """
    unknown = sorted(k for k in limits if (m := lookup(k)) is None or m.marker is None)
    if unknown:
        accepted = ", ".join(n for n, m in METRICS.items() if m.marker is not None)
        raise BudgetConfigError(
            f"budget() got unknown limit(s) {', '.join(map(repr, unknown))}; accepted: {accepted}."
        )
    grouped: dict[str, dict[str, str | float]] = {}
    for key, value in limits.items():
        parse_budget(key, value, f"budget({key}=...)")
        metric = lookup(key)
        marker, keyword = metric.marker if metric is not None and metric.marker else ("", "")
        grouped.setdefault(marker, {})[keyword] = value
    return BudgetMarks(getattr(pytest.mark, name)(**kwargs) for name, kwargs in grouped.items())


# -- mock_llm(...) --------------------------------------------------------------------------


def _as_list(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise MockConfigError(f"{where}={value!r} must be a host or a list of hosts (strings).")


def mock_options(item: pytest.Item, suite: MockOptions) -> MockOptions:
    """The options of ``item``'s mock: the suite's, then its ``mock_llm`` markers (closest wins).

    Hosts and allowed hosts add up; ``env`` entries and ``base_url`` of a closer marker win.
    Raises :class:`MockConfigError` naming the test, the marker and the keyword.
    """
    hosts, allow = list(suite.hosts), list(suite.allow)
    env: dict[str, str | None] = dict(suite.env)
    base_url = suite.base_url
    for mark in reversed(closest_first(item, "mock_llm")):  # farthest first, closest last
        where = f"{item.nodeid}: @pytest.mark.mock_llm"
        try:
            _check_signature(item.nodeid, mark, list(MOCK_KEYWORDS))
        except BudgetConfigError as exc:
            raise MockConfigError(str(exc)) from None
        kwargs = mark.kwargs
        if kwargs.get("hosts") is not None:
            hosts += _as_list(kwargs["hosts"], f"{where}(hosts)")
        if kwargs.get("allow") is not None:
            allow += _as_list(kwargs["allow"], f"{where}(allow)")
        if kwargs.get("env") is not None:
            if not isinstance(kwargs["env"], Mapping):
                raise MockConfigError(
                    f"{where}(env={kwargs['env']!r}) must be a mapping of names to values "
                    "(None: do not set that variable)."
                )
            env.update(kwargs["env"])
        if kwargs.get("base_url") is not None:
            base_url = kwargs["base_url"]
    return MockOptions(tuple(hosts), tuple(allow), env, base_url)
