"""Recommendations derived from measured figures.

Each rule looks at one result and says something only when the numbers warrant it, quoting
the numbers. Conftests and plugins add their own through the
``pytest_agentperf_recommendations`` hook; these are the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pytest_agentperf.result import PerfResult
from pytest_agentperf.units import format_bytes, format_duration, format_fraction, format_rate

__all__ = ["RULES", "RecommendationRule", "recommend"]

#: A rule: (test name, result) -> a recommendation quoting the figures, or None.
RecommendationRule = Callable[[str, PerfResult], str | None]

# Thresholds: chosen so that a healthy run on a noisy 2-core CI machine says nothing.
LOW_EFFICIENCY = 0.7
TAIL_RATIO = 5.0
LATE_START_FRACTION = 0.01


def _efficiency(test: str, r: PerfResult) -> str | None:
    if r.efficiency is None or r.efficiency >= LOW_EFFICIENCY or r.concurrency is None:
        return None
    ideal = r.throughput / r.efficiency if r.efficiency > 0 else float("nan")
    return (
        f"{test}: throughput {format_rate(r.throughput)} is {r.efficiency:.0%} of the "
        f"{format_rate(ideal)} that Little's law allows for the workers that ran (concurrency "
        f"up to {r.concurrency}) with {format_duration(r.mean_injected_latency)} of LLM "
        "latency per task; the agent's own "
        "overhead, a connection-pool limit or the load generator is the bottleneck: profile "
        "the hot path or raise the limits."
    )


def _tail(test: str, r: PerfResult) -> str | None:
    lat = r.latency
    if lat.count < 100 or not lat.p50 > 0 or lat.p99 / lat.p50 < TAIL_RATIO:
        return None
    return (
        f"{test}: p99 {format_duration(lat.p99)} is {lat.p99 / lat.p50:.1f}x p50 "
        f"{format_duration(lat.p50)}; a long tail usually means queueing (raise concurrency or "
        "shed load), retries with long back-off, or pauses in the event loop."
    )


def _errors(test: str, r: PerfResult) -> str | None:
    if not r.failed:
        return None
    kind, count = max(r.errors.items(), key=lambda kv: kv[1]) if r.errors else ("errors", r.failed)
    return (
        f"{test}: {format_fraction(r.error_rate)} of tasks failed ({r.failed} of {r.total}), "
        f"mostly {kind} ({count}); check retry and circuit-breaker settings against the "
        "fault rate."
    )


def _late(test: str, r: PerfResult) -> str | None:
    if r.mode != "open" or not r.total or r.late_starts / r.total < LATE_START_FRACTION:
        return None
    return (
        f"{test}: {r.late_starts} of {r.total} tasks started late at an offered "
        f"{format_rate(r.offered_rate)}; the system could not keep up (latency is measured from "
        "the intended start, so this delay is in the figures)."
    )


def _memory(test: str, r: PerfResult) -> str | None:
    m = r.memory
    if m is None or not m.leak:
        return None
    return (
        f"{test}: memory grows about {format_bytes(m.per_task_bytes)} per task "
        f"({format_bytes(m.growth_bytes)} over {m.tasks} tasks); look for histories, caches "
        "or task lists without a bound."
    )


# Self-check warnings are not repeated here: the summary lists them on their own.
def _nothing(test: str, r: PerfResult) -> str | None:
    if r.total:
        return None
    return (
        f"{test}: the run {r.name!r} measured no task, so none of its figures says anything "
        "about the agent; check its tasks=, warmup= and duration=."
    )


RULES: tuple[RecommendationRule, ...] = (_nothing, _efficiency, _tail, _errors, _late, _memory)


def recommend(records: Iterable[tuple[str, Iterable[PerfResult]]]) -> list[str]:
    """Recommendations for ``(test name, results)`` pairs, in test order, without repeats."""
    seen: dict[str, None] = {}
    for test, results in records:
        for result in results:
            for rule in RULES:
                text = rule(test, result)
                if text is not None:
                    seen.setdefault(text)
    return list(seen)
