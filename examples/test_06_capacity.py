"""6. Capacity: how much load one process of the agent takes within a p95 SLO.

The agent gets workers enough for any step (its queue never holds a task) and its cache
is off; the offered concurrency doubles at each step on a fixed 20 ms LLM. Little's law
says throughput should double too, until the process runs out of CPU: then latency grows
instead, and the p95 misses the 40 ms SLO. The sweep stops there and reports the knee: the
step with the highest throughput that still met the SLO.

The step past the knee is CPU-bound, and its result says so as a finding (not as a doubt
about the harness): the CPU per task, the harness's part of it (the load generator and
the mock run in the same process), and the agent's capacity per core. That figure, not
the knee's tasks/s, is what to size a deployment from: it does not depend on how busy the
machine was. Beyond one core's worth, run more processes (``processes=N``).
"""

from __future__ import annotations

import pytest
from workloads import ticket

from pytest_agentperf import AgentPerf, Fixed, MockLLM
from reference_agent import ImprovedAgent

pytestmark = pytest.mark.agentperf  # a performance test without budgets of its own

STEPS = [64, 128, 256, 512, 1024]
SLO: dict[str, str | float] = {"p95": "<= 40ms", "error_rate": "<= 1%"}


async def test_capacity_knee(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=Fixed("20ms"))
    # The cache off: every step replays the same tickets, and hits would hide the CPU.
    async with ImprovedAgent(
        base_url=mock_llm.base_url,
        transport=mock_llm.httpx_transport(),
        concurrency=max(STEPS),
        cache_max_size=0,
    ) as agent:
        sweep = await agent_perf.sweep(agent, concurrency=STEPS, slo=SLO, tasks=ticket, n=4000)
    assert sweep.knee is not None, f"even {STEPS[0]} concurrent tasks missed the SLO"
    assert sweep.knee.concurrency is not None
    busiest = sweep.steps[-1].result  # the most loaded step: the CPU is the limit there
    capacity = busiest.capacity_per_core
    assert capacity is not None
    agent_perf.note(
        knee_concurrency=sweep.knee.concurrency,
        knee_throughput=round(sweep.knee.throughput),
        capacity_per_core=round(capacity),
    )
    # What a team would ask of one process of this agent: 2,000 tasks a second within the
    # SLO (the lean agent does about three times that on a small VM).
    assert sweep.knee.throughput >= 2000, f"the knee is at {sweep.knee.throughput:,.0f}/s"
