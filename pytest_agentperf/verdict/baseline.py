"""Baselines: save a run, compare a later run with it, and fail only on real regressions.

A metric *regresses* only when both hold:

1. its change is beyond the rule's threshold (``p95:10%``: the p95 grew by more than 10%),
   measured on the exact figures of the two runs; and
2. the change is statistically significant at level ``alpha`` (default 1%), by a test
   on request-level or per-window samples (see :mod:`pytest_agentperf.verdict.significance`):

   - latency percentiles: Mann-Whitney U on the latency reservoirs (a shift of the whole
     distribution) combined (Bonferroni) with a quantile test of that percentile (a
     change confined to the tail);
   - mean latency: Mann-Whitney U on the reservoirs;
   - throughput / efficiency: Mann-Whitney U on the per-window throughputs (partial
     windows dropped); with fewer than 5 windows a side, Mann-Whitney U on the latencies
     (Little's law: at a fixed concurrency throughput falls exactly when latency grows);
   - error rate: a two-proportion z-test;
   - CPU per task: Mann-Whitney U on the per-window process CPU per task (partial windows
     dropped; untested with fewer than 5 windows a side).

The threshold keeps shared-machine drift (a few percent between jobs, always
"significant" with thousands of requests) from failing CI; the test keeps a noisy point
estimate that happens to cross the threshold from failing it.

Figures a seeded mock makes deterministic -- LLM calls, tokens, tool rounds, retries and
cost per task (the metrics whose ``test`` is ``"exact"``) -- are compared with no test:
any change beyond their tolerance (by default none for counts, 1% for cost, whose sums
depend on the order of additions) regresses. They are compared whenever both runs
measured them, whatever the fail expression says; the expression may set their
tolerance (``tokens_per_task:5%``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pytest_agentperf.errors import BaselineError, CompareExprError, UnitError
from pytest_agentperf.metrics import METRICS, Metric, lookup
from pytest_agentperf.result import PerfResult, WindowStats, finite_or_none
from pytest_agentperf.verdict import significance as sig

__all__ = [
    "COMPARABLE",
    "DEFAULT_ALPHA",
    "DEFAULT_FAIL_EXPR",
    "EXACT_ONLY",
    "BaselineIndex",
    "Comparison",
    "ComparisonRow",
    "FailRule",
    "ResultComparison",
    "RowVerdict",
    "compare",
    "compare_documents",
    "compare_results",
    "default_rules",
    "index_document",
    "match_results",
    "parse_fail_expr",
]

DEFAULT_ALPHA = 0.01
DEFAULT_FAIL_EXPR = "p95:10%,throughput:-10%"
#: The fail expression that gates only the exact figures (LLM calls, tokens, cost per task).
EXACT_ONLY = "exact"

MIN_SAMPLES = 8  # fewer latency samples a side: the change is reported but not tested
MIN_WINDOWS = 5  # fewer full windows a side: throughput is tested through latency

Direction = Literal["up", "down"]  # which way a change is a regression
RowVerdict = Literal["regressed", "ok", "improved", "not significant", "untested", "no data"]


# --------------------------------------------------------------------------- metrics

#: The metrics a fail rule may name: those a baseline comparison can test.
COMPARABLE: dict[str, Metric] = {n: m for n, m in METRICS.items() if m.test is not None}


def _direction(metric: Metric) -> Direction:
    return "up" if metric.better == "lower" else "down"


def _plain_number(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


_ACCEPTED = (
    f"a comma-separated list of metric:change with metric one of {', '.join(COMPARABLE)} and a "
    "change such as 10% (relative), 20ms, -50/s or -0.05 (absolute), "
    f"e.g. '{DEFAULT_FAIL_EXPR},efficiency:-0.05', or '{EXACT_ONLY}' for the exact figures only"
)
_ITEM = re.compile(r"^\s*(?P<metric>[A-Za-z_0-9]+)\s*:\s*(?P<sign>[-+]?)\s*(?P<amount>.+?)\s*$")


# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class FailRule:
    """Fail when ``metric`` moves in its bad ``direction`` by more than ``threshold``.

    ``threshold`` is a fraction of the baseline when ``relative`` (``10%`` -> 0.10), else
    an absolute amount in the metric's unit (seconds, tasks/s, a fraction or a number).
    """

    metric: str
    threshold: float
    relative: bool
    direction: Direction

    def change(self, baseline: float, current: float) -> float:
        """The change in this rule's terms: relative (``0.25`` = +25%) or absolute."""
        if self.relative:
            if baseline == 0.0:
                return 0.0 if current == 0.0 else math.copysign(math.inf, current)
            return current / baseline - 1.0
        return current - baseline

    def beyond(self, baseline: float, current: float) -> bool:
        """Whether the change from ``baseline`` to ``current`` is a regression past the limit."""
        change = self.change(baseline, current)
        return change > self.threshold if self.direction == "up" else -change > self.threshold

    def improved(self, baseline: float, current: float) -> bool:
        """Whether the change is as large as the limit, but in the good direction."""
        change = self.change(baseline, current)
        return -change > self.threshold if self.direction == "up" else change > self.threshold

    def __str__(self) -> str:
        sign = "+" if self.direction == "up" else "-"
        if self.relative:
            return f"{self.metric}:{sign}{self.threshold * 100:g}%"
        return f"{self.metric}:{sign}{METRICS[self.metric].format(self.threshold)}"

    @property
    def limit_text(self) -> str:
        """The threshold as shown in tables: ``+10%``, ``-5.0/s``."""
        return str(self).split(":", 1)[1]


