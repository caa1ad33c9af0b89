"""Latency percentiles: linear interpolation between ranks, as the harness computes them."""

from __future__ import annotations

import random

import numpy
import pytest

from reference_agent.metrics import LatencyReservoir


def summary_of(values: list[float], size: int = 4096) -> LatencyReservoir:
    reservoir = LatencyReservoir(size)
    for value in values:
        reservoir.add(value)
    return reservoir


def test_percentiles_interpolate_linearly_on_known_data() -> None:
    stats = summary_of([10.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0]).summary()
    assert stats.p50 == pytest.approx(5.5)
    assert stats.p90 == pytest.approx(9.1)
    assert stats.p95 == pytest.approx(9.55)  # nearest rank would say 10
    assert stats.p99 == pytest.approx(9.91)
    assert (stats.count, stats.mean, stats.max) == (10, 5.5, 10.0)


def test_a_single_sample_is_every_percentile() -> None:
    stats = summary_of([0.25]).summary()
    assert stats.p50 == stats.p95 == stats.p99 == 0.25


@pytest.mark.parametrize("n", [2, 3, 19, 100, 1001])
def test_percentiles_match_numpy_default(n: int) -> None:
    rng = random.Random(n)
    values = [rng.expovariate(20.0) for _ in range(n)]
    stats = summary_of(values).summary()
    for q, got in [(50, stats.p50), (90, stats.p90), (95, stats.p95), (99, stats.p99)]:
        assert got == pytest.approx(float(numpy.percentile(values, q)), rel=1e-12)


def test_percentiles_cover_only_the_samples_kept() -> None:
    stats = summary_of([float(v) for v in range(1, 9)], size=5).summary()  # keeps 4..8
    assert stats.p50 == pytest.approx(6.0)
    assert stats.p95 == pytest.approx(7.8)
    assert (stats.count, stats.max) == (8, 8.0)
