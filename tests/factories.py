"""The one place tests build synthetic results and documents (no pytest here).

``make_result`` gives a result with exact figures (what budgets and reports are checked
against); ``build_result`` one whose figures are exactly those of given latency samples and
window throughputs (what the significance tests work on). Inner pytester runs load this
module too (see ``tests/plugin/conftest.py``), so inner tests use the same builder.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from pytest_agentperf.engine.stats import summarize
from pytest_agentperf.result import (
    Distribution,
    LatencySummary,
    LLMSpend,
    MemoryReport,
    MemorySample,
    PerfResult,
    SelfCheck,
    WindowStats,
)

MakeResult = Callable[..., PerfResult]


def make_result(
    name: str = "run",
    throughput: float = 500.0,
    p95: float = 0.1,
    failed: int = 0,
    completed: int = 1000,
    efficiency: float | None = 0.95,
    growth: float | None = None,
    leak: bool = False,
    warnings: Sequence[str] = (),
    *,
    p50: float | None = None,
    p99: float | None = None,
    samples: Sequence[float] | None = None,
) -> PerfResult:
    """A closed-loop result with exact figures: p50 = p95 / 2 and p99 = 2 x p95 unless given.

    ``samples`` (the latency reservoir) defaults to 200 values spread below p95;
    ``growth`` adds a memory report (``leak`` says whether its trend is significant).
    """
    p50 = p95 / 2 if p50 is None else p50
    p99 = p95 * 2 if p99 is None else p99
    lat = LatencySummary(
        count=completed + failed, mean=p50, min=0.001, p50=p50, p90=p95, p95=p95,
        p99=p99, p999=p99, max=p99,
    )  # fmt: skip
    memory = None
    if growth is not None:
        memory = MemoryReport(
            tasks=completed, growth_bytes=growth, per_task_bytes=growth / completed,
            per_task_ci=(0.0, 1.0), rss_start=1, rss_end=2, rss_peak=3, leak=leak,
        )  # fmt: skip
    if samples is None:
        samples = tuple(p95 * (0.1 + i / 200) for i in range(200))
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
        timeseries=(WindowStats(0.0, 1.0, completed, failed, throughput, p50, p95),),
        samples=tuple(samples),
        selfcheck=SelfCheck(warnings=tuple(warnings)),
    )


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


def full_result() -> PerfResult:
    """A result with every field set (what a JSON round trip must keep)."""
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
        cpu_per_task=0.0007,
        harness_cpu_per_task=0.00006,
        agent_cpu_per_task=0.00064,
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
        timeseries=(WindowStats(0.0, 1.0, 3, 1, 3.0, 0.02, 0.03, cpu=0.0028),),
        samples=(0.01, 0.02, 0.03),
        selfcheck=SelfCheck(
            0.001,
            0.002,
            50.0,
            ("loop lag high",),
            findings=("CPU-bound: ...",),
            run_queue_wait=0.01,
            harness_cpu={"engine": 0.00001, "mock": 0.00005},
            gc_collections=(10, 2, 1),
            gc_pause_max=(0.0001, 0.001, 0.006),
            gc_pause_total=(0.001, 0.002, 0.006),
            gc_frozen=True,
        ),
        started_at=1700000000.0,
        extra={"speedup": 90.0},
    )


def healthy_result() -> PerfResult:
    """A run a healthy agent gives: efficiency 0.95, a short tail, no errors."""
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


def merge_part(values: list[float], *, started_at: float, errors: int = 0) -> PerfResult:
    """One process's share of a 10 s workload whose latencies are ``values``."""
    summary = summarize(values)
    return PerfResult(
        name="w",
        mode="closed",
        duration=10.0,
        completed=len(values) - errors,
        failed=errors,
        throughput=(len(values) - errors) / 10.0,
        latency=summary,
        service_latency=summary,
        concurrency=4,
        errors={"Boom": errors} if errors else {},
        efficiency=0.9,
        timeseries=(WindowStats(0.0, 10.0, len(values) - errors, errors, 1.0, 0.1, 0.2),),
        samples=tuple(values),
        service_samples=tuple(values),
        started_at=started_at,
    )


def make_spend(
    calls: float = 2.0,
    tokens_in: float = 120.0,
    tokens_out: float = 30.0,
    *,
    tasks: int = 100,
    tool_rounds: float = 0.0,
    retries: float = 0.0,
    cost: float | None = 0.0021,
    currency: str = "USD",
    unattributed: int = 0,
) -> LLMSpend:
    """What ``tasks`` tasks spent, every task alike (the per-task means are the arguments)."""

    def same(mean: float) -> Distribution:
        spread = None if unattributed else mean
        return Distribution(mean * tasks, mean, spread, spread, spread)

    return LLMSpend(
        tasks=tasks,
        calls=same(calls),
        tokens_in=same(tokens_in),
        tokens_out=same(tokens_out),
        tokens=same(tokens_in + tokens_out),
        tool_rounds=same(tool_rounds),
        retries=same(retries),
        cost=None if cost is None else same(cost),
        currency=currency if cost is not None else "",
        unattributed_calls=unattributed,
        tokenizers={"tiktoken o200k_base": int(calls * tasks)},
    )
