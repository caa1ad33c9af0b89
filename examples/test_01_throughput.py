"""1. Concurrent throughput of ImprovedAgent, with budgets.

The mock LLM answers with a realistic long-tailed latency; the agent runs 64 tasks at a
time. ``efficiency`` compares the throughput with what Little's law allows at that
concurrency and latency, so it means the same on a fast laptop and a slow CI runner. It
reads about 0.9 on an idle 2-core machine; the budget leaves room for a busy shared runner,
where the load generator, the agent and the mock compete for one event loop.
"""

from __future__ import annotations

from workloads import ticket

from pytest_agentperf import AgentPerf, LogNormal, MockLLM, budget
from reference_agent import ImprovedAgent


@budget(throughput=">= 200/s", efficiency=">= 0.4", p95="<= 250ms", error_rate="<= 1%")
async def test_improved_agent_throughput(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=LogNormal(median="40ms", p99="150ms"))
    async with ImprovedAgent(
        base_url=mock_llm.base_url, transport=mock_llm.httpx_transport(), concurrency=64
    ) as agent:
        await agent_perf.run(agent, tasks=ticket, n=2000, concurrency=64, name="improved")
