"""6. A capacity sweep: the highest concurrency whose p95 meets an SLO.

The agent has 32 workers and its cache is off. Offered concurrency beyond that waits in its
queue, so latency
climbs; the sweep stops once the SLO is missed or throughput stops growing, and reports the
knee: the step with the highest throughput that still met the SLO.
"""

from __future__ import annotations

import pytest
from workloads import ticket

from pytest_agentperf import AgentPerf, Fixed, MockLLM
from reference_agent import ImprovedAgent

pytestmark = pytest.mark.agentperf  # a performance test without budgets of its own

WORKERS = 32


async def test_capacity_knee(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=Fixed("20ms"))
    # The cache off: every step replays the same tickets, and hits would hide the queueing.
    async with ImprovedAgent(
        base_url=mock_llm.base_url,
        transport=mock_llm.httpx_transport(),
        concurrency=WORKERS,
        cache_max_size=0,
    ) as agent:
        sweep = await agent_perf.sweep(
            agent,
            concurrency=[8, 16, 32, 64, 128, 256],
            slo={"p95": "<= 60ms", "error_rate": "<= 1%"},
            tasks=ticket,
            n=800,
        )
    assert sweep.knee is not None, "even 8 concurrent tasks missed the SLO"
    assert sweep.knee.concurrency is not None
    agent_perf.note(
        knee_concurrency=sweep.knee.concurrency, knee_throughput=round(sweep.knee.throughput)
    )
    # Below 32 the workers are idle part of the time, so throughput still grows; past 64
    # each task waits for four 20 ms rounds of the workers and misses the 60 ms SLO.
    assert WORKERS <= sweep.knee.concurrency <= 2 * WORKERS
