"""Sweeps (knee, stop reasons) and merging results of several processes."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import replace
from typing import Any

import pytest

from pytest_agentperf.engine.merge import merge
from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.engine.stats import summarize
from pytest_agentperf.engine.sweep import parse_slo
from pytest_agentperf.errors import LoadConfigError
from pytest_agentperf.result import LatencySummary, PerfResult
from tests.factories import merge_part


class Contended:
    """Latency grows steeply with the tasks in flight: 3 ms x (1 + (in_flight / 5) ** 6).

    In flight = concurrency: sleeps of 3.0, 3.0, 3.8, 53 ms at 1, 2, 4, 8 (0.2 s at most
    beyond; the loop's timers add ~1 ms): throughput keeps growing up to 4, then collapses.
    """

    def __init__(self) -> None:
        self.in_flight = 0

    async def __call__(self, payload: Any) -> None:
        self.in_flight += 1
        try:
            await asyncio.sleep(min(0.2, 0.003 * (1 + (self.in_flight / 5) ** 6)))
        finally:
            self.in_flight -= 1


@pytest.mark.asyncio
async def test_sweep_finds_the_knee_under_the_slo_and_stops_past_it() -> None:
    # the SLO (13 ms) is ~3x above the p50 at 4 (~4 ms) and ~4x below the p50 at 8 (~54 ms)
    perf = AgentPerf()
    sweep = await perf.sweep(
        Contended(),
        concurrency=[1, 2, 4, 8, 16, 32],
        slo={"p50": "13ms", "error_rate": "1%"},
        n=80,
        warmup=0,
    )
    values = [s.value for s in sweep.steps]
    assert values == [1, 2, 4, 8]  # 8 misses the SLO (53 ms): the sweep stops there
    assert sweep.stop_reason == "slo"
    assert sweep.knee_value == 4
    assert sweep.knee is sweep.steps[2].result
    assert not sweep.steps[-1].met_slo
    assert sweep.steps[-1].violations[0].startswith("p50")
    assert [r.name for r in perf.results] == [f"sweep[concurrency={v:g}]" for v in values]
    data = json.loads(json.dumps(sweep.to_dict()))
    assert data["knee_value"] == 4
    assert data["stop_reason"] == "slo"
    assert len(data["steps"]) == 4


class Capacity:
    """At most 2 tasks served at once, 5 ms each: throughput saturates at ~400/s."""

    def __init__(self) -> None:
        self.slots = asyncio.Semaphore(2)

    async def __call__(self, payload: Any) -> None:
        async with self.slots:
            await asyncio.sleep(0.005)


@pytest.mark.asyncio
async def test_sweep_stops_once_saturated() -> None:
    # 4, 8 or 16 workers are no faster than 2: no step gains 30% on the best before it
    sweep = await AgentPerf().sweep(
        Capacity(), concurrency=[2, 4, 8, 16], slo={"p99": "1s"}, saturation=0.3, n=100, warmup=0
    )
    assert sweep.stop_reason == "saturated"
    assert sweep.knee_value is not None
    assert sweep.knee_value <= 4


@pytest.mark.asyncio
async def test_rate_sweep_with_a_cap() -> None:
    sweep = await AgentPerf().sweep(
        Capacity(), rate=[100, "200/s"], concurrency=8, slo={"p95": "1s"}, n=30, warmup=0
    )
    assert sweep.parameter == "rate"
    assert [s.result.offered_rate for s in sweep.steps] == [100.0, 200.0]
    assert all(s.result.concurrency == 8 for s in sweep.steps)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "needs concurrency"),
        ({"concurrency": 4}, "list of integers"),
        ({"concurrency": []}, "at least one step"),
        ({"rate": 100}, "list of rates"),
        ({"rate": [10], "concurrency": [1, 2]}, "not both"),
        ({"concurrency": [1], "slo": {"p97": "1s"}}, "unknown SLO key 'p97'"),
        ({"concurrency": [1], "slo": {"p95": "fast"}}, r"'fast' in sweep\(slo="),
    ],
)
@pytest.mark.asyncio
async def test_bad_sweeps_say_what_is_wrong(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(LoadConfigError, match=match):
        await AgentPerf().sweep(Capacity(), n=1, **kwargs)


def test_slo_accepts_bounds_and_units() -> None:
    bounds = parse_slo({"p95": "150ms", "error_rate": "1%", "throughput": ">= 100/s"})
    assert (bounds["p95"].op, bounds["p95"].limit) == ("<=", 0.15)
    assert bounds["error_rate"].limit == 0.01
    assert (bounds["throughput"].op, bounds["throughput"].limit) == (">=", 100.0)


# -- merge --------------------------------------------------------------------------------


def test_merge_adds_counts_and_recomputes_percentiles() -> None:
    a = merge_part([0.001 * i for i in range(1, 1001)], started_at=100.0, errors=10)
    b = merge_part([0.001 * i for i in range(1001, 2001)], started_at=100.5)
    merged = merge([a, b])
    assert merged.completed == 1990
    assert merged.failed == 10
    assert merged.throughput == pytest.approx(a.throughput + b.throughput)
    assert merged.concurrency == 8
    assert merged.errors == {"Boom": 10}
    assert merged.latency.count == 2000
    assert merged.latency.mean == pytest.approx(1.0005)
    assert merged.latency.max == pytest.approx(2.0)
    assert merged.latency.min == pytest.approx(0.001)
    # all 2000 latencies travel in the samples, so the merged percentiles are exact
    assert merged.latency.p50 == pytest.approx(1.0005, abs=1e-9)
    assert merged.latency.p99 == pytest.approx(1.98001, abs=1e-9)
    assert merged.efficiency == pytest.approx(0.9)
    assert merged.started_at == 100.0
    assert merged.extra["merged_from"] == 2
    assert sum(w.completed for w in merged.timeseries) == 1990


def test_merge_of_one_result_is_that_result() -> None:
    a = merge_part([0.1, 0.2], started_at=1.0)
    assert merge([a]) is a
    with pytest.raises(ValueError, match="at least one"):
        merge([])


def test_merged_percentiles_are_exact_when_every_part_carries_all_its_tasks() -> None:
    # 3 x 1500 tasks: more than one result's sample (2000), but each part kept all of its own
    values = [[(7 * i + k) % 1000 / 1000 + k for i in range(1500)] for k in range(3)]
    parts = [merge_part(v, started_at=100.0 + k) for k, v in enumerate(values)]
    merged = merge(parts)
    exact = summarize([x for v in values for x in v])
    assert merged.latency.to_dict() == pytest.approx(exact.to_dict())  # percentiles included
    assert merged.service_latency.to_dict() == pytest.approx(exact.to_dict())
    assert len(merged.samples) == len(merged.service_samples) == 2000  # still bounded
    assert set(merged.samples) <= {x for v in values for x in v}


def test_merge_without_samples_keeps_the_exact_figures_and_estimates_percentiles() -> None:
    a = PerfResult(
        name="x",
        mode="closed",
        duration=1.0,
        completed=10,
        failed=0,
        throughput=10.0,
        latency=LatencySummary(10, 0.1, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2),
        service_latency=LatencySummary(10, 0.1, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2),
    )
    b = PerfResult.from_dict(
        {
            **a.to_dict(),
            "completed": 30,
            "latency": {**a.latency.to_dict(), "count": 30, "mean": 0.3, "p95": 0.3, "max": 0.5},
        }
    )
    merged = merge([a, b])
    # what merge guarantees: counts, mean, min and max
    assert merged.total == merged.latency.count == 40
    assert merged.latency.mean == pytest.approx((0.1 * 10 + 0.3 * 30) / 40)
    assert (merged.latency.min, merged.latency.max) == (0.05, 0.5)
    # percentiles cannot be merged from summaries: an estimate, within the range
    for q in (merged.latency.p50, merged.latency.p95, merged.latency.p99):
        assert not math.isnan(q)
        assert merged.latency.min <= q <= merged.latency.max


def test_merge_adds_the_open_loop_achieved_rates() -> None:
    a = replace(merge_part([0.1] * 10, started_at=1.0), mode="open", extra={"achieved_rate": 9.5})
    b = replace(a, extra={"achieved_rate": 10.0, "arrival": "poisson"})
    assert merge([a, b]).extra["achieved_rate"] == pytest.approx(19.5)
