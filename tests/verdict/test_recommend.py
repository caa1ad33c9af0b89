"""Recommendations speak only when the figures warrant it, and quote them."""

from __future__ import annotations

from dataclasses import replace

from pytest_agentperf.result import MemoryReport, SelfCheck
from pytest_agentperf.verdict.recommend import recommend
from tests.factories import healthy_result


def test_a_healthy_run_gets_no_recommendation() -> None:
    assert recommend([("test_ok", [healthy_result()])]) == []


def test_low_efficiency_quotes_the_ideal() -> None:
    slow = replace(healthy_result(), throughput=1000.0, efficiency=0.5)
    (text,) = recommend([("test_slow", [slow])])
    assert "test_slow" in text
    assert "50%" in text
    assert "2,000/s" in text  # 1000 / 0.5: what Little's law allows
    assert "concurrency up to 100" in text


def test_long_tail() -> None:
    r = healthy_result()
    tail = replace(r, latency=replace(r.latency, p99=0.5))
    (text,) = recommend([("test_tail", [tail])])
    assert "10.0x p50" in text


def test_errors_name_the_main_kind() -> None:
    failing = replace(
        healthy_result(), completed=950, failed=50, errors={"RateLimited": 40, "X": 10}
    )
    (text,) = recommend([("test_err", [failing])])
    assert "5.00%" in text
    assert "RateLimited (40)" in text


def test_late_starts_in_open_loop() -> None:
    late = replace(healthy_result(), mode="open", offered_rate=2000.0, late_starts=100)
    (text,) = recommend([("test_open", [late])])
    assert "100 of 1000 tasks started late" in text


def test_leak_without_repeats_and_selfcheck_left_to_the_summary() -> None:
    leaky = replace(
        healthy_result(),
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