def parse_fail_expr(expr: str, where: str = "") -> list[FailRule]:
    """Parse ``"p95:10%,throughput:-5%,efficiency:-0.05"`` into rules.

    The direction comes from the metric (latencies and error rate regress upward,
    throughput and efficiency downward); a sign, when written, must agree with it.
    ``%`` makes the threshold relative to the baseline; anything else is absolute in
    the metric's unit (``p95:20ms``, ``throughput:-50/s``, ``error_rate:0.01``).
    """
    place = f" in {where}" if where else ""
    if not expr or not expr.strip():
        raise CompareExprError(f"The fail expression{place} is empty; use {_ACCEPTED}.")
    if expr.strip().lower() == EXACT_ONLY:
        return []  # no timing rule: only the exact figures, which are always compared
    rules: dict[str, FailRule] = {}
    for item in expr.split(","):
        rule = _parse_item(item, expr, place)
        if rule.metric in rules:
            raise CompareExprError(
                f"{rule.metric!r} appears twice in the fail expression {expr!r}{place}; "
                "give each metric once."
            )
        rules[rule.metric] = rule
    return list(rules.values())


def _parse_item(item: str, expr: str, place: str) -> FailRule:
    def bad(problem: str) -> CompareExprError:
        return CompareExprError(
            f"{item.strip()!r} in the fail expression {expr!r}{place} {problem}; use {_ACCEPTED}."
        )

    match = _ITEM.match(item)
    if match is None:
        raise bad("is not metric:change")
    metric = lookup(match["metric"])
    if metric is None or metric.name not in COMPARABLE:
        raise bad(f"names an unknown metric {match['metric']!r}")
    direction = _direction(metric)
    sign, amount = match["sign"], match["amount"]
    if sign and (sign == "+") != (direction == "up"):
        worse = "an increase" if direction == "up" else "a decrease"
        raise bad(f"has the wrong sign: {match['metric']} regresses by {worse}")
    try:
        if amount.endswith("%"):
            threshold, relative = _plain_number(amount[:-1]) / 100.0, True
        else:
            threshold, relative = metric.parse(amount, ""), False
    except (UnitError, ValueError):
        raise bad("has a change that is not a number, a percentage or a quantity") from None
    if threshold < 0:
        raise bad("has a negative amount after its sign")
    return FailRule(metric.name, threshold, relative, direction)


def default_rules() -> list[FailRule]:
    """The rules used when none are given: ``p95:10%,throughput:-10%``."""
    return parse_fail_expr(DEFAULT_FAIL_EXPR)


def exact_rules(named: Sequence[FailRule] = ()) -> list[FailRule]:
    """The exact metrics' default rules (their ``tolerance``), except those ``named``."""
    taken = {rule.metric for rule in named}
    return [
        FailRule(m.name, m.tolerance, True, _direction(m))
        for m in COMPARABLE.values()
        if m.test == "exact" and m.name not in taken
    ]


