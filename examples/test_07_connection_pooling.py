"""7. Connection pooling over real sockets: pooled vs a new connection per call.

``mock_llm.serve()`` runs the mock as an HTTP server on 127.0.0.1, so connections are
real: the pooled agent reuses a handful of keep-alive connections, while the same agent
with keep-alive disabled opens one per call. The difference per call is what pooling saves.
"""

from __future__ import annotations

from workloads import ticket

from pytest_agentperf import AgentPerf, Fixed, MockLLM
from reference_agent import ImprovedAgent

N = 800
CONCURRENCY = 16


async def test_pooling_saves_connections(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=Fixed("5ms"))
    async with mock_llm.serve() as url:
        opened_before = mock_llm.stats().connections_opened
        async with ImprovedAgent(base_url=url, concurrency=CONCURRENCY) as agent:
            pooled = await agent_perf.run(agent, tasks=ticket, n=N, concurrency=CONCURRENCY,
                                          name="pooled")
        opened_pooled = mock_llm.stats().connections_opened - opened_before
        async with ImprovedAgent(
            base_url=url, concurrency=CONCURRENCY, pool_max_keepalive=0
        ) as agent:
            fresh = await agent_perf.run(agent, tasks=ticket, n=N, concurrency=CONCURRENCY,
                                         name="new connection per call")
        opened_fresh = mock_llm.stats().connections_opened - opened_before - opened_pooled
    saved = fresh.latency.mean - pooled.latency.mean
    agent_perf.note(
        connections_pooled=opened_pooled,
        connections_unpooled=opened_fresh,
        saved_per_call_us=round(saved * 1e6),
    )
    assert opened_pooled <= 2 * CONCURRENCY, "the pool must reuse its connections"
    assert opened_fresh >= pooled.total, "without keep-alive every call opens a connection"
