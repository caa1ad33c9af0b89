"""Recommendations derived from measured figures.

Each rule looks at one result and says something only when the numbers warrant it, quoting
the numbers. Conftests and plugins add their own through the
``pytest_agentperf_recommendations`` hook; these are the built-in ones.

Failures are explained from the mock LLM's evidence when the test noted it (the
``mock_llm`` fixture does, as ``mock_*`` figures, when something went wrong): the mock was
never reached, requests were blocked or hit unknown routes, the mock rejected them, or no
fault was injected so the errors are the agent's own. Only failures that the mock injected
lead to advice on retries and circuit breakers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pytest_agentperf.metrics import format_value
from pytest_agentperf.result import PerfResult
from pytest_agentperf.units import (
    format_bytes,
    format_count,
    format_duration,
    format_fraction,
    format_rate,
)
from pytest_agentperf.verdict.baseline import Comparison

__all__ = ["RULES", "RecommendationRule", "explain_failures", "recommend", "spend_growth"]

#: A rule: (test name, result) -> a recommendation quoting the figures, or None.
RecommendationRule = Callable[[str, PerfResult], str | None]

# Thresholds: chosen so that a healthy run on a noisy 2-core CI machine says nothing.
LOW_EFFICIENCY = 0.7
TAIL_RATIO = 5.0
LATE_START_FRACTION = 0.01
CPU_CAP_SHARE = 0.7


def _efficiency(test: str, r: PerfResult) -> str | None:
    if r.efficiency is None or r.efficiency >= LOW_EFFICIENCY or r.concurrency is None:
        return None
    injected = r.mean_injected_latency
    workers = min(r.concurrency, r.total) if r.total else r.concurrency
    # Little's law; a result recorded without the mock's figure: what its efficiency implies
    ideal = workers / injected if injected else r.throughput / max(r.efficiency, 1e-9)
    share = f"{r.throughput / ideal:.0%}" if ideal > 0 else "-"
    head = (
        f"{test}: throughput {format_rate(r.throughput)} is {share} of the "
        f"{format_rate(ideal)} that Little's law allows for the workers that ran (concurrency "
        f"up to {workers}) with {format_duration(injected)} of LLM latency per task "
        f"(efficiency {r.efficiency:.2f}: a task took {format_duration(r.latency.mean)} on "
        "average); "
    )
    in_flight = r.throughput * injected if injected else None
    if in_flight is not None and in_flight < 1.5 <= workers / 2:
        return head + (
            f"it kept {in_flight:.2f} LLM calls in flight on average of the {workers} its "
            "workers allowed: it serialises its calls (a lock, a busy flag, one shared "
            "connection); let tasks overlap."
        )
    capacity = r.capacity_per_core
    # The agent's CPU is the limit when one core's worth of it is below the ideal and the
    # run got near that cap (a serialised agent is far below it, whatever its CPU).
    if capacity is not None and capacity < ideal and r.throughput >= CPU_CAP_SHARE * capacity:
        return head + (
            f"the agent's own CPU ({format_duration(r.agent_cpu_per_task)} per task) caps one "
            f"core near {format_rate(capacity)}: cut its CPU per task (profile the hot path) "
            "or spread the load over processes."
        )
    return head + (
        "the rest is the agent's own overhead, queueing inside it, retries or a "
        "connection-pool limit: profile the hot path or raise the limits."
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
    """Failures without the mock's evidence: say what failed, not why."""
    if not r.failed:
        return None
    return f"{_failed(test, r)}; see the test's errors for the cause."


def _failed(test: str, r: PerfResult) -> str:
    kind, count = max(r.errors.items(), key=lambda kv: kv[1]) if r.errors else ("errors", r.failed)
    return (
        f"{test}: {format_fraction(r.error_rate)} of tasks failed ({r.failed} of {r.total}), "
        f"mostly {kind} ({count})"
    )


_SERVED = "/v1/chat/completions, /v1/responses, /v1/embeddings and /v1/messages"
_CONNECTION = ("connect", "connection", "refused")


def explain_failures(test: str, r: PerfResult, mock: Mapping[str, Any]) -> str | None:
    """Failures explained from the mock's evidence (``mock_*`` figures), the likeliest first."""
    if not r.failed:
        return None
    head = _failed(test, r)
    calls = int(mock.get("mock_calls", 0))
    if calls == 0 and mock.get("mock_blocked"):
        return (
            f"{head}: the agent never reached the mock LLM; its requests went to "
            f"{mock['mock_blocked']}, which the mock blocked (not a mocked host). Point the "
            "agent at mock_llm.base_url or a provider's default host, or mock that host "
            "(@pytest.mark.mock_llm(hosts=[...]) or --mock-llm-host)."
        )
    if calls == 0:
        return (
            f"{head}: the mock LLM received no calls{_refused(r)}. The agent's client is not "
            "one the mock intercepts (httpx, httpx2 and the SDKs and frameworks built on them "
            "are; aiohttp, requests and gRPC are not) or it calls a server that is not running; "
            "give it an httpx/httpx2 client or point it at mock_llm.serve()."
        )
    if mock.get("mock_not_found"):
        return (
            f"{head}: requests hit routes the mock LLM does not serve: {mock['mock_not_found']}. "
            f"It serves {_SERVED}; check the agent's base URL and API."
        )
    if mock.get("mock_blocked"):
        return (
            f"{head}: the agent also called unmocked hosts, which the mock blocked: "
            f"{mock['mock_blocked']}. Mock them (hosts) or let them through (allow)."
        )
    if mock.get("mock_rejected"):
        return (
            f"{head}: the mock LLM rejected {mock['mock_rejected']} request(s) as bad (4xx); "
            "its error messages (in the test's errors) name the field."
        )
    if not int(mock.get("mock_faults", 0)):
        return (
            f"{head}: the mock LLM injected no faults, so these are the agent's own errors "
            "(or its timeouts); see the test's errors for the cause."
        )
    return (
        f"{head}; the mock injected {mock['mock_faults']} fault(s): check retry and "
        "circuit-breaker settings against the fault rate."
    )


