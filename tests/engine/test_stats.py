"""Numbers on constructed data with known answers (no clocks involved)."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from pytest_agentperf.engine.phase import Arrival, Arrivals
from pytest_agentperf.engine.stats import (
    efficiency,
    percentile,
    reservoir_indices,
    summarize,
    timeseries,
    window_size,
)
from pytest_agentperf.engine.task_records import TaskRecords


def arrival_offsets(
    rate: float, n: int, arrival: Arrival = "constant", seed: int = 0
) -> list[float]:
    """The first ``n`` intended start offsets of a schedule."""
    arrivals = Arrivals(rate, arrival, seed)
    return [arrivals.next() for _ in range(n)]


def test_percentiles_of_1_to_100_are_exact_and_interpolated() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    s = summarize(values)
    assert s.count == 100
    assert s.min == 1.0
    assert s.max == 100.0
    assert s.mean == 50.5
    assert s.p50 == pytest.approx(50.5)
    assert s.p90 == pytest.approx(90.1)
    assert s.p95 == pytest.approx(95.05)
    assert s.p99 == pytest.approx(99.01)
    assert s.p999 == pytest.approx(99.901)


def test_percentiles_match_statistics_quantiles_inclusive() -> None:
    values = [0.001 * (i % 37) ** 1.5 for i in range(1, 1001)]
    cuts = statistics.quantiles(values, n=1000, method="inclusive")
    s = summarize(values)
    assert s.p50 == pytest.approx(cuts[499])
    assert s.p99 == pytest.approx(cuts[989])
    assert s.p999 == pytest.approx(cuts[998])


def test_a_rare_outlier_is_not_rounded_away() -> None:
    values = [0.010] * 990 + [1.0] * 10  # exactly 1% at one second
    s = summarize(values)
    assert s.p95 == pytest.approx(0.010)
    assert s.p999 == pytest.approx(1.0)
    assert s.max == 1.0
    assert 0.010 < s.p99 < 1.0  # between the ranks, no bucket edge


def test_empty_and_single_value() -> None:
    assert math.isnan(summarize([]).p50)
    assert summarize([]).count == 0
    one = summarize([0.25])
    assert (one.p50, one.p999, one.max) == (0.25, 0.25, 0.25)
    assert math.isnan(percentile([], 0.5))


def _records(rows: list[tuple[float, float, float, str | None]]) -> TaskRecords:
    rec = TaskRecords(len(rows))
    for intended, started, finished, error in rows:
        code = rec.error_code(error) if error else 0
        rec.add(intended, started, math.nan, finished, code)
    return rec


def test_records_count_outcomes_and_errors_by_type() -> None:
    rows: list[tuple[float, float, float, str | None]] = [
        (0.0, 0.0, 0.1, None),
        (0.0, 0.5, 0.6, "TimeoutError"),
        (1.0, 1.0, 1.2, "RateLimited"),
        (1.0, 1.0, 1.3, "TimeoutError"),
    ]
    rec = _records(rows)
    assert (rec.count, rec.completed, rec.failed) == (4, 1, 3)
    assert rec.errors() == {"TimeoutError": 2, "RateLimited": 1}
    assert rec.latencies() == pytest.approx([0.1, 0.6, 0.2, 0.3])
    assert rec.service_latencies() == pytest.approx([0.1, 0.1, 0.2, 0.3])
    assert rec.start_delays() == pytest.approx([0.0, 0.5, 0.0, 0.0])


def test_preallocated_records_do_not_reallocate() -> None:
    rec = TaskRecords(5000)
    before = [a.buffer_info() for a in (rec.intended, rec.started, rec.finished, rec.code)]
    for i in range(5000):
        rec.add(i, i, math.nan, i + 0.5, 0)
    after = [a.buffer_info() for a in (rec.intended, rec.started, rec.finished, rec.code)]
    assert before == after
    assert rec.kept == 5000


def test_records_are_bounded_and_become_a_uniform_sample() -> None:
    rec = TaskRecords(None, max_records=1000)
    for i in range(20_000):
        rec.add(0.0, 0.0, math.nan, float(i), 0)  # latency = index
    assert rec.count == rec.completed == 20_000
    assert rec.kept == 1000
    assert len(rec.intended) == 1000
    assert rec.sampled
    lat = rec.latencies()
    assert 7000 < statistics.mean(lat) < 13000  # uniform over 0..19999, mean ~10000
    assert max(lat) > 15_000


def test_records_grow_in_chunks_without_expected_size() -> None:
    rec = TaskRecords(None)
    for i in range(10_000):
        rec.add(i, i, math.nan, i + 1.0, 0)
    assert rec.kept == 10_000
    assert len(rec.intended) % 8192 == 0


def test_timeseries_windows_count_throughput_and_percentiles() -> None:
    rec = TaskRecords(30)
    for i in range(20):  # first second: 20 ok tasks, 10 ms each
        rec.add(i * 0.05, i * 0.05, math.nan, i * 0.05 + 0.01, 0)
    err = rec.error_code("Boom")
    for i in range(10):  # second second: 10 tasks, half failing, 100 ms each
        rec.add(1.0 + i * 0.08, 1.0 + i * 0.08, math.nan, 1.0 + i * 0.08 + 0.1, err if i % 2 else 0)
    windows = timeseries(rec, 0.0, 2.0, window=1.0)
    assert [w.completed for w in windows] == [20, 5]
    assert [w.errors for w in windows] == [0, 5]
    assert windows[0].throughput == pytest.approx(20.0)
    assert windows[0].p50 == pytest.approx(0.01)
    assert windows[1].p95 == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("duration", "expected"), [(1.0, 0.1), (10.0, 0.2), (60.0, 1.0), (300.0, 5.0)]
)
def test_window_size_is_round(duration: float, expected: float) -> None:
    assert window_size(duration) == pytest.approx(expected)


def test_reservoir_is_bounded_uniform_and_seeded() -> None:
    assert reservoir_indices(10) == list(range(10))
    picks = reservoir_indices(100_000, 2000, seed=3)
    assert len(picks) == len(set(picks)) == 2000
    assert picks == reservoir_indices(100_000, 2000, seed=3)
    assert 40_000 < statistics.mean(picks) < 60_000


def test_efficiency_is_injected_over_the_tasks_latencies() -> None:
    # 400 tasks of 0.1 s injected latency, 40 s of task latency in all -> 1.0
    perfect = efficiency(40.0, 400, busy_time=40.0)
    assert perfect is not None
    assert perfect.value == pytest.approx(1.0)
    assert perfect.mean_injected_latency == pytest.approx(0.1)
    # the tasks spent 50 s in flight in total for 40 s injected -> 0.8
    slower = efficiency(40.0, 400, busy_time=50.0)
    assert slower is not None
    assert slower.value == pytest.approx(0.8)
    assert efficiency(0.0, 400, busy_time=1.0) is None
    assert efficiency(40.0, 400, busy_time=0.0) is None
    assert efficiency(40.0, 0, busy_time=1.0) is None


def test_constant_arrivals_are_evenly_spaced() -> None:
    assert arrival_offsets(100.0, 4) == pytest.approx([0.0, 0.01, 0.02, 0.03])


def test_poisson_arrivals_have_the_right_mean_and_spread() -> None:
    rate = 200.0
    offsets = arrival_offsets(rate, 20_001, "poisson", seed=7)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    mean = statistics.mean(gaps)
    assert mean == pytest.approx(1 / rate, rel=0.03)
    # exponential gaps: standard deviation equals the mean (coefficient of variation 1)
    assert statistics.stdev(gaps) / mean == pytest.approx(1.0, rel=0.05)
    # and about 1 - 1/e of them are shorter than the mean
    assert sum(g < 1 / rate for g in gaps) / len(gaps) == pytest.approx(1 - math.exp(-1), abs=0.02)


def test_poisson_arrivals_are_reproducible_by_seed() -> None:
    assert arrival_offsets(50.0, 100, "poisson", seed=1) == arrival_offsets(
        50.0, 100, "poisson", seed=1
    )
    assert arrival_offsets(50.0, 100, "poisson", seed=1) != arrival_offsets(
        50.0, 100, "poisson", seed=2
    )
