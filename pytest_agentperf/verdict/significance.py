"""Small, dependency-free significance tests used by baseline comparison.

Everything here is pure Python on lists of floats (a latency reservoir holds at most 2000
values, a run at most a few hundred windows), so the plugin does not need scipy. The
tests in ``tests/verdict/test_significance.py`` check these functions against scipy.

- :func:`mann_whitney_u` -- the rank-sum test with tie correction and the normal
  approximation with continuity correction (what ``scipy.stats.mannwhitneyu(...,
  method="asymptotic")`` computes). Used for a shift of a whole distribution: request
  latencies, per-window throughputs.
- :func:`quantile_test` -- a test that one quantile (e.g. the p95) grew, from the
  distribution-free order-statistic confidence interval of each quantile, on the log
  scale so that it tests a *ratio*. It sees a change confined to the tail that the
  rank-sum test is blind to.
- :func:`two_proportion_test` -- a pooled z-test of two error rates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_agentperf.engine.stats import percentile

__all__ = [
    "EXACT_MAX",
    "Alternative",
    "ShiftEstimate",
    "TestResult",
    "hodges_lehmann",
    "log_quantile_and_se",
    "mann_whitney_u",
    "min_pairs",
    "norm_sf",
    "quantile_test",
    "quantile_test_applies",
    "smallest_signed_rank_p",
    "two_proportion_test",
    "wilcoxon_signed_rank",
]

Alternative = Literal["greater", "less", "two-sided"]

_Z95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True, slots=True)
class TestResult:
    """The outcome of a test: its statistic, p-value and an effect size.

    ``effect`` is test-specific: the probability of superiority ``P(X > Y)`` for
    Mann-Whitney, the ratio of the quantiles for the quantile test, the difference of the
    rates for the proportion test.
    """

    __test__ = False  # not a pytest test class, despite the name

    statistic: float
    p_value: float
    effect: float


def norm_sf(z: float) -> float:
    """Survival function of the standard normal distribution, ``P(Z > z)``."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _p_from_z(z: float, alternative: Alternative) -> float:
    if alternative == "greater":
        return norm_sf(z)
    if alternative == "less":
        return norm_sf(-z)
    return min(1.0, 2.0 * norm_sf(abs(z)))


def _ranks(values: Sequence[float]) -> tuple[list[float], float]:
    """Mid-ranks (1-based) of ``values`` and the tie term ``sum(t**3 - t)``."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    tie_term = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mid = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = mid
        t = j - i + 1
        tie_term += t**3 - t
        i = j + 1
    return ranks, tie_term


def mann_whitney_u(
    x: Sequence[float], y: Sequence[float], alternative: Alternative = "two-sided"
) -> TestResult:
    """Mann-Whitney U test of ``x`` against ``y`` (normal approximation, tie-corrected).

    ``alternative="greater"`` asks whether ``x`` is stochastically greater than ``y``.
    Returns ``U`` of ``x`` as the statistic and ``P(X > Y) + P(X = Y)/2`` as the effect.
    """
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney_u needs at least one value in each sample.")
    ranks, tie_term = _ranks([*x, *y])
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    mu = n1 * n2 / 2.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0.0:  # every value equal: no evidence either way
        return TestResult(u1, 1.0, 0.5)
    if alternative == "greater":
        u, factor = u1, 1.0
    elif alternative == "less":
        u, factor = n1 * n2 - u1, 1.0
    else:
        u, factor = max(u1, n1 * n2 - u1), 2.0
    z = (u - mu - 0.5) / math.sqrt(variance)
    p = min(1.0, max(0.0, factor * norm_sf(z)))
    return TestResult(u1, p, u1 / (n1 * n2))


def log_quantile_and_se(sorted_values: Sequence[float], q: float) -> tuple[float, float]:
    """log of the ``q`` quantile and its standard error from the order-statistic CI.

    The 95% distribution-free interval of a quantile is ``[x_(l), x_(u)]`` with
    ``l, u = nq -/+ 1.96 sqrt(nq(1-q))`` (binomial, normal approximation); half its width
    on the log scale divided by 1.96 is the standard error of the log quantile.
    """
    n = len(sorted_values)
    half = _Z95 * math.sqrt(n * q * (1.0 - q))
    lo = max(0, math.floor(n * q - half) - 1)
    hi = min(n - 1, math.ceil(n * q + half) - 1)
    low, high = math.log(sorted_values[lo]), math.log(sorted_values[hi])
    return math.log(percentile(sorted_values, q)), (high - low) / (2.0 * _Z95)


def quantile_test_applies(n: int, q: float) -> bool:
    """Whether :func:`quantile_test` is calibrated for ``n`` values at quantile ``q``.

    It needs at least 10 values on each side of the quantile (a p99 needs 1000 values);
    with fewer the interval is too coarse and the test too eager.
    """
    return 0.0 < q < 1.0 and n * min(q, 1.0 - q) >= 10.0


def quantile_test(
    x: Sequence[float], y: Sequence[float], q: float, alternative: Alternative = "two-sided"
) -> TestResult:
    """Test whether the ``q`` quantile of ``x`` differs from that of ``y`` (as a ratio).

    Values must be positive (latencies). ``statistic`` is the z score of
    ``log(Qx / Qy)``; ``effect`` is ``Qx / Qy``.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile_test needs 0 < q < 1, got {q!r}.")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("quantile_test needs at least two values in each sample.")
    xs, ys = sorted(x), sorted(y)
    if xs[0] <= 0.0 or ys[0] <= 0.0:
        raise ValueError("quantile_test needs positive values (it compares ratios).")
    log_qx, se_x = log_quantile_and_se(xs, q)
    log_qy, se_y = log_quantile_and_se(ys, q)
    diff = log_qx - log_qy
    se = math.hypot(se_x, se_y)
    # se == 0: both samples constant around the quantile; any difference is certain
    z = diff / se if se > 0.0 else (math.copysign(math.inf, diff) if diff else 0.0)
    return TestResult(z, _p_from_z(z, alternative), math.exp(diff))


