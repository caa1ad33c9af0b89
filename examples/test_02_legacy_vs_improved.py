"""2. LegacyAgent vs ImprovedAgent on the same mock: the speedup as a ratio from one run.

Both agents see the same fixed 50 ms LLM. The legacy design serialises every task behind
``is_busy`` and opens a new connection per call; the improved core runs 100 workers over a
pooled client. A ratio measured within one run holds on any machine, unlike absolute rates.
"""

from __future__ import annotations

import pytest
from workloads import ticket

from pytest_agentperf import AgentPerf, Fixed, MockLLM
from reference_agent import ImprovedAgent, LegacyAgent

pytestmark = pytest.mark.agentperf  # a performance test without budgets of its own

CONCURRENCY = 100


async def test_speedup_over_legacy(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=Fixed("50ms"))
    transport = mock_llm.httpx_transport()
    async with LegacyAgent(base_url=mock_llm.base_url, transport=transport) as legacy:
        before = await agent_perf.run(
            legacy, tasks=ticket, n=40, concurrency=CONCURRENCY, name="legacy"
        )
    async with ImprovedAgent(
        base_url=mock_llm.base_url, transport=transport, concurrency=CONCURRENCY
    ) as improved:
        after = await agent_perf.run(
            improved, tasks=ticket, n=4000, concurrency=CONCURRENCY, name="improved"
        )
    speedup = after.throughput / before.throughput
    agent_perf.note(speedup=round(speedup, 1))
    # Behaviour first, by Little's law: LLM calls in flight on average = throughput x LLM
    # time per task. The legacy agent keeps one in flight whatever the offered concurrency;
    # the improved core keeps nearly all of its 100 busy.
    assert before.mean_injected_latency is not None
    assert after.mean_injected_latency is not None
    legacy_in_flight = before.throughput * before.mean_injected_latency
    improved_in_flight = after.throughput * after.mean_injected_latency
    agent_perf.note(
        llm_calls_in_flight_legacy=round(legacy_in_flight, 2),
        llm_calls_in_flight_improved=round(improved_in_flight, 1),
    )
    assert legacy_in_flight < 1.5, "LegacyAgent must serialise its LLM calls"
    # What the concurrent core is for: at least 80% of its workers waiting on the LLM at
    # any time, so at least 80x the serialised design (the lean agent reaches ~90x here).
    assert improved_in_flight >= 0.8 * CONCURRENCY
    assert speedup >= 0.8 * CONCURRENCY, f"ImprovedAgent only {speedup:.1f}x faster than legacy"
