from __future__ import annotations

import math
import random

import pytest

from pytest_agentperf.memory import fit_slope, t_quantile


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.706), (2, 4.303), (3, 3.182), (5, 2.571), (8, 2.306), (10, 2.228), (30, 2.042)],
)
def test_t_quantile_matches_the_table(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, rel=2e-3)


def test_t_quantile_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="df >= 1"):
        t_quantile(0.975, 0)


def test_known_slope_lies_in_the_interval() -> None:
    rng = random.Random(7)
    xs = [float(500 * i) for i in range(9)]
    ys = [10e6 + 1024.0 * x + rng.gauss(0, 20_000) for x in xs]
    fit = fit_slope(xs, ys)
    assert fit.ci[0] < 1024.0 < fit.ci[1]
    assert fit.excludes_zero
    assert fit.r2 > 0.99


def test_exact_line_has_a_zero_width_interval() -> None:
    xs = [0.0, 1.0, 2.0, 3.0]
    fit = fit_slope(xs, [5.0 + 2.0 * x for x in xs])
    assert fit.slope == pytest.approx(2.0)
    assert fit.intercept == pytest.approx(5.0)
    assert fit.ci == pytest.approx((2.0, 2.0))


def test_flat_noisy_samples_are_not_a_slope() -> None:
    # Page-granular noise around a flat line: a clean agent's RSS between rounds.
    rng = random.Random(3)
    hits = 0
    for _ in range(200):
        xs = [float(500 * i) for i in range(9)]
        ys = [20e6 + 4096.0 * rng.randint(-3, 3) for _ in xs]
        fit = fit_slope(xs, ys)
        assert fit.ci[0] <= fit.slope <= fit.ci[1]
        hits += fit.excludes_zero
    assert hits <= 20  # ~2.5% expected for a one-sided look at a 95% interval


def test_coverage_of_the_interval_is_about_95_percent() -> None:
    rng = random.Random(11)
    xs = [float(i) for i in range(9)]
    inside = 0
    for _ in range(2000):
        ys = [3.0 * x + rng.gauss(0, 5.0) for x in xs]
        low, high = fit_slope(xs, ys).ci
        inside += low <= 3.0 <= high
    assert 0.93 <= inside / 2000 <= 0.97


@pytest.mark.parametrize(
    ("xs", "ys"), [([], []), ([1.0], [2.0]), ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])]
)
def test_too_few_or_degenerate_points_give_an_unbounded_interval(
    xs: list[float], ys: list[float]
) -> None:
    fit = fit_slope(xs, ys)
    assert fit.ci == (-math.inf, math.inf)
    assert not fit.excludes_zero


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="as many x as y"):
        fit_slope([1.0, 2.0], [1.0])
