"""9. An agent built on the official ``openai`` SDK, tested through the mock's transport.

The SDK is built on ``httpx2``, which respx does not patch: hand the SDK a client with the
mock's ``httpx2_transport()``. The agent only implements ``process_task``; queueing,
workers, timeouts and statistics come from ``BaseAgent``.

The SDK is heavy: about 2 ms of CPU per call on a small VM (request models, validation,
the httpx2 client), so one core runs ~500 calls a second however long the LLM takes. The
budgets hold the agent to what a team would ask of it at 8 in flight: it adds at most 20%
to the LLM's own time (efficiency), the p95 stays within 150 ms (the LLM's own p95 is
~100 ms), and a core serves at least 300 tasks a second (``capacity_per_core``: CPU,
which another process on the machine cannot inflate).
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai

from pytest_agentperf import AgentPerf, LogNormal, MockLLM, budget
from reference_agent import BaseAgent, Task


class SdkAgent(BaseAgent):
    """A support agent on the official SDK: one chat completion per task."""

    def __init__(self, client: openai.AsyncOpenAI, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.client = client

    async def process_task(self, task: Task) -> str:
        reply = await self.client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": str(task.payload)}],
            max_tokens=32,
        )
        return reply.choices[0].message.content or ""


CONCURRENCY = 8


@budget(efficiency=">= 0.8", p95="<= 150ms", error_rate="<= 0%", capacity_per_core=">= 300/s")
async def test_openai_sdk_agent(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=LogNormal(median="40ms", p99="150ms"))
    http_client = httpx2.AsyncClient(transport=mock_llm.httpx2_transport())
    client = openai.AsyncOpenAI(
        base_url=mock_llm.base_url, api_key="test", http_client=http_client, max_retries=0
    )
    async with client, SdkAgent(client, concurrency=CONCURRENCY) as agent:
        await agent_perf.run(agent, n=600, concurrency=CONCURRENCY, name="openai sdk")
