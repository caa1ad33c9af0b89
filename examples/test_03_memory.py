"""3. Memory growth over 10,000 tasks.

With a memory budget the workload runs in rounds; between rounds the harness drops the
mock's call history, collects garbage and samples the process's memory, then fits the
growth per task with a confidence interval. A budget fails only on a real slope that
crosses it, so allocator noise never fails the build.
"""

from __future__ import annotations

from workloads import ticket

from pytest_agentperf import AgentPerf, Fixed, MockLLM, budget
from reference_agent import ImprovedAgent


@budget(memory_growth="<= 2MB", error_rate="<= 0%")
async def test_no_growth_over_10k_tasks(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=Fixed("10ms"))
    async with ImprovedAgent(
        base_url=mock_llm.base_url, transport=mock_llm.httpx_transport(), concurrency=16
    ) as agent:
        await agent_perf.run(agent, tasks=ticket, n=10_000, concurrency=16, name="10k tasks")
