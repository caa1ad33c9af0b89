"""The signed-rank test, the Hodges-Lehmann interval and the paired A/B verdict."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import statistics

import pytest
from scipy import stats

from pytest_agentperf.engine.stats import summarize
from pytest_agentperf.result import PerfResult
from pytest_agentperf.verdict import significance as sig
from pytest_agentperf.verdict.baseline import parse_fail_expr
from pytest_agentperf.verdict.paired import paired_compare
from tests.factories import build_result, lognormal, make_spend

# ------------------------------------------------------------------ the signed-rank test


def _brute_force(diffs: list[float]) -> tuple[float, float]:
    """P(W+ >= w) and P(W+ <= w) by listing every assignment of signs (the definition)."""
    nonzero = [d for d in diffs if d != 0.0]
    ranks = stats.rankdata([abs(d) for d in nonzero])
    w = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    sums = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in
            itertools.product((False, True), repeat=len(nonzero))]  # fmt: skip
    total = len(sums)
    return sum(s >= w - 1e-9 for s in sums) / total, sum(s <= w + 1e-9 for s in sums) / total


@pytest.mark.parametrize("n", [3, 6, 10, 17, 25])
@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_signed_rank_is_scipys_exact_test(n: int, alternative: sig.Alternative) -> None:
    rng = random.Random(n)
    diffs = [rng.gauss(0.4, 1.0) for _ in range(n)]
    mine = sig.wilcoxon_signed_rank(diffs, alternative)
    theirs = stats.wilcoxon(diffs, alternative=alternative, method="exact")
    assert mine.p_value == pytest.approx(theirs.pvalue, rel=1e-12)


def test_ties_and_zeros_are_exact_given_the_ties() -> None:
    diffs = [1.0, 2.0, 2.0, -1.0, 3.0, 3.0, 3.0, 0.0, 4.0, -2.0, 0.0, 5.0]
    upper, lower = _brute_force(diffs)
    assert sig.wilcoxon_signed_rank(diffs, "greater").p_value == pytest.approx(upper)
    assert sig.wilcoxon_signed_rank(diffs, "less").p_value == pytest.approx(lower)
    assert sig.wilcoxon_signed_rank(diffs).p_value == pytest.approx(min(1, 2 * min(upper, lower)))


def test_many_pairs_use_the_normal_approximation_scipy_uses() -> None:
    rng = random.Random(5)
    diffs = [round(rng.gauss(0.2, 1.0), 1) for _ in range(sig.EXACT_MAX + 40)]  # ties too
    mine = sig.wilcoxon_signed_rank(diffs, "greater").p_value
    theirs = stats.wilcoxon(diffs, alternative="greater", method="approx", correction=True)
    assert mine == pytest.approx(theirs.pvalue, rel=1e-9)


def test_nothing_to_test() -> None:
    assert sig.wilcoxon_signed_rank([0.0, 0.0], "greater").p_value == 1.0
    assert sig.wilcoxon_signed_rank([], "greater").p_value == 1.0


def test_the_fewest_pairs_that_can_reach_alpha() -> None:
    assert sig.min_pairs(0.01) == 7  # 1/128 < 0.01 <= 1/64
    assert sig.min_pairs(0.05) == 5
    for alpha in (0.2, 0.05, 0.01, 0.001):
        n = sig.min_pairs(alpha)
        assert sig.wilcoxon_signed_rank([1.0] * n, "greater").p_value < alpha
        assert sig.wilcoxon_signed_rank([1.0] * (n - 1), "greater").p_value >= alpha


# -------------------------------------------------------------------- Hodges-Lehmann


def test_the_estimate_is_the_median_of_the_walsh_averages() -> None:
    rng = random.Random(2)
    diffs = [rng.gauss(0.1, 0.05) for _ in range(11)]
    walsh = [(a + b) / 2 for i, a in enumerate(diffs) for b in diffs[i:]]
    assert sig.hodges_lehmann(diffs).estimate == pytest.approx(statistics.median(walsh))


def test_the_interval_inverts_the_signed_rank_test() -> None:
    # Shifts inside the interval are not rejected at 5% (two-sided); just outside, they are.
    rng = random.Random(3)
    diffs = [rng.gauss(0.1, 0.05) for _ in range(12)]
    shift = sig.hodges_lehmann(diffs, 0.95)
    assert shift.low < shift.estimate < shift.high
    assert shift.confidence >= 0.95
    eps = 1e-9

    def p_at(theta: float) -> float:
        return sig.wilcoxon_signed_rank([d - theta for d in diffs]).p_value

    assert p_at(shift.low + eps) > 0.05
    assert p_at(shift.high - eps) > 0.05
    assert p_at(shift.low - eps) <= 0.05
    assert p_at(shift.high + eps) <= 0.05


def test_too_few_pairs_give_the_whole_range_and_say_its_coverage() -> None:
    shift = sig.hodges_lehmann([0.1, 0.3, 0.2, 0.25], 0.95)
    assert (shift.low, shift.high) == (0.1, 0.3)
    assert shift.confidence == pytest.approx(1 - 2 / 16)


# --------------------------------------------------------------------- paired rounds


def _run(rng: random.Random, scale: float) -> PerfResult:
    """A result whose latencies are lognormal (median 50 ms) times ``scale``."""
    samples = lognormal(rng, 400, scale=scale)
    return build_result(samples, [32 / summarize(samples).mean] * 6)


def _rounds(
    seed: int, head_scale: float, n: int = 10, drift: float = 0.3
) -> list[tuple[PerfResult, PerfResult]]:
    """Rounds whose machine drifts by up to ``drift`` between rounds, both sides alike."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        machine = 1.0 + rng.uniform(0.0, drift)
        pairs.append((_run(rng, machine), _run(rng, machine * head_scale)))
    return pairs


