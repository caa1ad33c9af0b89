"""5. Streaming: a time-to-first-token budget.

The mock streams 40 tokens with an 80 ms time to first token and 5 ms between tokens.
Users feel TTFT, not the total: the budget is on ``ttft_p95``.
"""

from __future__ import annotations

from workloads import streamed_ticket

from pytest_agentperf import AgentPerf, Fixed, MockLLM, budget
from reference_agent import ImprovedAgent


@budget(ttft_p95="<= 200ms", p95="<= 600ms", error_rate="<= 0%")
async def test_time_to_first_token(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(ttft=Fixed("80ms"), itl=Fixed("5ms"), output_tokens=40)
    async with ImprovedAgent(
        base_url=mock_llm.base_url, transport=mock_llm.httpx_transport(), concurrency=32
    ) as agent:
        result = await agent_perf.run(
            agent, tasks=streamed_ticket, n=600, concurrency=32, name="stream"
        )
    assert result.ttft is not None, "a streaming agent reports time to first token"
    # Ratio, not absolute: the first token arrives well before the last one.
    assert result.ttft.p50 < result.latency.p50
