"""The OpenAI Agents SDK with its default model path (Responses API) and tracing left on."""

from __future__ import annotations

from typing import Any

from agents import Agent, Runner, function_tool
from agents.tracing import get_trace_provider
from compat import ANSWER, CONCURRENCY, HELLO, ORDER, N, check, configure
from compat import lookup_order as lookup

from pytest_agentperf import budget, first_token


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up the shipping status of an order."""
    return lookup(order_id)


def support_agent() -> Agent[Any]:
    return Agent(
        name="support",
        instructions="You are a support agent. Use the tools to answer about orders.",
        tools=[lookup_order],
        model="gpt-4o-mini",
    )


async def run_agent(agent: Agent[Any]) -> None:
    """A run, a streamed run and a run with one tool round, as the SDK's docs write them."""
    hello = await Runner.run(agent, HELLO)
    assert hello.final_output
    streamed = Runner.run_streamed(agent, HELLO)
    async for event in streamed.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            first_token()
    answered = await Runner.run(agent, ORDER)
    assert answered.final_output == ANSWER


@budget(error_rate="<= 1%")
async def test_default_model_and_tracing(agent_perf: Any, mock_llm: Any) -> None:
    configure(mock_llm)
    agent = support_agent()

    async def task(_: object) -> None:
        await run_agent(agent)

    result = await agent_perf.run(task, n=N, concurrency=CONCURRENCY, warmup=0)
    check(result, mock_llm, calls_per_task=4, endpoints={"/v1/responses": 4})
    get_trace_provider().force_flush()  # the exporter posts to api.openai.com/v1/traces/ingest
    assert mock_llm.stats().telemetry > 0
    assert mock_llm.stats().blocked == {}
