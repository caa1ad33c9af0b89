"""Combining the results of one workload run in several processes (``merge``).

Counts, errors, throughput, mean, min and max merge exactly, and so do efficiency (the
mock's injected time over the tasks' time, summed) and CPU per task (total CPU over total
tasks: ``stats.merge_cpu``); the self-checks merge through ``selfcheck.merge_selfchecks``.
Percentiles cannot be merged from summaries, so they are recomputed from latencies: exact
from every task's latencies when the caller has them (``run(..., processes=N)`` does:
:func:`merge_pooled`) or when every result carries all of its own (it ran at most 2000
tasks); otherwise from a task-weighted union of the samples (an estimate). Time series are
aligned on each result's own start (window ``k`` of every result adds up, CPU included: no
clock is compared between processes). Memory reports merge when every result has one
(:func:`merge_memory`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pytest_agentperf.engine.economics import merge_spend
from pytest_agentperf.engine.selfcheck import merge_selfchecks
from pytest_agentperf.engine.stats import (
    RESERVOIR_SIZE,
    merge_cpu,
    percentile,
    reservoir_indices,
    summarize,
)
from pytest_agentperf.errors import LoadConfigError
from pytest_agentperf.result import (
    LatencySummary,
    MemoryReport,
    PerfResult,
    WindowStats,
)

__all__ = ["Pooled", "merge", "merge_memory", "merge_pooled"]


@dataclass(frozen=True, slots=True)
class Pooled:
    """Every task's latencies of one result (finish - intended start, finish - actual
    start, first token - intended start where marked)."""

    latencies: Sequence[float]
    services: Sequence[float]
    ttfts: Sequence[float] = ()


def merge(results: Sequence[PerfResult], name: str | None = None) -> PerfResult:
    """One :class:`PerfResult` for results of the same workload run side by side.

    The processes are taken to have run at the same time: throughputs add up, the duration
    is the longest. Memory reports merge when every result has one.
    """
    return _merge(results, name, None)


def merge_pooled(
    results: Sequence[PerfResult],
    pooled: Sequence[Pooled],
    name: str | None = None,
    labels: Sequence[str] | None = None,
) -> PerfResult:
    """:func:`merge` with every task's latencies of each result: exact percentiles.

    ``labels`` name the results where the merged memory report says which one grew
    (``"Ray actor 1"``); by default ``"process 0"``, ``"process 1"``, ...
    """
    if len(pooled) != len(results):
        raise LoadConfigError("merge_pooled() needs one Pooled per result.")
    return _merge(results, name, pooled, labels)


def _merge(
    results: Sequence[PerfResult],
    name: str | None,
    every: Sequence[Pooled] | None,
    labels: Sequence[str] | None = None,
) -> PerfResult:
    if not results:
        raise LoadConfigError("merge() needs at least one PerfResult.")
    if len(results) == 1 and every is None:
        return results[0]
    first = results[0]
    if every is not None:
        pooled = [x for p in every for x in p.latencies]
        pooled_services = [x for p in every for x in p.services]
        ttft = _ttft_exact(every)
    else:
        pooled, pooled_services = _pooled(results)
        ttft = _merge_ttft(results)
    keep = reservoir_indices(len(pooled))  # the merged result carries a bounded sample
    samples = tuple(pooled[i] for i in keep)
    services = tuple(pooled_services[i] for i in keep)
    cpu, harness_cpu, agent_cpu = merge_cpu(
        [(r.total, r.cpu_per_task, r.harness_cpu_per_task, r.agent_cpu_per_task) for r in results]
    )
    extra = {**first.extra, "merged_from": len(results)}
    for rate in ("achieved_rate", "overall_throughput"):  # side by side, rates add up
        if rate in first.extra:
            extra[rate] = math.fsum(r.extra.get(rate, 0.0) for r in results)
    return replace(
        first,
        name=name or first.name,
        duration=max(r.duration for r in results),
        completed=sum(r.completed for r in results),
        failed=sum(r.failed for r in results),
        throughput=sum(r.throughput for r in results),
        latency=_merge_summary([r.latency for r in results], pooled),
        service_latency=_merge_summary([r.service_latency for r in results], pooled_services),
        concurrency=_sum_int([r.concurrency for r in results]),
        offered_rate=_sum_float([r.offered_rate for r in results]),
        late_starts=sum(r.late_starts for r in results),
        ttft=ttft,
        errors=_merge_errors(results),
        efficiency=_efficiency(results),
        cpu_per_task=cpu,
        harness_cpu_per_task=harness_cpu,
        agent_cpu_per_task=agent_cpu,
        mean_injected_latency=_weighted(
            [r.mean_injected_latency for r in results], [r.total for r in results]
        ),
        memory=merge_memory([r.memory for r in results], labels),
        timeseries=_merge_windows(results),
        samples=samples,
        service_samples=services,
        selfcheck=merge_selfchecks([r.selfcheck for r in results], [r.total for r in results]),
        started_at=min(r.started_at for r in results),
        extra=extra,
        llm=merge_spend([r.llm for r in results]),
    )


def _ttft_exact(every: Sequence[Pooled]) -> LatencySummary | None:
    values = [x for p in every for x in p.ttfts]
    return summarize(values) if values else None


def _efficiency(results: Sequence[PerfResult]) -> float | None:
    """Injected time over the workers' time, both summed (each result's denominator is
    its injected time over its efficiency); task-weighted when the injected time is unknown.
    """
    known = [r for r in results if r.efficiency is not None]
    if not known:
        return None
    if all(r.efficiency and r.mean_injected_latency for r in known):
        injected = [(r.mean_injected_latency or 0.0) * r.total for r in known]
        spent = math.fsum(i / (r.efficiency or 1.0) for i, r in zip(injected, known, strict=True))
        return math.fsum(injected) / spent if spent > 0 else None
    return _weighted([r.efficiency for r in known], [r.total for r in known])


def _pooled(results: Sequence[PerfResult]) -> tuple[list[float], list[float]]:
    """Every task's latency (and service latency) when each result carries all of them;
    else a count-weighted sample of them."""
    if all(len(r.samples) == r.total for r in results):
        every = [x for r in results for x in r.samples]
        services = [
            x
            for r in results
            for x in (r.service_samples if len(r.service_samples) == r.total else r.samples)
        ]
        return every, services
    total = sum(r.total for r in results) or 1
    rng = random.Random(0)
    lat: list[float] = []
    svc: list[float] = []
    for r in results:
        want = min(len(r.samples), max(1, round(RESERVOIR_SIZE * r.total / total)))
        picks = sorted(rng.sample(range(len(r.samples)), want)) if r.samples else []
        lat.extend(r.samples[i] for i in picks)
        pairs = len(r.service_samples) == len(r.samples)
        svc.extend((r.service_samples if pairs else r.samples)[i] for i in picks)
    return lat, svc


def _merge_summary(parts: Sequence[LatencySummary], pooled: Sequence[float]) -> LatencySummary:
    parts = [p for p in parts if p.count]
    if not parts:
        return LatencySummary()
    count = sum(p.count for p in parts)
    ordered = sorted(pooled)
    fallback = _weighted_summary(parts) if not ordered else None

    def q(p: float, attr: str) -> float:
        return getattr(fallback, attr) if fallback is not None else percentile(ordered, p)

    return LatencySummary(
        count=count,
        mean=math.fsum(p.mean * p.count for p in parts) / count,
        min=min(p.min for p in parts),
        p50=q(0.5, "p50"),
        p90=q(0.9, "p90"),
        p95=q(0.95, "p95"),
        p99=q(0.99, "p99"),
        p999=q(0.999, "p999"),
        max=max(p.max for p in parts),
    )


def _weighted_summary(parts: Sequence[LatencySummary]) -> LatencySummary:
    count = sum(p.count for p in parts)

    def w(attr: str) -> float:
        return math.fsum(getattr(p, attr) * p.count for p in parts) / count

    return LatencySummary(
        count=count,
        mean=w("mean"),
        min=min(p.min for p in parts),
        p50=w("p50"),
        p90=w("p90"),
        p95=w("p95"),
        p99=w("p99"),
        p999=w("p999"),
        max=max(p.max for p in parts),
    )


def _merge_ttft(results: Sequence[PerfResult]) -> LatencySummary | None:
    parts = [r.ttft for r in results if r.ttft is not None and r.ttft.count]
    return _weighted_summary(parts) if parts else None


def _merge_errors(results: Sequence[PerfResult]) -> dict[str, int]:
    errors: dict[str, int] = {}
    for r in results:
        for kind, count in r.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    return errors


def _sum_int(values: Sequence[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _sum_float(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) if present else None


def _weighted(values: Sequence[float | None], weights: Sequence[int]) -> float | None:
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None]
    total = sum(w for _, w in pairs)
    return math.fsum(v * w for v, w in pairs) / total if pairs and total else None


def _merge_windows(results: Sequence[PerfResult]) -> tuple[WindowStats, ...]:
    """Window ``k`` of every result in window ``k`` (of the largest window size)."""
    sizes = [w.end - w.start for r in results for w in r.timeseries if w.end > w.start]
    if not sizes:
        return ()
    size = max(sizes)
    buckets: dict[int, list[WindowStats]] = {}
    for r in results:
        for w in r.timeseries:
            buckets.setdefault(int(w.start / size + 1e-9), []).append(w)
    out = []
    for k in sorted(buckets):
        group = buckets[k]
        done = sum(w.completed for w in group)
        start = k * size
        end = min((k + 1) * size, max(w.end for w in group))
        out.append(
            WindowStats(
                start=start,
                end=end,
                completed=done,
                errors=sum(w.errors for w in group),
                throughput=done / (end - start) if end > start else 0.0,
                p50=_nan_weighted([(w.p50, w.completed) for w in group]),
                p95=_nan_weighted([(w.p95, w.completed) for w in group]),
                cpu=_cpu_sum([w.cpu for w in group]),
            )
        )
    return tuple(out)


def _cpu_sum(values: Sequence[float | None]) -> float | None:
    """The processes' CPU in one window, added up; ``None`` unless every one measured it."""
    if any(v is None or math.isnan(v) for v in values):
        return None
    return math.fsum(v for v in values if v is not None)


