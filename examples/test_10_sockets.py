"""10. Over real sockets at real concurrency: the agent against the mock in another process.

The mock's transport (``mock_llm.httpx_transport()``) and its respx patching plug in
*below* the agent's HTTP client: no socket is opened, so the client's connection pool, its
sockets and its HTTP parsing are never measured. At concurrency 100 those are a large part
of what an agent spends in production (httpx's own pool alone costs ~10 ms of CPU per
request at 100 connections). ``mock_llm.serve(process=True)`` runs the same mock -- same
latency, faults and statistics -- behind a real HTTP server (uvicorn) in a process of its
own: the agent's process does exactly its production work, and the server's parsing runs
on another core instead of being charged to the agent.

The budgets are a team's for a support agent in front of a 50 ms model, at 100 tasks in
flight: the agent may stretch the model's latency by at most 40% on average (efficiency
0.7: throughput within 70% of what Little's law allows), the slowest 1% wait at most four
model latencies, and no more than one task in a thousand fails.
"""

from __future__ import annotations

from workloads import ticket

from pytest_agentperf import AgentPerf, Fixed, MockLLM, budget
from reference_agent import ImprovedAgent

CONCURRENCY = 100


@budget(efficiency=">= 0.7", p99="<= 200ms", error_rate="<= 0.1%")
async def test_improved_agent_over_real_sockets(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=Fixed("50ms"))
    async with (
        mock_llm.serve(process=True) as url,
        ImprovedAgent(base_url=url, concurrency=CONCURRENCY) as agent,
    ):
        await agent_perf.run(agent, tasks=ticket, n=6000, concurrency=CONCURRENCY, name="sockets")
    opened = mock_llm.stats().connections_opened
    agent_perf.note(connections_opened=opened)
    # keep-alive: one connection per task in flight at most, not one per request
    assert opened <= CONCURRENCY, f"{opened} connections for {CONCURRENCY} tasks in flight"
