"""7. Connection pooling over real sockets: pooled vs a new connection per call.

``mock_llm.serve()`` runs the mock as an HTTP server on 127.0.0.1, so connections are
real: the pooled agent reuses its keep-alive connection, while the same agent with
keep-alive disabled opens one per call. One task at a time, so that the event loop (which
also runs the server) is idle and the difference in latency is what a connection costs.
"""

from __future__ import annotations

from typing import Any

import pytest
from workloads import ticket

from pytest_agentperf import AgentPerf, Fixed, MockLLM
from reference_agent import ImprovedAgent

pytestmark = pytest.mark.agentperf  # a performance test without budgets of its own

N = 300


async def test_pooling_saves_connections(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=Fixed("2ms"))
    async with mock_llm.serve() as url:
        opened = [mock_llm.stats().connections_opened]
        results = []
        variants: list[tuple[str, dict[str, Any]]] = [
            ("pooled", {}),
            ("new connection per call", {"pool_max_keepalive": 0}),
        ]
        for name, keepalive in variants:
            async with ImprovedAgent(
                base_url=url, concurrency=1, cache_max_size=0, **keepalive
            ) as agent:
                results.append(
                    await agent_perf.run(agent, tasks=ticket, n=N, concurrency=1, name=name)
                )
            opened.append(mock_llm.stats().connections_opened)
    pooled, fresh = results
    pooled_conns, fresh_conns = opened[1] - opened[0], opened[2] - opened[1]
    saved = fresh.latency.mean - pooled.latency.mean
    agent_perf.note(
        connections_pooled=pooled_conns,
        connections_unpooled=fresh_conns,
        saved_per_call_us=round(saved * 1e6),
    )
    assert pooled_conns <= 2, "one task at a time needs one pooled connection"
    assert fresh_conns >= fresh.total, "without keep-alive every call opens a connection"
