"""pydantic-ai with its documented default model string (the OpenAI Responses API)."""

from __future__ import annotations

from typing import Any

from compat import ANSWER, CONCURRENCY, HELLO, ORDER, N, check, configure, lookup_order
from pydantic_ai import Agent

from pytest_agentperf import budget, first_token


def support_agent() -> Agent[None, str]:
    return Agent(
        "openai:gpt-4o-mini",
        instructions="You are a support agent. Use the tools to answer about orders.",
        tools=[lookup_order],
    )


async def run_agent(agent: Agent[None, str]) -> None:
    """A run, a streamed run and a run with one tool round, as pydantic-ai's docs write them."""
    hello = await agent.run(HELLO)
    assert hello.output
    async with agent.run_stream(HELLO) as streamed:
        async for _delta in streamed.stream_text(delta=True, debounce_by=None):
            first_token()
    answered = await agent.run(ORDER)
    assert answered.output == ANSWER
    usage = answered.usage  # a property since pydantic-ai 2.x, a method before
    requests = usage.requests if hasattr(usage, "requests") else usage().requests
    assert requests == 2  # pydantic-ai's own count: the tool round


@budget(error_rate="<= 1%")
async def test_default_model_string(agent_perf: Any, mock_llm: Any) -> None:
    configure(mock_llm)
    agent = support_agent()

    async def task(_: object) -> None:
        await run_agent(agent)

    result = await agent_perf.run(task, n=N, concurrency=CONCURRENCY, warmup=0)
    check(result, mock_llm, calls_per_task=4, endpoints={"/v1/responses": 4})
