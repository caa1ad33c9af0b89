"""Recommendations from the figures these examples note with ``agent_perf.note()``.

The plugin's built-in rules look at every result (efficiency, tail latency, errors, leaks);
this hook adds what only this suite knows how to read. Copy the pattern: quote the figure,
say what it means, and say nothing when there is nothing to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_agentperf import TestRecord


def _figures(records: Sequence[TestRecord]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for record in records:
        merged.update(record.figures)
    return merged


def pytest_agentperf_recommendations(records: Sequence[TestRecord]) -> list[str]:
    f = _figures(records)
    out: list[str] = []
    if "speedup" in f:
        out.append(
            f"Replacing the is_busy design with the concurrent core multiplied throughput "
            f"{f['speedup']:g}x on the same LLM latency: never serialise LLM calls."
        )
    if "saved_per_call_us" in f and f["saved_per_call_us"] > 0:
        out.append(
            f"Connection pooling saved {f['saved_per_call_us']:g} µs per call and opened "
            f"{f['connections_pooled']} connections instead of {f['connections_unpooled']}: "
            "keep one pooled client per agent, not one per request."
        )
    if f.get("cache_throughput_gain", 0) > 1.5:
        out.append(
            f"With repeated prompts the cache hit {f['cache_hit_ratio']:.0%} of requests and "
            f"multiplied throughput {f['cache_throughput_gain']:g}x: cache deterministic "
            "requests (temperature 0, same messages)."
        )
    if "knee_concurrency" in f:
        text = (
            f"Capacity: up to {f['knee_concurrency']} concurrent tasks "
            f"({f['knee_throughput']:,}/s) meet the p95 SLO; size the agent's workers and "
            "admission limit from this knee, not from the average load"
        )
        if "capacity_per_core" in f:
            text += (
                f". Past it the process is CPU-bound: the agent's own CPU allows about "
                f"{f['capacity_per_core']:,} tasks/s per core, so plan one process per "
                "core's worth of load"
            )
        out.append(text + ".")
    if f.get("retries"):
        out.append(
            f"Retries absorbed {f['upstream_errors']} injected upstream errors "
            f"({f['retries']} retries) without failing a task: keep retries bounded by a "
            "deadline so they cannot amplify an outage."
        )
    return out
