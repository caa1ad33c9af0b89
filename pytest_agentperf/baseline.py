"""Baselines: save a run, compare a later run with it, and fail only on real regressions.

A metric *regresses* only when both hold:

1. its change is beyond the rule's threshold (``p95:10%``: the p95 grew by more than 10%),
   measured on the exact figures of the two runs; and
2. the change is statistically significant at level ``alpha`` (default 1%), by a test
   on request-level or per-window samples (see :mod:`pytest_agentperf.significance`):

   - latency percentiles: Mann-Whitney U on the latency reservoirs (a shift of the whole
     distribution) combined (Bonferroni) with a quantile test of that percentile (a
     change confined to the tail);
   - mean latency: Mann-Whitney U on the reservoirs;
   - throughput / efficiency: Mann-Whitney U on the per-window throughputs (partial
     windows dropped); with fewer than 5 windows a side, Mann-Whitney U on the latencies
     (Little's law: at a fixed concurrency throughput falls exactly when latency grows);
   - error rate: a two-proportion z-test.

The threshold keeps shared-machine drift (a few percent between jobs, always
"significant" with thousands of requests) from failing CI; the test keeps a noisy point
estimate that happens to cross the threshold from failing it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pytest_agentperf import significance as sig
from pytest_agentperf.baseline_store import (
    BASELINE_SCHEMA,
    BASELINE_VERSION,
    DEFAULT_ROOT,
    BaselineInfo,
    BaselineStore,
    load_document,
)
from pytest_agentperf.errors import BaselineError, CompareExprError, UnitError
from pytest_agentperf.result import PerfResult, WindowStats
from pytest_agentperf.units import (
    format_duration,
    format_fraction,
    format_rate,
    parse_duration,
    parse_fraction,
    parse_rate,
)

__all__ = [
    "BASELINE_SCHEMA",
    "BASELINE_VERSION",
    "COMPARISON_HEADERS",
    "DEFAULT_ALPHA",
    "DEFAULT_FAIL_EXPR",
    "DEFAULT_ROOT",
    "BaselineInfo",
    "BaselineStore",
    "Comparison",
    "ComparisonRow",
    "ResultComparison",
    "Rule",
    "compare",
    "compare_documents",
    "default_rules",
    "load_document",
    "match_results",
    "parse_fail_expr",
    "render_table",
]

DEFAULT_ALPHA = 0.01
DEFAULT_FAIL_EXPR = "p95:10%,throughput:-10%"

MIN_SAMPLES = 8  # fewer latency samples a side: the change is reported but not tested
MIN_WINDOWS = 5  # fewer full windows a side: throughput is tested through latency

Direction = Literal["up", "down"]  # which way a change is a regression
Verdict = Literal["regressed", "ok", "improved", "not significant", "untested", "no data"]


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True, slots=True)
class _Metric:
    direction: Direction
    value: Callable[[PerfResult], float | None]
    fmt: Callable[[float | None], str]
    parse: Callable[[str], float]  # an absolute threshold, without its sign
    quantile: float | None = None  # latency percentiles


def _plain_number(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def _fmt_number(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _latency(attr: str) -> Callable[[PerfResult], float | None]:
    return lambda r: getattr(r.latency, attr)


_METRICS: dict[str, _Metric] = {
    "p50": _Metric("up", _latency("p50"), format_duration, parse_duration, 0.50),
    "p90": _Metric("up", _latency("p90"), format_duration, parse_duration, 0.90),
    "p95": _Metric("up", _latency("p95"), format_duration, parse_duration, 0.95),
    "p99": _Metric("up", _latency("p99"), format_duration, parse_duration, 0.99),
    "mean": _Metric("up", _latency("mean"), format_duration, parse_duration),
    "throughput": _Metric("down", lambda r: r.throughput, format_rate, parse_rate),
    "efficiency": _Metric("down", lambda r: r.efficiency, _fmt_number, _plain_number),
    "error_rate": _Metric("up", lambda r: r.error_rate, format_fraction, parse_fraction),
}

_ACCEPTED = (
    f"a comma-separated list of metric:change with metric one of {', '.join(_METRICS)} and a "
    "change such as 10% (relative), 20ms, -50/s or -0.05 (absolute), "
    f"e.g. '{DEFAULT_FAIL_EXPR},efficiency:-0.05'"
)
_ITEM = re.compile(r"^\s*(?P<metric>[A-Za-z_0-9]+)\s*:\s*(?P<sign>[-+]?)\s*(?P<amount>.+?)\s*$")


# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Rule:
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
        return f"{self.metric}:{sign}{_METRICS[self.metric].fmt(self.threshold)}"

    @property
    def limit_text(self) -> str:
        """The threshold as shown in tables: ``+10%``, ``-5.0/s``."""
        return str(self).split(":", 1)[1]


def parse_fail_expr(expr: str, where: str = "") -> list[Rule]:
    """Parse ``"p95:10%,throughput:-5%,efficiency:-0.05"`` into rules.

    The direction comes from the metric (latencies and error rate regress upward,
    throughput and efficiency downward); a sign, when written, must agree with it.
    ``%`` makes the threshold relative to the baseline; anything else is absolute in
    the metric's unit (``p95:20ms``, ``throughput:-50/s``, ``error_rate:0.01``).
    """
    place = f" in {where}" if where else ""
    if not expr or not expr.strip():
        raise CompareExprError(f"The fail expression{place} is empty; use {_ACCEPTED}.")
    rules: dict[str, Rule] = {}
    for item in expr.split(","):
        rule = _parse_item(item, expr, place)
        if rule.metric in rules:
            raise CompareExprError(
                f"{rule.metric!r} appears twice in the fail expression {expr!r}{place}; "
                "give each metric once."
            )
        rules[rule.metric] = rule
    return list(rules.values())


def _parse_item(item: str, expr: str, place: str) -> Rule:
    def bad(problem: str) -> CompareExprError:
        return CompareExprError(
            f"{item.strip()!r} in the fail expression {expr!r}{place} {problem}; use {_ACCEPTED}."
        )

    match = _ITEM.match(item)
    if match is None:
        raise bad("is not metric:change")
    metric = _METRICS.get(match["metric"].lower())
    if metric is None:
        raise bad(f"names an unknown metric {match['metric']!r}")
    sign, amount = match["sign"], match["amount"]
    if sign and (sign == "+") != (metric.direction == "up"):
        worse = "an increase" if metric.direction == "up" else "a decrease"
        raise bad(f"has the wrong sign: {match['metric']} regresses by {worse}")
    try:
        if amount.endswith("%"):
            threshold, relative = _plain_number(amount[:-1]) / 100.0, True
        else:
            threshold, relative = metric.parse(amount), False
    except (UnitError, ValueError):
        raise bad("has a change that is not a number, a percentage or a quantity") from None
    if threshold < 0:
        raise bad("has a negative amount after its sign")
    return Rule(match["metric"].lower(), threshold, relative, metric.direction)


def default_rules() -> list[Rule]:
    """The rules used when none are given: ``p95:10%,throughput:-10%``."""
    return parse_fail_expr(DEFAULT_FAIL_EXPR)


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
    verdict: Verdict

    @property
    def confidence(self) -> float | None:
        """``1 - p_value``: how sure we are the metric moved the way it did."""
        return None if self.p_value is None else 1.0 - self.p_value

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "baseline": _json_float(self.baseline),
            "current": _json_float(self.current),
            "change": _json_float(self.change),
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

    def cells(self) -> list[str]:
        """The row as table cells: metric, baseline, current, change, limit, confidence, verdict."""
        fmt = _METRICS[self.metric].fmt if self.metric in _METRICS else _fmt_number
        return [
            self.metric,
            fmt(self.baseline),
            fmt(self.current),
            _format_change(self),
            self.limit,
            _format_confidence(self.confidence),
            self.verdict.upper() if self.verdict == "regressed" else self.verdict,
        ]


COMPARISON_HEADERS = ["metric", "baseline", "current", "change", "fail at", "confidence", "verdict"]


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

    def render(self) -> str:
        """The failure text: what regressed, then the table of every metric."""
        what = f" ({self.name})" if self.name else ""
        bad = [r for r in self.rows if r.verdict == "regressed"]
        if bad:
            parts = [
                f"{r.metric} {_format_change(r)} beyond {r.limit}, "
                f"{_format_confidence(r.confidence)} confidence"
                for r in bad
            ]
            head = f"REGRESSED against the baseline{what}: " + "; ".join(parts) + "."
        else:
            head = f"No regression against the baseline{what}."
        note = (
            f"A metric regresses when its change is beyond the limit AND significant at "
            f"{self.alpha:g} (confidence >= {_format_confidence(1 - self.alpha)})."
        )
        table = render_table(COMPARISON_HEADERS, [row.cells() for row in self.rows])
        return f"{head}\n{table}\n{note}"


def compare(
    baseline: PerfResult,
    current: PerfResult,
    rules: Sequence[Rule] | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> Comparison:
    """Compare ``current`` with ``baseline`` under ``rules`` (default: :func:`default_rules`)."""
    chosen = default_rules() if rules is None else list(rules)
    rows = tuple(_compare_metric(rule, baseline, current, alpha) for rule in chosen)
    return Comparison(rows, alpha, current.name)


def _compare_metric(rule: Rule, base: PerfResult, cur: PerfResult, alpha: float) -> ComparisonRow:
    metric = _METRICS[rule.metric]
    b, c = metric.value(base), metric.value(cur)
    if b is None or c is None or math.isnan(b) or math.isnan(c):
        return ComparisonRow(
            rule.metric, b, c, None, rule.relative, rule.limit_text, None, "", "no data"
        )
    change = rule.change(b, c)
    verdict: Verdict = "ok"
    p_value, test = None, ""
    worse, better = rule.beyond(b, c), rule.improved(b, c)
    if worse or better:
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
    spec = _METRICS[metric]
    up = (spec.direction == "up") == worse  # does the tested change go upward?
    alt: sig.Alternative = "greater" if up else "less"
    if metric == "error_rate":
        if base.total == 0 or cur.total == 0:
            return None
        r = sig.two_proportion_test(cur.failed, cur.total, base.failed, base.total, alt)
        return r.p_value, "two-proportion z-test"
    if spec.direction == "down":
        return _rate_significance(metric, base, cur, alt)
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


def _results_of(test: dict[str, Any], where: str) -> list[PerfResult]:
    try:
        return [PerfResult.from_dict(r) for r in test.get("results") or ()]
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(
            f"A result of {test.get('nodeid')!r} in {where} is invalid: {exc}"
        ) from exc


def compare_documents(
    baseline: dict[str, Any],
    current: dict[str, Any],
    rules: Sequence[Rule] | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> list[ResultComparison]:
    """Compare every result of every test in ``current`` with the same one in ``baseline``."""
    base_tests = {t.get("nodeid"): t for t in baseline.get("tests", ())}
    out: list[ResultComparison] = []
    for test in current.get("tests", ()):
        nodeid = str(test.get("nodeid", "?"))
        results = _results_of(test, "the current results")
        base_test = base_tests.get(nodeid)
        if base_test is None:
            out.extend(
                ResultComparison(nodeid, r.name, None, "not in the baseline") for r in results
            )
            continue
        pairs = match_results(_results_of(base_test, "the baseline"), results)
        for base, cur in pairs:
            if base is None:
                out.append(ResultComparison(nodeid, cur.name, None, "no matching baseline run"))
            else:
                out.append(
                    ResultComparison(nodeid, cur.name, compare(base, cur, rules, alpha=alpha))
                )
    return out


def _json_float(value: float | None) -> float | None:
    """JSON has no inf/nan: map them to None."""
    return None if value is None or not math.isfinite(value) else value


# -------------------------------------------------------------------------- display


def _format_change(row: ComparisonRow) -> str:
    if row.change is None:
        return "-"
    if row.relative:
        return "+inf%" if math.isinf(row.change) else f"{row.change * 100:+.1f}%"
    fmt = _METRICS[row.metric].fmt if row.metric in _METRICS else _fmt_number
    text = fmt(abs(row.change))
    return f"{'-' if row.change < 0 else '+'}{text}"


def _format_confidence(confidence: float | None) -> str:
    if confidence is None:
        return "-"
    if confidence > 0.999:
        return ">99.9%"
    return f"{confidence * 100:.1f}%"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """A plain aligned text table (first column left-aligned, the rest right-aligned)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return (indent + "  ".join([first, *rest])).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])
