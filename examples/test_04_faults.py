"""4. Latency and error rate under faults: retries and the breaker keep errors in budget.

2% of calls are rate-limited (429 with Retry-After) and 1% fail with a 5xx. The agent
retries with capped, jittered back-off; what the user sees must stay within budget.
"""

from __future__ import annotations

from workloads import ticket

from pytest_agentperf import AgentPerf, Faults, LogNormal, MockLLM, budget
from reference_agent import ImprovedAgent


@budget(error_rate="<= 0.5%", p99="<= 1s")
async def test_retries_absorb_faults(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(
        latency=LogNormal(median="30ms", p99="120ms"),
        faults=Faults(rate_limit=0.02, server_error=0.01, retry_after="50ms"),
    )
    async with ImprovedAgent(
        base_url=mock_llm.base_url,
        transport=mock_llm.httpx_transport(),
        concurrency=32,
        retry_attempts=4,
        retry_base=0.02,
        retry_cap=0.2,
    ) as agent:
        result = await agent_perf.run(agent, tasks=ticket, n=1500, concurrency=32, name="faults")
        retries = agent.statistics().retries
    calls = mock_llm.stats()
    agent_perf.note(retries=retries, upstream_errors=calls.calls - calls.by_status.get(200, 0))
    # The error-rate budget checks what users saw; this checks that retries are why.
    assert retries >= calls.calls - calls.by_status.get(200, 0) - result.failed
    assert retries > 0, "the mock injected faults, so the agent must have retried"
