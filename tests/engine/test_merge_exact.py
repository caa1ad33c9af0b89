"""``merge`` of side-by-side results: exact efficiency, own-start time series, memory."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_agentperf.engine.merge import Pooled, merge, merge_memory, merge_pooled
from pytest_agentperf.engine.stats import summarize
from pytest_agentperf.errors import LoadConfigError
from pytest_agentperf.result import MemoryReport, WindowStats
from tests.factories import merge_part


def test_efficiency_is_injected_time_over_worker_time_summed() -> None:
    # A: 100 tasks x 50 ms injected at efficiency 0.5 (10 s of worker time);
    # B: 300 tasks x 50 ms at 0.75 (20 s): (5 + 15) / (10 + 20) = 2/3, not the mean by tasks
    a = replace(merge_part([0.1] * 100, started_at=0), efficiency=0.5, mean_injected_latency=0.05)
    b = replace(merge_part([0.1] * 300, started_at=0), efficiency=0.75, mean_injected_latency=0.05)
    merged = merge([a, b])
    assert merged.efficiency == pytest.approx(2 / 3)
    assert merged.mean_injected_latency == pytest.approx(0.05)
    # without the injected latency only a task-weighted mean is possible
    c, d = replace(a, mean_injected_latency=None), replace(b, mean_injected_latency=None)
    assert merge([c, d]).efficiency == pytest.approx((0.5 * 100 + 0.75 * 300) / 400)


def test_cpu_per_task_is_the_total_cpu_over_the_total_tasks() -> None:
    a = replace(
        merge_part([0.1] * 100, started_at=0),
        cpu_per_task=300e-6,
        harness_cpu_per_task=30e-6,
        agent_cpu_per_task=270e-6,
    )
    b = replace(
        merge_part([0.1] * 300, started_at=0),
        cpu_per_task=100e-6,
        harness_cpu_per_task=20e-6,
        agent_cpu_per_task=80e-6,
    )
    merged = merge([a, b])
    assert merged.cpu_per_task == pytest.approx((300e-6 * 100 + 100e-6 * 300) / 400)
    assert merged.harness_cpu_per_task == pytest.approx((30e-6 * 100 + 20e-6 * 300) / 400)
    assert merged.agent_cpu_per_task == pytest.approx((270e-6 * 100 + 80e-6 * 300) / 400)
    assert merge([a, replace(b, cpu_per_task=None)]).cpu_per_task is None  # not measured


def test_time_series_align_on_each_results_own_start() -> None:
    def windows(counts: list[int]) -> tuple[WindowStats, ...]:
        return tuple(
            WindowStats(float(k), k + 1.0, c, 0, float(c), 0.1, 0.2, cpu=c * 0.001)
            for k, c in enumerate(counts)
        )

    # started 7 s apart on the wall clock (another machine's clock, say): window k adds up
    a = replace(merge_part([0.1] * 6, started_at=100.0), timeseries=windows([1, 2, 3]))
    b = replace(merge_part([0.1] * 3, started_at=107.0), timeseries=windows([3, 0]))
    merged = merge([a, b])
    assert [(w.start, w.end, w.completed) for w in merged.timeseries] == [
        (0.0, 1.0, 4),
        (1.0, 2.0, 2),
        (2.0, 3.0, 3),
    ]
    assert [w.cpu for w in merged.timeseries] == pytest.approx([0.004, 0.002, 0.003])


def test_merge_pooled_is_exact_from_every_tasks_latency() -> None:
    values = [[(13 * i + k) % 997 / 100 for i in range(2500)] for k in range(2)]
    # each result's summary is of all its tasks, but it carries a sample of 100 only
    parts = [
        replace(merge_part(v, started_at=0), samples=tuple(v[:100]), service_samples=())
        for v in values
    ]
    assert merge(parts).latency.p50 != pytest.approx(summarize(values[0] + values[1]).p50)
    pooled = [Pooled(v, v, ttfts=v[:10]) for v in values]
    merged = merge_pooled(parts, pooled)
    assert merged.latency.to_dict() == pytest.approx(summarize(values[0] + values[1]).to_dict())
    assert merged.ttft is not None
    assert merged.ttft.count == 20
    with pytest.raises(LoadConfigError, match="one Pooled per result"):
        merge_pooled(parts, pooled[:1])
    assert merge_pooled(parts[:1], pooled[:1]).latency.count == 2500  # one result: recomputed


def report(tasks: int, per_task: float, leak: bool) -> MemoryReport:
    return MemoryReport(
        tasks=tasks,
        growth_bytes=per_task * tasks,
        per_task_bytes=per_task,
        per_task_ci=(per_task - 10, per_task + 10),
        rss_start=100,
        rss_end=200,
        rss_peak=300,
        leak=leak,
        reason="slope above zero" if leak else "interval spans zero",
        blocks_per_task=0.5 if leak else 0.0,
        blocks_per_task_ci=(0.4, 0.6) if leak else (-0.1, 0.1),
    )


def test_memory_of_processes_adds_up_and_names_the_one_that_grew() -> None:
    merged = merge_memory([report(300, 0.0, False), report(100, 4000.0, True)])
    assert merged is not None
    assert merged.tasks == 400
    assert merged.growth_bytes == pytest.approx(400_000)
    assert merged.per_task_bytes == pytest.approx(1000)  # the growth over every task
    low, high = merged.per_task_ci
    assert low < 1000 < high
    assert merged.leak
    assert merged.reason.startswith("process 0: no leak")
    assert "process 1: grows, 4,000 B/task over 100 tasks (slope above zero)" in merged.reason
    assert (merged.rss_start, merged.rss_end) == (200, 400)
    assert merge_memory([report(1, 0, False), None]) is None
    assert merge_memory([]) is None