# ------------------------------------------------------------------------ comparison


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One metric of a comparison."""

    metric: str
    baseline: float | None
    current: float | None
    change: float | None  # relative (0.25 = +25%) when the rule is relative, else absolute
    relative: bool
    limit: str  # the rule's threshold as written in tables: "+10%"
    p_value: float | None  # one-sided, in the direction the metric moved (None: not tested)
    test: str  # which test produced p_value
    verdict: RowVerdict

    @property
    def confidence(self) -> float | None:
        """``1 - p_value``: how sure we are the metric moved the way it did."""
        return None if self.p_value is None else 1.0 - self.p_value

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "baseline": finite_or_none(self.baseline),
            "current": finite_or_none(self.current),
            "change": finite_or_none(self.change),
            "relative": self.relative,
            "limit": self.limit,
            "p_value": self.p_value,
            "confidence": self.confidence,
            "test": self.test,
            "verdict": self.verdict,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComparisonRow:
        return cls(
            metric=data["metric"],
            baseline=data.get("baseline"),
            current=data.get("current"),
            change=data.get("change"),
            relative=bool(data.get("relative", True)),
            limit=data.get("limit", ""),
            p_value=data.get("p_value"),
            test=data.get("test", ""),
            verdict=data.get("verdict", "ok"),
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    """A current run compared with its baseline, one row per rule."""

    rows: tuple[ComparisonRow, ...]
    alpha: float = DEFAULT_ALPHA
    name: str = ""  # the result's name (a run or sweep step of the test)

    @property
    def regressed(self) -> bool:
        """Whether any metric regressed (beyond its threshold and significant)."""
        return any(row.verdict == "regressed" for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "regressed": self.regressed,
            "alpha": self.alpha,
            "name": self.name,
            "rows": [row.to_dict() for row in self.rows],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        rows = tuple(ComparisonRow.from_dict(r) for r in data.get("rows", ()))
        return cls(rows, float(data.get("alpha", DEFAULT_ALPHA)), str(data.get("name", "")))


def compare(
    baseline: PerfResult,
    current: PerfResult,
    rules: Sequence[FailRule] | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> Comparison:
    """Compare ``current`` with ``baseline`` under ``rules`` (default: :func:`default_rules`)."""
    chosen = default_rules() if rules is None else list(rules)
    rows = [_compare_metric(rule, baseline, current, alpha) for rule in chosen]
    for rule in exact_rules(chosen):  # deterministic figures: compared whenever measured
        metric = METRICS[rule.metric]
        if metric.value(baseline) is not None or metric.value(current) is not None:
            rows.append(_compare_metric(rule, baseline, current, alpha))
    return Comparison(tuple(rows), alpha, current.name)


def _compare_metric(
    rule: FailRule, base: PerfResult, cur: PerfResult, alpha: float
) -> ComparisonRow:
    metric = METRICS[rule.metric]
    b, c = metric.value(base), metric.value(cur)
    if b is None or c is None:
        return ComparisonRow(
            rule.metric, b, c, None, rule.relative, rule.limit_text, None, "", "no data"
        )
    change = rule.change(b, c)
    verdict: RowVerdict = "ok"
    p_value, test = None, ""
    worse, better = rule.beyond(b, c), rule.improved(b, c)
    if metric.test == "exact":
        verdict = "regressed" if worse else "improved" if better else "ok"
        test = "exact" if base.total == cur.total else f"exact ({base.total} vs {cur.total} tasks)"
    elif worse or better:
        tested = _significance(rule.metric, base, cur, worse=worse)
        if tested is None:
            verdict = "untested"
        else:
            p_value, test = tested
            if p_value >= alpha:
                verdict = "not significant"
            else:
                verdict = "regressed" if worse else "improved"
    return ComparisonRow(
        rule.metric, b, c, change, rule.relative, rule.limit_text, p_value, test, verdict
    )


def _significance(
    metric: str, base: PerfResult, cur: PerfResult, *, worse: bool
) -> tuple[float, str] | None:
    """One-sided p-value that ``cur`` moved away from ``base`` (``worse`` or better)."""
    spec = METRICS[metric]
    up = (spec.better == "lower") == worse  # does the tested change go upward?
    alt: sig.Alternative = "greater" if up else "less"
    if spec.test == "proportion":
        if base.total == 0 or cur.total == 0:
            return None
        r = sig.two_proportion_test(cur.failed, cur.total, base.failed, base.total, alt)
        return r.p_value, "two-proportion z-test"
    if spec.test == "rate":
        return _rate_significance(metric, base, cur, alt)
    if spec.test == "cpu":
        return _cpu_significance(base, cur, alt)
    return _latency_significance(spec.quantile, base.samples, cur.samples, alt)


def _latency_significance(
    q: float | None, base: Sequence[float], cur: Sequence[float], alt: sig.Alternative
) -> tuple[float, str] | None:
    if len(base) < MIN_SAMPLES or len(cur) < MIN_SAMPLES:
        return None
    p = sig.mann_whitney_u(cur, base, alt).p_value
    applies = q is not None and sig.quantile_test_applies(min(len(base), len(cur)), q)
    if not applies or min(base) <= 0.0 or min(cur) <= 0.0:
        return p, "Mann-Whitney U"
    assert q is not None
    pq = sig.quantile_test(cur, base, q, alt).p_value
    return min(1.0, 2.0 * min(p, pq)), f"Mann-Whitney U + p{q * 100:g} quantile test"


def _full_windows(windows: Sequence[WindowStats]) -> list[WindowStats]:
    """The windows at least half as long as the typical one (drops a partial last window)."""
    lengths = sorted(w.end - w.start for w in windows)
    if not lengths:
        return []
    typical = lengths[len(lengths) // 2]
    return [w for w in windows if w.end - w.start >= 0.5 * typical]


def _rate_significance(
    metric: str, base: PerfResult, cur: PerfResult, alt: sig.Alternative
) -> tuple[float, str] | None:
    bw, cw = _full_windows(base.timeseries), _full_windows(cur.timeseries)
    if len(bw) >= MIN_WINDOWS and len(cw) >= MIN_WINDOWS:
        scale_b = _scale(metric, base)
        scale_c = _scale(metric, cur)
        if scale_b is not None and scale_c is not None:
            xs = [w.throughput * scale_c for w in cw]
            ys = [w.throughput * scale_b for w in bw]
            return sig.mann_whitney_u(xs, ys, alt).p_value, "Mann-Whitney U on windows"
    # Few windows: a lower rate means longer latencies (Little's law), so test those.
    flipped: sig.Alternative = "greater" if alt == "less" else "less"
    tested = _latency_significance(None, base.samples, cur.samples, flipped)
    if tested is None:
        return None
    return tested[0], "Mann-Whitney U on latencies"


def _cpu_significance(
    base: PerfResult, cur: PerfResult, alt: sig.Alternative
) -> tuple[float, str] | None:
    """CPU per task, window by window (the time series carries each window's CPU)."""

    def per_window(result: PerfResult) -> list[float]:
        values = (w.cpu_per_task for w in _full_windows(result.timeseries))
        return [v for v in values if v is not None]

    xs, ys = per_window(cur), per_window(base)
    if len(xs) < MIN_WINDOWS or len(ys) < MIN_WINDOWS:
        return None
    return sig.mann_whitney_u(xs, ys, alt).p_value, "Mann-Whitney U on per-window CPU"


def _scale(metric: str, result: PerfResult) -> float | None:
    """Factor from a window's throughput to the metric (efficiency is proportional to it)."""
    if metric == "throughput":
        return 1.0
    if result.efficiency is None or result.throughput <= 0:
        return None
    return result.efficiency / result.throughput


# ------------------------------------------------------------------ whole documents


@dataclass(frozen=True, slots=True)
class ResultComparison:
    """A result of a test in the current document and what its baseline comparison says."""

    nodeid: str
    name: str
    comparison: Comparison | None  # None: nothing to compare with
    note: str = ""

    @property
    def regressed(self) -> bool:
        return self.comparison is not None and self.comparison.regressed


def match_results(
    baseline: Sequence[PerfResult], current: Sequence[PerfResult]
) -> list[tuple[PerfResult | None, PerfResult]]:
    """Pair each current result with its baseline: by name when names are unique, else by order."""
    names = [r.name for r in baseline]
    by_name = {r.name: r for r in baseline} if len(set(names)) == len(names) else {}
    pairs: list[tuple[PerfResult | None, PerfResult]] = []
    for i, result in enumerate(current):
        match = by_name.get(result.name) if by_name else None
        if match is None and not by_name and i < len(baseline):
            match = baseline[i]
        pairs.append((match, result))
    return pairs


#: A baseline document read once: each test's results, by node id.
BaselineIndex = dict[str, list[PerfResult]]


def _results_of(test: dict[str, Any], where: str) -> list[PerfResult]:
    try:
        return [PerfResult.from_dict(r) for r in test.get("results") or ()]
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(
            f"A result of {test.get('nodeid')!r} in {where} is invalid: {exc}"
        ) from exc


def index_document(document: dict[str, Any], where: str = "the baseline") -> BaselineIndex:
    """Every test's results in ``document``, by node id (parsed once)."""
    return {
        str(test.get("nodeid", "?")): _results_of(test, where) for test in document.get("tests", ())
    }


def compare_results(
    baseline: BaselineIndex,
    nodeid: str,
    results: Sequence[PerfResult],
    rules: Sequence[FailRule] | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> list[ResultComparison]:
    """Compare each of one test's ``results`` with the same run in ``baseline``."""
    base_results = baseline.get(nodeid)
    if base_results is None:
        return [ResultComparison(nodeid, r.name, None, "not in the baseline") for r in results]
    out: list[ResultComparison] = []
    for base, cur in match_results(base_results, results):
        if base is None:
            out.append(ResultComparison(nodeid, cur.name, None, "no matching baseline run"))
        else:
            out.append(ResultComparison(nodeid, cur.name, compare(base, cur, rules, alpha=alpha)))
    return out


def compare_documents(
    baseline: dict[str, Any],
    current: dict[str, Any],
    rules: Sequence[FailRule] | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> list[ResultComparison]:
    """Compare every result of every test in ``current`` with the same one in ``baseline``."""
    index = index_document(baseline)
    out: list[ResultComparison] = []
    for nodeid, results in index_document(current, "the current results").items():
        out.extend(compare_results(index, nodeid, results, rules, alpha=alpha))
    return out