RULES = parse_fail_expr("p50:10%,p95:10%,throughput:-10%")


def test_a_slower_head_regresses_despite_machine_drift_between_rounds() -> None:
    comparison = paired_compare(_rounds(1, 1.25), RULES)
    assert comparison.regressed
    assert comparison.rounds == 10
    p95 = comparison.rows[1]
    assert p95.verdict == "regressed"
    assert p95.test == "Wilcoxon signed-rank over 10 rounds"
    assert p95.change == pytest.approx(0.25, abs=0.08)
    assert p95.interval is not None
    assert p95.interval[0] < p95.change < p95.interval[1]
    assert p95.spread is not None
    assert p95.spread[0] <= p95.change <= p95.spread[1]
    assert comparison.rows[2].verdict == "regressed"  # throughput fell
    assert comparison.rows[2].change is not None
    assert comparison.rows[2].change < -0.1


def test_unchanged_code_does_not_regress_though_the_machine_drifts_30_percent() -> None:
    for seed in range(20):
        comparison = paired_compare(_rounds(seed, 1.0), RULES)
        assert not comparison.regressed, [(r.metric, r.change) for r in comparison.rows]


def test_a_faster_head_improves() -> None:
    rows = paired_compare(_rounds(4, 0.7), RULES).rows
    assert [r.verdict for r in rows] == ["improved", "improved", "improved"]


def test_a_change_beyond_the_limit_in_too_few_consistent_rounds_is_not_significant() -> None:
    pairs = _rounds(5, 1.3, n=7)
    pairs[0] = (pairs[0][1], pairs[0][0])  # one round goes the other way: p >= 1/128 * 2
    row = paired_compare(pairs, parse_fail_expr("p50:10%")).rows[0]
    assert row.change is not None
    assert row.change > 0.1
    assert row.verdict == "not significant"
    assert row.p_value is not None
    assert row.p_value >= 0.01


def test_an_absolute_rule_is_judged_on_differences() -> None:
    row = paired_compare(_rounds(6, 1.25), parse_fail_expr("p50:5ms")).rows[0]
    assert not row.relative
    assert row.verdict == "regressed"
    assert row.change is not None
    assert row.baseline is not None
    assert row.change == pytest.approx(0.25 * row.baseline, rel=0.4)
    assert row.interval is not None
    assert row.interval[0] > 0


def test_a_figure_no_round_measured_has_no_data() -> None:
    row = paired_compare(_rounds(7, 1.0, n=7), parse_fail_expr("efficiency:-5%")).rows[0]
    assert row.verdict == "no data"
    assert row.change is None


def test_zero_figures_in_a_relative_rule_fall_back_to_differences() -> None:
    pairs = _rounds(8, 1.0, n=8)
    rows = paired_compare(pairs, parse_fail_expr("error_rate:50%")).rows
    assert rows[0].verdict == "ok"
    assert rows[0].change == 0.0
    assert not math.isnan(rows[0].baseline or 0.0)


def test_the_comparison_round_trips_with_its_rounds_and_spread() -> None:
    comparison = paired_compare(_rounds(9, 1.25), RULES)
    again = type(comparison).from_dict(comparison.to_dict())
    assert again == comparison


def test_no_rounds_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one round"):
        paired_compare([], RULES)


def test_exact_figures_are_compared_in_every_paired_run() -> None:
    pairs = [
        (
            dataclasses.replace(b, llm=make_spend(calls=2)),
            dataclasses.replace(h, llm=make_spend(calls=3)),
        )
        for b, h in _rounds(10, 1.0, n=7)
    ]
    comparison = paired_compare(pairs, parse_fail_expr("p95:10%"))
    calls = next(r for r in comparison.rows if r.metric == "llm_calls_per_task")
    assert (calls.baseline, calls.current, calls.verdict, calls.test) == (
        2,
        3,
        "regressed",
        "exact",
    )
    assert calls.spread == pytest.approx((0.5, 0.5))
    assert comparison.regressed
