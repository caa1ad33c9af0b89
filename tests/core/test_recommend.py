"""Recommendations speak only when the figures warrant it, and quote them."""

from __future__ import annotations

from dataclasses import replace

from pytest_agentperf.recommend import recommend
from pytest_agentperf.result import LatencySummary, MemoryReport, PerfResult, SelfCheck


def _healthy() -> PerfResult:
    lat = LatencySummary(
        count=1000,
        mean=0.05,
        min=0.05,
        p50=0.05,
        p90=0.055,
        p95=0.06,
        p99=0.07,
        p999=0.08,
        max=0.09,
    )
    return PerfResult(
        name="run",
        mode="closed",
        duration=1.0,
        completed=1000,
        failed=0,
        throughput=1900.0,
        latency=lat,
        service_latency=lat,
        concurrency=100,
        efficiency=0.95,
        mean_injected_latency=0.05,
    )


def test_a_healthy_run_gets_no_recommendation() -> None:
    assert recommend([("test_ok", [_healthy()])]) == []


def test_low_efficiency_quotes_the_ideal() -> None:
    slow = replace(_healthy(), throughput=1000.0, efficiency=0.5)
    (text,) = recommend([("test_slow", [slow])])
    assert "test_slow" in text
    assert "50%" in text
    assert "2,000/s" in text  # 1000 / 0.5: what Little's law allows
    assert "concurrency up to 100" in text


def test_long_tail() -> None:
    r = _healthy()
    tail = replace(r, latency=replace(r.latency, p99=0.5))
    (text,) = recommend([("test_tail", [tail])])
    assert "10.0x p50" in text


def test_errors_name_the_main_kind() -> None:
    failing = replace(_healthy(), completed=950, failed=50, errors={"RateLimited": 40, "X": 10})
    (text,) = recommend([("test_err", [failing])])
    assert "5.00%" in text
    assert "RateLimited (40)" in text


def test_late_starts_in_open_loop() -> None:
    late = replace(_healthy(), mode="open", offered_rate=2000.0, late_starts=100)
    (text,) = recommend([("test_open", [late])])
    assert "100 of 1000 tasks started late" in text


def test_leak_without_repeats_and_selfcheck_left_to_the_summary() -> None:
    leaky = replace(
        _healthy(),
        memory=MemoryReport(
            tasks=5000,
            growth_bytes=5_120_000.0,
            per_task_bytes=1024.0,
            per_task_ci=(900.0, 1100.0),
            rss_start=0,
            rss_end=0,
            rss_peak=0,
            leak=True,
        ),
        selfcheck=SelfCheck(warnings=("event-loop lag p99 40ms",)),
    )
    texts = recommend([("test_leak", [leaky, leaky])])
    assert len(texts) == 1
    assert "1.0KiB per task" in texts[0]