def _nan_weighted(pairs: list[tuple[float, int]]) -> float:
    """Mean of the non-NaN values weighted by their counts (plain mean if all counts are 0)."""
    valid = [(v, c) for v, c in pairs if not math.isnan(v)]
    if not valid:
        return math.nan
    weight = sum(c for _, c in valid)
    if not weight:
        return math.fsum(v for v, _ in valid) / len(valid)
    return math.fsum(v * c for v, c in valid) / weight


def merge_memory(
    reports: Sequence[MemoryReport | None], labels: Sequence[str] | None = None
) -> MemoryReport | None:
    """The memory of side-by-side processes: growths add up, the slope is their sum over
    all tasks, a leak in any process is a leak, and ``reason`` says which process grew
    (named by ``labels``, by default ``"process 0"``, ``"process 1"``, ...).

    ``None`` unless every process has a report. The slope's interval combines the
    processes' (independent fits: half-widths add in quadrature, task-weighted).
    """
    if not reports or any(r is None for r in reports):
        return None
    parts = [r for r in reports if r is not None]
    if len(parts) == 1:
        return parts[0]
    tasks = sum(r.tasks for r in parts)
    weights = [r.tasks / tasks if tasks else 1 / len(parts) for r in parts]
    growth = math.fsum(r.growth_bytes for r in parts)
    leaking = [i for i, r in enumerate(parts) if r.leak]
    names = list(labels) if labels is not None else [f"process {i}" for i in range(len(parts))]
    return MemoryReport(
        tasks=tasks,
        growth_bytes=growth,
        per_task_bytes=growth / tasks if tasks else 0.0,
        per_task_ci=_combined_ci(
            [r.per_task_bytes for r in parts], [r.per_task_ci for r in parts], weights
        ),
        rss_start=sum(r.rss_start for r in parts),
        rss_end=sum(r.rss_end for r in parts),
        rss_peak=sum(r.rss_peak for r in parts),
        leak=bool(leaking),
        samples=(),
        metric=parts[0].metric,
        diagnosis="\n".join(
            f"{who}: {r.diagnosis}" for who, r in zip(names, parts, strict=True) if r.diagnosis
        )
        or None,
        blocks_per_task=math.fsum(
            w * r.blocks_per_task for w, r in zip(weights, parts, strict=True)
        ),
        blocks_per_task_ci=_combined_ci(
            [r.blocks_per_task for r in parts], [r.blocks_per_task_ci for r in parts], weights
        ),
        reason="; ".join(_memory_reason(who, r) for who, r in zip(names, parts, strict=True)),
        sampling_seconds=max(r.sampling_seconds for r in parts),
    )


def _combined_ci(
    slopes: Sequence[float], intervals: Sequence[tuple[float, float]], weights: Sequence[float]
) -> tuple[float, float]:
    """The interval of a weighted sum of independent slopes (half-widths in quadrature)."""
    center = math.fsum(w * s for w, s in zip(weights, slopes, strict=True))
    low = math.sqrt(
        math.fsum(
            (w * (s - lo)) ** 2 for w, s, (lo, _) in zip(weights, slopes, intervals, strict=True)
        )
    )
    high = math.sqrt(
        math.fsum(
            (w * (hi - s)) ** 2 for w, s, (_, hi) in zip(weights, slopes, intervals, strict=True)
        )
    )
    return center - low, center + high


def _memory_reason(who: str, report: MemoryReport) -> str:
    verdict = "grows" if report.leak else "no leak"
    text = f"{who}: {verdict}, {report.per_task_bytes:,.0f} B/task"
    text += f" over {report.tasks:,} tasks"
    return f"{text} ({report.reason})" if report.reason else text
