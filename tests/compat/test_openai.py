"""The official openai SDK (httpx2), built with no arguments: chat, stream, tools, Responses."""

from __future__ import annotations

import json
from typing import Any

from compat import (
    ANSWER,
    CONCURRENCY,
    HELLO,
    ORDER,
    N,
    check,
    configure,
    lookup_order,
    tool_schema,
)
from openai import AsyncOpenAI

from pytest_agentperf import budget, first_token

TOOLS: Any = [
    {"type": "function", "function": {"name": "lookup_order", "parameters": tool_schema()}}
]
RESPONSES_TOOLS: Any = [{"type": "function", "name": "lookup_order", "parameters": tool_schema()}]


async def chat_agent(client: AsyncOpenAI) -> None:
    """A chat call, a streamed call and a tool round, as the SDK's README writes them."""
    reply = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": HELLO}]
    )
    assert reply.choices[0].message.content
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": HELLO}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first_token()
    messages: list[Any] = [{"role": "user", "content": ORDER}]
    first = await client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=TOOLS
    )
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    result = lookup_order(**json.loads(call.function.arguments))  # type: ignore[union-attr]
    messages += [
        first.choices[0].message,
        {"role": "tool", "tool_call_id": call.id, "content": result},
    ]
    final = await client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=TOOLS
    )
    assert final.choices[0].message.content == ANSWER


async def responses_agent(client: AsyncOpenAI) -> None:
    """The same agent on the Responses API."""
    reply = await client.responses.create(model="gpt-4o-mini", input=HELLO)
    assert reply.output_text
    async with client.responses.stream(model="gpt-4o-mini", input=HELLO) as stream:
        async for event in stream:
            if event.type == "response.output_text.delta":
                first_token()
    first = await client.responses.create(model="gpt-4o-mini", input=ORDER, tools=RESPONSES_TOOLS)
    call = first.output[0]
    assert call.type == "function_call"
    output = lookup_order(**json.loads(call.arguments))
    final = await client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "user", "content": ORDER},
            call.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"type": "function_call_output", "call_id": call.call_id, "output": output},
        ],
        tools=RESPONSES_TOOLS,
    )
    assert final.output_text == ANSWER


@budget(error_rate="<= 1%")
async def test_chat_completions(agent_perf: Any, mock_llm: Any) -> None:
    configure(mock_llm)
    client = AsyncOpenAI()

    async def task(_: object) -> None:
        await chat_agent(client)

    result = await agent_perf.run(task, n=N, concurrency=CONCURRENCY, warmup=0)
    check(result, mock_llm, calls_per_task=4, endpoints={"/v1/chat/completions": 4})


@budget(error_rate="<= 1%")
async def test_responses_api(agent_perf: Any, mock_llm: Any) -> None:
    configure(mock_llm)
    client = AsyncOpenAI()

    async def task(_: object) -> None:
        await responses_agent(client)

    result = await agent_perf.run(task, n=N, concurrency=CONCURRENCY, warmup=0)
    check(result, mock_llm, calls_per_task=4, endpoints={"/v1/responses": 4})
