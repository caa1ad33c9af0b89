"""Paired A/B: one figure measured at a base revision and at the head, round by round.

Two runs in two jobs differ by the machine as much as by the code; two runs a few seconds
apart in the same job differ mostly by the code. ``agentperf ab`` runs the suite at the
base revision and at the head alternately, several rounds in randomised order, and this
module judges each figure on the paired differences, what ``asv continuous`` does for
benchmarks:

- each round gives a paired change: the log of ``head / base`` for a relative rule (a
  ratio, symmetric: +25% and -20% are the same distance), ``head - base`` for an absolute
  one (or when a figure is zero in some round);
- the **change** shown and held against the threshold is the Hodges-Lehmann estimate of
  those paired changes (the median of their Walsh averages), with its distribution-free
  95% interval, and the **spread** is the smallest and largest change of a round;
- the **significance** is Wilcoxon's signed-rank test of the paired changes, one-sided in
  the direction the figure moved, exact for up to ``EXACT_MAX`` rounds.

A figure regresses when the estimate is beyond the threshold AND the test is significant
at ``alpha``. The exact figures (LLM calls, tokens, cost per task) are compared as in a
saved-baseline comparison: the medians of the rounds, any change beyond the tolerance.
With ``n`` rounds the smallest p-value the test can reach is ``2**-n``, so a run needs
at least :func:`~pytest_agentperf.verdict.significance.min_pairs` rounds (7 at alpha
0.01) to be able to call anything; ``agentperf ab`` refuses fewer.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_agentperf.metrics import METRICS
from pytest_agentperf.result import PerfResult
from pytest_agentperf.verdict import significance as sig
from pytest_agentperf.verdict.baseline import (
    DEFAULT_ALPHA,
    Comparison,
    ComparisonRow,
    FailRule,
    RowVerdict,
    default_rules,
    exact_rules,
)

__all__ = ["Pairs", "paired_compare"]

#: One result's runs, round by round: ``(base, head)``.
Pairs = Sequence[tuple[PerfResult, PerfResult]]


@dataclass(frozen=True, slots=True)
class _Changes:
    """A figure's rounds: the paired changes (what is tested) and how to read them back."""

    base: list[float]
    head: list[float]
    diffs: list[float]  # log ratios (``logs``) or differences
    logs: bool
    scale: float  # differences of a relative rule are shown as a share of this

    def shown(self, d: float) -> float:
        """A paired change (or an estimate of one) in the rule's terms."""
        if self.logs:
            return math.expm1(d)
        return d / self.scale if self.scale else d


def _changes(rule: FailRule, pairs: Pairs) -> _Changes | None:
    metric = METRICS[rule.metric]
    base: list[float] = []
    head: list[float] = []
    for b_result, h_result in pairs:
        b, h = metric.value(b_result), metric.value(h_result)
        if b is not None and h is not None:
            base.append(b)
            head.append(h)
    if not base:
        return None
    logs = rule.relative and min(base) > 0.0 and min(head) > 0.0
    if logs:
        diffs = [math.log(h / b) for b, h in zip(base, head, strict=True)]
    else:
        diffs = [h - b for b, h in zip(base, head, strict=True)]
    scale = abs(statistics.median(base)) if rule.relative and not logs else 1.0
    return _Changes(base, head, diffs, logs, scale)


def _beyond(rule: FailRule, change: float) -> tuple[bool, bool]:
    """(worse, better): whether a change passes the threshold the bad or the good way."""
    bad = change if rule.direction == "up" else -change
    return bad > rule.threshold, -bad > rule.threshold


def _exact_row(rule: FailRule, found: _Changes) -> ComparisonRow:
    """A deterministic figure: the medians compared, no test (any change beyond counts)."""
    b, h = statistics.median(found.base), statistics.median(found.head)
    worse, better = rule.beyond(b, h), rule.improved(b, h)
    verdict: RowVerdict = "regressed" if worse else "improved" if better else "ok"
    rounds = [found.shown(d) for d in found.diffs]
    return ComparisonRow(
        rule.metric, b, h, rule.change(b, h), rule.relative, rule.limit_text, None, "exact",
        verdict, spread=(min(rounds), max(rounds)),
    )  # fmt: skip


def _paired_row(rule: FailRule, pairs: Pairs, alpha: float) -> ComparisonRow:
    found = _changes(rule, pairs)
    if found is None:
        return ComparisonRow(
            rule.metric, None, None, None, rule.relative, rule.limit_text, None, "", "no data"
        )
    if METRICS[rule.metric].test == "exact":
        return _exact_row(rule, found)
    shift = sig.hodges_lehmann(found.diffs)
    change = found.shown(shift.estimate)
    worse, better = _beyond(rule, change)
    verdict: RowVerdict = "ok"
    p_value: float | None = None
    test = f"Wilcoxon signed-rank over {len(found.diffs)} rounds"
    if worse or better:
        up = (rule.direction == "up") == worse  # does the tested change go upward?
        p_value = sig.wilcoxon_signed_rank(found.diffs, "greater" if up else "less").p_value
        called: RowVerdict = "regressed" if worse else "improved"
        verdict = called if p_value < alpha else "not significant"
    rounds = [found.shown(d) for d in found.diffs]
    return ComparisonRow(
        metric=rule.metric,
        baseline=statistics.median(found.base),
        current=statistics.median(found.head),
        change=change,
        relative=rule.relative,
        limit=rule.limit_text,
        p_value=p_value,
        test=test,
        verdict=verdict,
        interval=(found.shown(shift.low), found.shown(shift.high)),
        spread=(min(rounds), max(rounds)),
    )


def paired_compare(
    pairs: Pairs,
    rules: Sequence[FailRule] | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> Comparison:
    """Judge one result's ``(base, head)`` runs, one pair per round, under ``rules``."""
    if not pairs:
        raise ValueError("paired_compare needs at least one round.")
    chosen = default_rules() if rules is None else list(rules)
    rows = [_paired_row(rule, pairs, alpha) for rule in chosen]
    for rule in exact_rules(chosen):  # deterministic figures: compared whenever measured
        row = _paired_row(rule, pairs, alpha)
        if row.verdict != "no data":
            rows.append(row)
    return Comparison(tuple(rows), alpha, pairs[0][1].name, rounds=len(pairs))
