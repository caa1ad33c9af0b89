"""8. The cache with repeated prompts: hit ratio and the throughput it buys.

24 distinct prompts asked over and over. The same agent with the cache disabled is the
control, measured in the same run.
"""

from __future__ import annotations

from typing import Any

import pytest
from workloads import repeated_question

from pytest_agentperf import AgentPerf, Fixed, MockLLM
from reference_agent import ImprovedAgent

pytestmark = pytest.mark.agentperf  # a performance test without budgets of its own


async def test_cache_hit_ratio_and_gain(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=Fixed("30ms"))
    common: dict[str, Any] = {
        "base_url": mock_llm.base_url,
        "transport": mock_llm.httpx_transport(),
        "concurrency": 32,
    }
    async with ImprovedAgent(**common, cache_max_size=0) as agent:
        uncached = await agent_perf.run(
            agent, tasks=repeated_question, n=600, concurrency=32, name="cache off"
        )
    async with ImprovedAgent(**common) as agent:
        cached = await agent_perf.run(
            agent, tasks=repeated_question, n=600, concurrency=32, name="cache on"
        )
        hit_ratio = agent.statistics().cache_hit_ratio
    gain = cached.throughput / uncached.throughput
    agent_perf.note(
        cache_hit_ratio=round(hit_ratio or 0.0, 3), cache_throughput_gain=round(gain, 1)
    )
    assert hit_ratio is not None
    # Each of the 24 prompts misses once at most; every other request is a hit.
    expected = 1 - 24 / (cached.total + 1)
    assert hit_ratio >= expected - 0.05, f"hit ratio {hit_ratio:.2f}, expected ~{expected:.2f}"
    assert gain > 2, f"the cache should multiply throughput, got {gain:.1f}x"