def _refused(r: PerfResult) -> str:
    kinds = " ".join(r.errors).lower()
    if any(word in kinds for word in _CONNECTION):
        return " (the errors are connection failures: nothing answered)"
    return ""


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


def _attribution(test: str, r: PerfResult) -> str | None:
    spend = r.llm
    # calls over serve()'s sockets without the header are expected there: noted, not advised
    outside = 0 if spend is None else spend.unattributed_calls - spend.unattributed_socket_calls
    if spend is None or outside <= 0:
        return None
    return (
        f"{test}: {outside} of {spend.calls.total:.0f} LLM calls ran outside "
        "any task, so their tokens and cost count in the means but not per task: the agent "
        "runs its work in tasks created before the run (a worker pool) without the "
        "submitter's context. Capture contextvars.copy_context() at submit and run the work "
        "in it (reference_agent.BaseAgent does); tracing and logging context need it too."
    )


def _retries(test: str, r: PerfResult) -> str | None:
    spend = r.llm
    if spend is None or not spend.retries.total:
        return None
    return (
        f"{test}: {format_count(spend.retries.mean)} retries per task "
        f"({spend.retries.total:.0f} calls repeated an earlier request of their task, of "
        f"{spend.calls.total:.0f}); each one is paid for and waited on: check what failed "
        "first (the mock's faults, the agent's timeouts) and the back-off."
    )


RULES: tuple[RecommendationRule, ...] = (
    _nothing,
    _efficiency,
    _tail,
    _errors,
    _late,
    _memory,
    _attribution,
    _retries,
)

#: What a per-task figure that grew since the baseline usually means.
_GROWTH_CAUSES = {
    "llm_calls_per_task": "a new LLM call in the task's loop",
    "tool_rounds_per_task": "a new tool round (the model now calls a tool before answering)",
    "retries_per_task": "calls that now fail and are repeated (timeouts, 429s, bad replies)",
    "tokens_in_per_task": "a longer prompt (system prompt, history kept, tool definitions)",
    "tokens_out_per_task": "longer answers (a missing or raised max_tokens)",
}
_SPEND_METRICS = (
    "llm_calls_per_task",
    "tool_rounds_per_task",
    "retries_per_task",
    "tokens_per_task",
    "tokens_in_per_task",
    "tokens_out_per_task",
    "cost_per_task",
)


def spend_growth(test: str, comparisons: Iterable[Comparison]) -> list[str]:
    """What grew per task since the baseline (LLM calls, tokens, cost) and its likely cause."""
    texts = []
    for comparison in comparisons:
        grown = {
            row.metric: row
            for row in comparison.rows
            if row.metric in _SPEND_METRICS and row.verdict == "regressed"
        }
        if not grown:
            continue
        what = ", ".join(
            f"{metric.removesuffix('_per_task').replace('_', ' ')} "
            f"{format_value(metric, row.baseline)} -> {format_value(metric, row.current)}"
            for metric, row in grown.items()
        )
        causes = [cause for metric, cause in _GROWTH_CAUSES.items() if metric in grown]
        where = f" ({comparison.name})" if comparison.name else ""
        texts.append(
            f"{test}{where}: per task, {what} since the baseline; "
            + ("likely " + "; or ".join(causes) if causes else "look at the prompts sent")
            + ". If intended, save a new baseline; else bisect the change that added it."
        )
    return texts


Record = tuple[str, Iterable[PerfResult]] | tuple[str, Iterable[PerfResult], Mapping[str, Any]]


def recommend(records: Iterable[Record]) -> list[str]:
    """Recommendations for ``(test name, results[, figures])``, in test order, without repeats.

    With the mock's evidence among the figures (``mock_calls``...), failures are explained
    by :func:`explain_failures` instead of the generic rule.
    """
    seen: dict[str, None] = {}
    for record in records:
        test, results = record[0], record[1]
        figures: Mapping[str, Any] = record[2] if len(record) > 2 else {}
        mock = {k: v for k, v in figures.items() if k.startswith("mock_")}
        for result in results:
            for rule in RULES:
                if mock and rule is _errors:
                    text = explain_failures(test, result, mock)
                else:
                    text = rule(test, result)
                if text is not None:
                    seen.setdefault(text)
    return list(seen)
