"""LlamaIndex's OpenAI LLM (openai<3, httpx) and a FunctionAgent tool round."""

from __future__ import annotations

from typing import Any

from compat import ANSWER, CONCURRENCY, HELLO, ORDER, N, check, configure, lookup_order
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai import OpenAI

from pytest_agentperf import budget, first_token


async def run_agent(llm: OpenAI, agent: FunctionAgent) -> None:
    """A chat, a streamed chat and an agent run with one tool round, as the docs write them."""
    hello = await llm.achat([ChatMessage(role="user", content=HELLO)])
    assert hello.message.content
    stream = await llm.astream_chat([ChatMessage(role="user", content=HELLO)])
    async for part in stream:
        if part.delta:
            first_token()
    answered = await agent.run(user_msg=ORDER)
    assert str(answered) == ANSWER


@budget(error_rate="<= 1%")
async def test_llm_and_function_agent(agent_perf: Any, mock_llm: Any) -> None:
    configure(mock_llm)
    llm = OpenAI(model="gpt-4o-mini")
    agent = FunctionAgent(
        tools=[lookup_order],
        llm=llm,
        system_prompt="You are a support agent. Use the tools to answer about orders.",
    )

    async def task(_: object) -> None:
        await run_agent(llm, agent)

    result = await agent_perf.run(task, n=N, concurrency=CONCURRENCY, warmup=0)
    check(result, mock_llm, calls_per_task=4, endpoints={"/v1/chat/completions": 4})
