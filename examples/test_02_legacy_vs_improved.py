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
    # Behaviour first: the legacy agent runs one task at a time whatever the offered
    # concurrency, so it uses about 1/100 of what Little's law allows; the improved core
    # uses most of it. Efficiency divides out the machine's speed; the speedup does not
    # (the improved side is CPU-bound on a small machine), so its bound is loose.
    assert before.efficiency is not None
    assert after.efficiency is not None
    assert before.efficiency < 2 / CONCURRENCY, "LegacyAgent must serialise its tasks"
    assert after.efficiency > 25 * before.efficiency
    assert speedup >= CONCURRENCY / 4, f"ImprovedAgent only {speedup:.1f}x faster than legacy"
