"""Latency models: parameters, units, validation, seeded reproducibility, shape."""

from __future__ import annotations

import random
import re
import statistics

import pytest

from pytest_agentperf.mockllm import Empirical, Fixed, LogNormal, Normal, PerToken, Uniform
from pytest_agentperf.mockllm.models import LatencyModel, as_model


def draws(model: LatencyModel, n: int = 2000, seed: int = 1, tokens: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [model.sample(rng, tokens) for _ in range(n)]


def test_values_accept_numbers_and_units() -> None:
    assert Fixed("20ms").sample(random.Random(0)) == pytest.approx(0.020)
    assert Fixed(0.5).sample(random.Random(0)) == 0.5
    assert Uniform("1ms", 0.003).low == pytest.approx(0.001)
    assert PerToken("200ms", "15ms").sample(random.Random(0), 10) == pytest.approx(0.35)
    assert Empirical(["40ms", 0.05]).samples == (0.04, 0.05)


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: Fixed("fast"), "Fixed(value=...)"),
        (lambda: Fixed(-1), "Fixed(value=...)"),
        (lambda: Uniform("5ms", "1ms"), "Uniform(high="),
        (lambda: Normal("5ms", "x"), "Normal(stddev=...)"),
        (lambda: LogNormal(0, "10ms"), "LogNormal(median="),
        (lambda: LogNormal("60ms", "10ms"), "LogNormal(p99="),
        (lambda: Empirical([]), "Empirical(samples="),
        (lambda: Empirical(["1ms", "zz"]), "Empirical(samples[1]=...)"),
        (lambda: PerToken("1ms", "-2ms"), "PerToken(per_token=...)"),
        (lambda: as_model(True, "ttft"), "configure(ttft="),
    ],
)
def test_invalid_parameters_raise_value_error_naming_them(build: object, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        build()  # type: ignore[operator]


def test_same_seed_same_draws_different_seed_different_draws() -> None:
    model = LogNormal("60ms", "300ms")
    assert draws(model, 50, seed=7) == draws(model, 50, seed=7)
    assert draws(model, 50, seed=7) != draws(model, 50, seed=8)


def test_lognormal_matches_its_median_and_p99() -> None:
    values = sorted(draws(LogNormal("60ms", "300ms"), 20000))
    assert statistics.median(values) == pytest.approx(0.060, rel=0.05)
    assert values[int(0.99 * len(values))] == pytest.approx(0.300, rel=0.15)


def test_uniform_normal_empirical_stay_in_range() -> None:
    assert all(0.001 <= v <= 0.003 for v in draws(Uniform("1ms", "3ms")))
    assert min(draws(Normal("1ms", "5ms"))) >= 0.0
    assert set(draws(Empirical(["1ms", "2ms"]))) == {0.001, 0.002}
    assert statistics.mean(draws(Normal("50ms", "5ms"))) == pytest.approx(0.05, rel=0.05)


def test_as_model_coerces_and_keeps_an_explicit_zero() -> None:
    assert as_model("20ms", "latency") == Fixed(0.02)
    assert as_model(0, "latency") == Fixed(0.0)
    assert as_model("0ms", "latency") == Fixed(0.0)
    assert as_model(None, "latency") is None
    assert as_model(Fixed(0), "latency") == Fixed(0.0)
    assert Uniform("10ms", "30ms").expected == pytest.approx(0.02)