def two_proportion_test(
    k1: int, n1: int, k2: int, n2: int, alternative: Alternative = "two-sided"
) -> TestResult:
    """Pooled two-proportion z-test of ``k1/n1`` against ``k2/n2``."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("two_proportion_test needs n1 > 0 and n2 > 0.")
    p1, p2 = k1 / n1, k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        return TestResult(0.0, 1.0, p1 - p2)
    z = (p1 - p2) / se
    return TestResult(z, _p_from_z(z, alternative), p1 - p2)


# -- paired rounds: the Wilcoxon signed-rank test and its interval ------------------------

#: Up to this many non-zero differences the signed-rank p-value is exact (a count over
#: every assignment of signs); beyond, the normal approximation with tie correction.
EXACT_MAX = 60


def _signed_rank_counts(doubled: Sequence[int]) -> list[int]:
    """How many of the ``2**n`` sign assignments give each value of ``2 * W+``.

    ``doubled`` are twice the (mid-)ranks, so that tied ranks stay whole numbers; the
    distribution is exact given the ties (the permutation distribution).
    """
    counts = [1] + [0] * sum(doubled)
    top = 0
    for r in doubled:
        top += r
        for s in range(top, r - 1, -1):
            counts[s] += counts[s - r]
    return counts


def wilcoxon_signed_rank(
    differences: Sequence[float], alternative: Alternative = "two-sided"
) -> TestResult:
    """Wilcoxon's signed-rank test that the paired ``differences`` are centred on zero.

    Zero differences are dropped (Wilcoxon's convention) and tied magnitudes get mid-ranks.
    Up to :data:`EXACT_MAX` non-zero differences the p-value is exact (what
    ``scipy.stats.wilcoxon(..., method="exact")`` computes, ties included), beyond it the
    normal approximation with tie and continuity corrections. ``alternative="greater"``
    asks whether the differences tend to be positive. ``statistic`` is ``W+``, the rank
    sum of the positive differences; ``effect`` is ``W+`` over its largest possible value.
    """
    nonzero = [d for d in differences if d != 0.0]
    n = len(nonzero)
    if n == 0:
        return TestResult(0.0, 1.0, 0.5)
    ranks, tie_term = _ranks([abs(d) for d in nonzero])
    w_plus = math.fsum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0.0)
    most = n * (n + 1) / 2.0
    if n <= EXACT_MAX:
        counts = _signed_rank_counts([round(2.0 * r) for r in ranks])
        k, total = round(2.0 * w_plus), 2**n
        upper = sum(counts[k:]) / total  # P(W+ >= w)
        lower = sum(counts[: k + 1]) / total  # P(W+ <= w)
    else:
        sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0 - tie_term / 48.0)
        mean = most / 2.0
        upper = norm_sf((w_plus - mean - 0.5) / sd) if sd > 0 else 1.0
        lower = norm_sf((mean - w_plus - 0.5) / sd) if sd > 0 else 1.0
    if alternative == "greater":
        p = upper
    elif alternative == "less":
        p = lower
    else:
        p = min(1.0, 2.0 * min(upper, lower))
    return TestResult(w_plus, min(1.0, p), w_plus / most)


def smallest_signed_rank_p(n: int) -> float:
    """The smallest one-sided p-value the signed-rank test can give with ``n`` pairs: all
    differences one way, ``2**-n``."""
    return 2.0**-n


def min_pairs(alpha: float) -> int:
    """The fewest pairs with which the one-sided signed-rank test can ever reach ``alpha``."""
    n = 1
    while smallest_signed_rank_p(n) >= alpha:
        n += 1
    return n


@dataclass(frozen=True, slots=True)
class ShiftEstimate:
    """The Hodges-Lehmann estimate of a paired shift and its distribution-free interval."""

    estimate: float  # the median of the Walsh averages
    low: float
    high: float
    confidence: float  # the interval's exact coverage (>= the level asked for, when n allows)


def hodges_lehmann(differences: Sequence[float], level: float = 0.95) -> ShiftEstimate:
    """The median of the Walsh averages ``(d_i + d_j) / 2`` and the interval that inverts
    the signed-rank test (Bauer 1972): between the ``c``-th smallest and largest average,
    ``c`` the largest count with ``P(W+ < c) <= (1 - level) / 2``. With few pairs no ``c``
    qualifies; the interval is then the range of the averages and its coverage (reported)
    is below ``level``.
    """
    n = len(differences)
    if n == 0:
        raise ValueError("hodges_lehmann needs at least one difference.")
    walsh = sorted((differences[i] + differences[j]) / 2.0 for i in range(n) for j in range(i, n))
    counts = _signed_rank_counts([2 * r for r in range(1, n + 1)])[::2]  # W+ = 0 .. n(n+1)/2
    total, tail, cum, c = 2**n, (1.0 - level) / 2.0, 0, 0
    while c < len(walsh) // 2 and (cum + counts[c]) / total <= tail:
        cum += counts[c]
        c += 1
    # c == 0: no count qualifies; the interval is the whole range
    lo, hi = walsh[max(c - 1, 0)], walsh[len(walsh) - max(c, 1)]
    coverage = 1.0 - 2.0 * cum / total if c else 1.0 - 2.0 / total
    return ShiftEstimate(percentile(walsh, 0.5), lo, hi, coverage)
