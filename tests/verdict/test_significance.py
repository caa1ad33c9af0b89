from __future__ import annotations

import math
import random

import pytest

from pytest_agentperf.engine.stats import percentile
from pytest_agentperf.verdict.significance import (
    mann_whitney_u,
    norm_sf,
    quantile_test,
    quantile_test_applies,
    two_proportion_test,
)


def test_norm_sf_known_values() -> None:
    assert norm_sf(0.0) == pytest.approx(0.5)
    assert norm_sf(1.959963984540054) == pytest.approx(0.025, rel=1e-9)
    assert norm_sf(-1.6448536269514722) == pytest.approx(0.95, rel=1e-9)


def test_mann_whitney_known_value() -> None:
    # x entirely above y: U = n1 * n2, the smallest possible p-value for these sizes.
    result = mann_whitney_u([4.0, 5.0, 6.0], [1.0, 2.0, 3.0], "greater")
    assert result.statistic == 9.0
    assert result.effect == 1.0
    # z = (9 - 4.5 - 0.5) / sqrt(3 * 3 * 7 / 12)
    assert result.p_value == pytest.approx(norm_sf(4.0 / math.sqrt(63 / 12)))


def test_mann_whitney_all_equal_is_no_evidence() -> None:
    assert mann_whitney_u([1.0] * 5, [1.0] * 5, "greater").p_value == 1.0


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_mann_whitney_matches_scipy_with_ties(alternative: str) -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(7)
    x = [round(rng.lognormvariate(0, 0.5), 1) for _ in range(300)]  # rounding makes ties
    y = [round(rng.lognormvariate(0.05, 0.5), 1) for _ in range(211)]
    ours = mann_whitney_u(x, y, alternative)  # type: ignore[arg-type]
    theirs = stats.mannwhitneyu(x, y, alternative=alternative, method="asymptotic")
    assert ours.statistic == pytest.approx(float(theirs.statistic))
    assert ours.p_value == pytest.approx(float(theirs.pvalue), rel=1e-9, abs=1e-15)


def test_percentile_matches_numpy() -> None:
    np = pytest.importorskip("numpy")
    values = sorted(random.Random(3).random() for _ in range(101))
    for q in (0.0, 0.5, 0.9, 0.95, 0.99, 1.0):
        assert percentile(values, q) == pytest.approx(float(np.quantile(values, q)))


def test_quantile_test_sees_a_tail_only_change() -> None:
    rng = random.Random(11)
    base = [rng.lognormvariate(-3, 0.3) for _ in range(2000)]
    # Same body, but the slowest 10% of requests are twice as slow: a p95 regression
    # that barely moves the ranks.
    cur = sorted(rng.lognormvariate(-3, 0.3) for _ in range(2000))
    cur = cur[:1800] + [v * 2 for v in cur[1800:]]
    assert quantile_test(cur, base, 0.95, "greater").p_value < 1e-6
    assert quantile_test(cur, base, 0.5, "greater").p_value > 0.01
    assert quantile_test(cur, base, 0.95, "greater").effect == pytest.approx(2.0, rel=0.1)


def test_quantile_test_is_calibrated_under_the_null() -> None:
    rng = random.Random(5)
    hits = 0
    for _ in range(200):
        x = [rng.lognormvariate(0, 0.6) for _ in range(400)]
        y = [rng.lognormvariate(0, 0.6) for _ in range(400)]
        hits += quantile_test(x, y, 0.95, "greater").p_value < 0.05
    assert hits <= 20  # nominal 10 of 200; the test is, if anything, conservative


def test_quantile_test_applies_needs_ten_beyond() -> None:
    assert quantile_test_applies(2000, 0.99)
    assert not quantile_test_applies(500, 0.99)
    assert not quantile_test_applies(2000, 1.0)


def test_quantile_test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="0 < q < 1"):
        quantile_test([1.0, 2.0], [1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="positive"):
        quantile_test([0.0, 2.0], [1.0, 2.0], 0.5)


def test_two_proportion_known_value_and_scipy() -> None:
    result = two_proportion_test(30, 1000, 10, 1000, "greater")
    pooled = 40 / 2000
    z = (0.03 - 0.01) / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert result.statistic == pytest.approx(z)
    assert result.p_value == pytest.approx(norm_sf(z))
    stats = pytest.importorskip("scipy.stats")
    assert result.p_value == pytest.approx(float(stats.norm.sf(z)))
    assert two_proportion_test(0, 100, 0, 100).p_value == 1.0
