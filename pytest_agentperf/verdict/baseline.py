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

The significance test is sound for the noise within a run, not for the difference between
a quiet machine and a busy one. So a comparison also contrasts the two runs' machines
(:mod:`pytest_agentperf.verdict.machine`): when the current run's machine was materially
busier, a regression of a wall-clock figure (latency, throughput, efficiency) or of the
process's CPU per task is *inconclusive*, not a failure, unless an exact figure regressed
too, or the agent's CPU per task confirms it -- rose by at least the same limit and by at
least ``CPU_ALLOWANCE`` (what contention alone moves it), significantly (per-window agent
CPU per task, Mann-Whitney U). Every row also carries the
95% interval of its change (:mod:`pytest_agentperf.verdict.evidence`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from pytest_agentperf.errors import BaselineError, CompareExprError, UnitError
from pytest_agentperf.metrics import METRICS, Metric, lookup
from pytest_agentperf.result import PerfResult, finite_or_none
from pytest_agentperf.verdict.evidence import (
    agent_cpu_significance,
    change_interval,
    significance,
)
from pytest_agentperf.verdict.machine import CPU_ALLOWANCE, MachineContrast, contrast

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

Direction = Literal["up", "down"]  # which way a change is a regression
RowVerdict = Literal[
    "regressed", "inconclusive", "ok", "improved", "not significant", "untested", "no data"
]
#: The tests of the figures a busier machine moves by itself: the wall-clock figures, and
#: the process's CPU per task (a busy machine inflates the harness's share of it).
MACHINE_SENSITIVE = ("latency", "rate", "cpu")


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
    interval: tuple[float, float] | None = None  # 95% interval of the change, same terms
    spread: tuple[float, float] | None = None  # paired rounds: the smallest and largest change
    note: str = ""  # why an inconclusive row is, or what confirmed a regression

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
            "interval": _pair_or_none(self.interval),
            "spread": _pair_or_none(self.spread),
            "note": self.note,
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
            interval=_pair_from(data.get("interval")),
            spread=_pair_from(data.get("spread")),
            note=str(data.get("note") or ""),
        )


def _pair_or_none(pair: tuple[float, float] | None) -> list[float | None] | None:
    return None if pair is None else [finite_or_none(pair[0]), finite_or_none(pair[1])]


def _pair_from(raw: Any) -> tuple[float, float] | None:
    if not isinstance(raw, list | tuple) or len(raw) != 2 or None in raw:
        return None
    return float(raw[0]), float(raw[1])


