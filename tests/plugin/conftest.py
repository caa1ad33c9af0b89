"""Helpers for the plugin tests: fake results, and an inner conftest that records them."""

from __future__ import annotations

from collections.abc import Callable

import psutil
import pytest

import pytest_agentperf.load
import pytest_agentperf.memory
import pytest_agentperf.mockllm
from pytest_agentperf.result import LatencySummary, MemoryReport, PerfResult, SelfCheck, WindowStats

# In-process pytester runs restore sys.modules afterwards: what an inner run imports first
# (psutil, the engine, the memory tracker, the mock) would be dropped while still
# referenced, so import it here.
PRELOADED = (psutil, pytest_agentperf.load, pytest_agentperf.memory, pytest_agentperf.mockllm)

# The inner test suites get ``fake_result`` (a factory of PerfResult) through this conftest;
# tests record them with ``agent_perf.record(...)``, so budgets and reports can be checked
# with exact figures, without running a workload.
INNER_CONFTEST = """
import pytest
from pytest_agentperf.result import LatencySummary, MemoryReport, PerfResult, SelfCheck, WindowStats


def make_result(name="run", throughput=500.0, p50=0.05, p95=0.1, p99=0.2, failed=0,
                completed=1000, efficiency=0.95, growth=None, leak=False, warnings=()):
    samples = tuple(p95 * (0.1 + i / 200) for i in range(200))
    lat = LatencySummary(count=completed + failed, mean=p50, min=0.001, p50=p50, p90=p95,
                         p95=p95, p99=p99, p999=p99, max=p99)
    window = WindowStats(0.0, 1.0, completed, failed, throughput, p50, p95)
    memory = None
    if growth is not None:
        memory = MemoryReport(tasks=completed, growth_bytes=growth,
                              per_task_bytes=growth / completed, per_task_ci=(0.0, 1.0),
                              rss_start=1, rss_end=2, rss_peak=3, leak=leak)
    return PerfResult(name=name, mode="closed", duration=completed / throughput,
                      completed=completed, failed=failed, throughput=throughput, latency=lat,
                      service_latency=lat, concurrency=8, efficiency=efficiency, memory=memory,
                      timeseries=(window,), samples=samples,
                      selfcheck=SelfCheck(warnings=tuple(warnings)))


@pytest.fixture
def fake_result():
    return make_result
"""


def _make_result(
    name: str = "run",
    throughput: float = 500.0,
    p95: float = 0.1,
    failed: int = 0,
    completed: int = 1000,
    efficiency: float | None = 0.95,
    growth: float | None = None,
    leak: bool = False,
    warnings: tuple[str, ...] = (),
) -> PerfResult:
    """A PerfResult with exact figures (p50 = p95 / 2, p99 = 2 x p95)."""
    lat = LatencySummary(
        count=completed + failed,
        mean=p95 / 2,
        min=0.001,
        p50=p95 / 2,
        p90=p95,
        p95=p95,
        p99=p95 * 2,
        p999=p95 * 2,
        max=p95 * 2,
    )
    memory = None
    if growth is not None:
        memory = MemoryReport(
            tasks=completed,
            growth_bytes=growth,
            per_task_bytes=growth / completed,
            per_task_ci=(0.0, 1.0),
            rss_start=1,
            rss_end=2,
            rss_peak=3,
            leak=leak,
        )
    return PerfResult(
        name=name,
        mode="closed",
        duration=completed / throughput,
        completed=completed,
        failed=failed,
        throughput=throughput,
        latency=lat,
        service_latency=lat,
        concurrency=8,
        efficiency=efficiency,
        memory=memory,
        timeseries=(WindowStats(0.0, 1.0, completed, failed, throughput, p95 / 2, p95),),
        selfcheck=SelfCheck(warnings=warnings),
    )


@pytest.fixture
def make_result() -> Callable[..., PerfResult]:
    """A factory of PerfResults with exact figures (p50 = p95 / 2, p99 = 2 x p95)."""
    return _make_result


@pytest.fixture
def perf_pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """``pytester`` with the inner conftest that provides ``fake_result``."""
    pytester.makeconftest(INNER_CONFTEST)
    return pytester
