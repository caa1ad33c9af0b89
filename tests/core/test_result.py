"""PerfResult travels through JSON unchanged (reports, xdist, baselines rely on it)."""

from __future__ import annotations

import json
import math

from pytest_agentperf.result import (
    LatencySummary,
    MemoryReport,
    MemorySample,
    PerfResult,
    SelfCheck,
    WindowStats,
)


def _result() -> PerfResult:
    lat = LatencySummary(
        count=3, mean=0.02, min=0.01, p50=0.02, p90=0.03, p95=0.03, p99=0.03, p999=0.03, max=0.03
    )
    return PerfResult(
        name="run",
        mode="open",
        duration=1.5,
        completed=3,
        failed=1,
        throughput=2.0,
        latency=lat,
        service_latency=lat,
        concurrency=4,
        offered_rate=3.0,
        late_starts=1,
        ttft=lat,
        errors={"RateLimited": 1},
        efficiency=0.9,
        mean_injected_latency=0.05,
        memory=MemoryReport(
            tasks=3,
            growth_bytes=10.0,
            per_task_bytes=3.3,
            per_task_ci=(1.0, 5.0),
            rss_start=1,
            rss_end=2,
            rss_peak=3,
            leak=True,
            samples=(MemorySample(tasks=0, rss=1, uss=1, blocks=5, warmup=True),),
        ),
        timeseries=(WindowStats(0.0, 1.0, 3, 1, 3.0, 0.02, 0.03),),
        samples=(0.01, 0.02, 0.03),
        selfcheck=SelfCheck(0.001, 0.002, 50.0, ("loop lag high",)),
        started_at=1700000000.0,
        extra={"speedup": 90.0},
    )


def test_round_trip_through_json() -> None:
    result = _result()
    data = json.loads(json.dumps(result.to_dict()))
    assert PerfResult.from_dict(data) == result


def test_derived_rates() -> None:
    result = _result()
    assert result.total == 4
    assert result.success_rate == 0.75
    assert result.error_rate == 0.25
    assert result.warnings == ("loop lag high",)


def test_unknown_keys_from_newer_writers_are_ignored() -> None:
    data = _result().to_dict()
    data["added_in_a_later_version"] = 1
    data["latency"]["p9999"] = 0.1
    assert PerfResult.from_dict(data).completed == 3


def test_null_floats_from_json_read_back_as_nan() -> None:
    data = _result().to_dict()
    data["latency"]["p999"] = None  # how the JSON writer stores NaN
    data["timeseries"][0]["p95"] = None
    back = PerfResult.from_dict(data)
    assert math.isnan(back.latency.p999)
    assert math.isnan(back.timeseries[0].p95)


def test_achieved_rate_prefers_the_engines_start_based_figure() -> None:
    result = _result()
    assert result.achieved_rate == result.total / result.duration  # no engine figure
    measured = PerfResult.from_dict({**result.to_dict(), "extra": {"achieved_rate": 2.9}})
    assert measured.achieved_rate == 2.9