@dataclass(frozen=True, slots=True)
class Comparison:
    """A current run compared with its baseline, one row per rule.

    ``machine`` contrasts the two runs' machines (a saved-baseline comparison); ``rounds``
    is the number of paired rounds of an A/B comparison (0: a saved-baseline comparison).
    """

    rows: tuple[ComparisonRow, ...]
    alpha: float = DEFAULT_ALPHA
    name: str = ""  # the result's name (a run or sweep step of the test)
    machine: MachineContrast | None = None
    rounds: int = 0

    @property
    def regressed(self) -> bool:
        """Whether any metric regressed (beyond its threshold and significant)."""
        return any(row.verdict == "regressed" for row in self.rows)

    @property
    def inconclusive(self) -> bool:
        """Whether a wall-clock regression was left undecided because the machine was busier."""
        return any(row.verdict == "inconclusive" for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "regressed": self.regressed,
            "inconclusive": self.inconclusive,
            "alpha": self.alpha,
            "name": self.name,
            "rows": [row.to_dict() for row in self.rows],
            "machine": None if self.machine is None else self.machine.to_dict(),
            "rounds": self.rounds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        rows = tuple(ComparisonRow.from_dict(r) for r in data.get("rows", ()))
        machine = data.get("machine")
        return cls(
            rows,
            float(data.get("alpha", DEFAULT_ALPHA)),
            str(data.get("name", "")),
            MachineContrast.from_dict(machine) if isinstance(machine, dict) else None,
            int(data.get("rounds") or 0),
        )


def compare(
    baseline: PerfResult,
    current: PerfResult,
    rules: Sequence[FailRule] | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> Comparison:
    """Compare ``current`` with ``baseline`` under ``rules`` (default: :func:`default_rules`).

    When the current run's machine was materially busier, wall-clock regressions that CPU
    per task does not confirm become ``inconclusive`` (:func:`machine_aware`).
    """
    chosen = default_rules() if rules is None else list(rules)
    rows = [_compare_metric(rule, baseline, current, alpha) for rule in chosen]
    for rule in exact_rules(chosen):  # deterministic figures: compared whenever measured
        metric = METRICS[rule.metric]
        if metric.value(baseline) is not None or metric.value(current) is not None:
            rows.append(_compare_metric(rule, baseline, current, alpha))
    machine = contrast(baseline, current)
    rows = machine_aware(rows, chosen, baseline, current, machine, alpha)
    return Comparison(tuple(rows), alpha, current.name, machine)


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
        tested = significance(rule.metric, base, cur, worse=worse)
        if tested is None:
            verdict = "untested"
        else:
            p_value, test = tested
            if p_value >= alpha:
                verdict = "not significant"
            else:
                verdict = "regressed" if worse else "improved"
    interval = change_interval(rule.metric, base, cur, relative=rule.relative)
    return ComparisonRow(
        rule.metric, b, c, change, rule.relative, rule.limit_text, p_value, test, verdict,
        interval,
    )  # fmt: skip


# ------------------------------------------------------------- the machine-aware verdict


def machine_aware(
    rows: Sequence[ComparisonRow],
    rules: Sequence[FailRule],
    base: PerfResult,
    cur: PerfResult,
    machine: MachineContrast,
    alpha: float,
) -> list[ComparisonRow]:
    """``rows``, with unconfirmed regressions ``inconclusive`` on a busier machine.

    A regression of a wall-clock figure (latency, throughput, efficiency) or of the
    process's CPU per task stands when the machine was not materially busier, when an exact
    figure regressed too (more LLM calls, tokens or cost per task: the code changed what a
    task does), or when the agent's CPU per task confirms it (:func:`cpu_confirms`). Other
    figures (the error rate, the exact figures themselves) are judged as ever.
    """
    if not machine.busier:
        return list(rows)
    by_metric = {rule.metric: rule for rule in rules}
    exact = [r for r in rows if r.verdict == "regressed" and METRICS[r.metric].test == "exact"]
    out: list[ComparisonRow] = []
    for row in rows:
        if row.verdict != "regressed" or METRICS[row.metric].test not in MACHINE_SENSITIVE:
            out.append(row)
            continue
        if exact:  # more LLM calls or tokens per task: the code changed what a task does
            out.append(replace(row, note=f"confirmed by {_exact_text(exact[0])}"))
            continue
        confirmed, why = cpu_confirms(by_metric[row.metric], row, base, cur, alpha)
        verdict: RowVerdict = "regressed" if confirmed else "inconclusive"
        out.append(replace(row, verdict=verdict, note=why))
    return out


def _exact_text(row: ComparisonRow) -> str:
    old, new = METRICS[row.metric].format(row.baseline), METRICS[row.metric].format(row.current)
    return f"{row.metric} {old} -> {new} (exact)"


def _relative_limit(rule: FailRule, row: ComparisonRow) -> float:
    """The rule's threshold as a share of the baseline figure (``p95:20ms`` at 100 ms: 20%)."""
    if rule.relative or not row.baseline:
        return rule.threshold
    return rule.threshold / abs(row.baseline)


def cpu_confirms(
    rule: FailRule, row: ComparisonRow, base: PerfResult, cur: PerfResult, alpha: float
) -> tuple[bool, str]:
    """Whether CPU per task confirms a regression on a busier machine, and the sentence.

    It does when the agent's CPU per task rose by at least the rule's limit (as a share)
    and at least ``CPU_ALLOWANCE``, significantly at ``alpha`` (Mann-Whitney U on the
    per-window agent CPU per task): the code itself got slower, by more than contention
    alone moves it. Only the agent's share counts: a busy machine inflates the harness's
    short timed regions (the mock, the engine) most.
    """
    need = max(_relative_limit(rule, row), CPU_ALLOWANCE)
    b, c = base.agent_cpu_per_task, cur.agent_cpu_per_task
    if not b or c is None:
        return False, "no agent CPU per task was measured to confirm it"
    shown = f"the agent's CPU per task {(c / b - 1.0) * 100:+.1f}%"
    p = agent_cpu_significance(base, cur)
    if p is None:
        return False, f"{shown}, untested (too few windows), does not confirm it"
    confidence = f"{min(1.0 - p, 0.999) * 100:.1f}% confidence it rose"
    if c / b - 1.0 >= need and p < alpha:
        return True, f"confirmed by {shown} ({confidence})"
    return (
        False,
        f"{shown} ({confidence}) does not confirm it (needs +{need * 100:g}% at {alpha:g})",
    )


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
