"""Builders of synthetic results and documents for the report-part tests (no pytest here)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from pytest_agentperf.result import (
    MemoryReport,
    MemorySample,
    PerfResult,
    WindowStats,
)
from pytest_agentperf.stats import summarize

MakeResult = Callable[..., PerfResult]


def build_result(
    samples: Sequence[float],
    windows: Sequence[float] = (),
    *,
    name: str = "run",
    concurrency: int = 32,
    failed: int = 0,
    efficiency: float | None = None,
    memory: MemoryReport | None = None,
) -> PerfResult:
    """A closed-loop result whose figures are exactly those of ``samples`` and ``windows``."""
    lat = summarize(samples)
    throughput = sum(windows) / len(windows) if windows else concurrency / lat.mean
    series = tuple(
        WindowStats(
            start=float(i),
            end=float(i + 1),
            completed=round(t),
            errors=0,
            throughput=t,
            p50=lat.p50,
            p95=lat.p95,
        )
        for i, t in enumerate(windows)
    )
    return PerfResult(
        name=name,
        mode="closed",
        duration=float(len(windows)) if windows else len(samples) / throughput,
        completed=len(samples),
        failed=failed,
        throughput=throughput,
        latency=lat,
        service_latency=lat,
        concurrency=concurrency,
        efficiency=efficiency,
        memory=memory,
        timeseries=series,
        samples=tuple(samples),
    )


def lognormal(rng: random.Random, n: int, median: float = 0.05, scale: float = 1.0) -> list[float]:
    """``n`` lognormal latencies (sigma 0.5) with the given median, times ``scale``."""
    return [rng.lognormvariate(math.log(median), 0.5) * scale for _ in range(n)]


def memory_report() -> MemoryReport:
    samples = tuple(
        MemorySample(
            tasks=i * 100,
            rss=50_000_000 + i * 40_000,
            uss=40_000_000 + i * 30_000,
            blocks=1000 + i,
            warmup=i == 0,
        )
        for i in range(6)
    )
    return MemoryReport(
        tasks=500,
        growth_bytes=150_000.0,
        per_task_bytes=300.0,
        per_task_ci=(250.0, 350.0),
        rss_start=50_000_000,
        rss_end=50_200_000,
        rss_peak=50_250_000,
        leak=True,
        samples=samples,
    )


def document(*tests: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": "pytest-agentperf/results",
        "version": 1,
        "created": "2025-01-01T00:00:00+00:00",
        "environment": {
            "python": "3.11.9",
            "platform": "Linux",
            "cpus": 2,
            "packages": {},
            "git_commit": None,
            "hostname": "ci",
        },
        "tests": list(tests),
    }


def entry(
    nodeid: str,
    *results: PerfResult,
    outcome: str = "passed",
    budgets: list[dict[str, Any]] | None = None,
    comparison: Any = None,
) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "outcome": outcome,
        "budgets": budgets or [],
        "results": [r.to_dict() for r in results],
        "comparison": comparison,
    }
