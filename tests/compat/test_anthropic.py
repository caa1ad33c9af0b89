"""The official anthropic SDK (httpx2), built with no arguments: messages, stream, tool use."""

from __future__ import annotations

from typing import Any

from anthropic import AsyncAnthropic
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

from pytest_agentperf import budget, first_token

MODEL = "claude-sonnet-4-6"
TOOLS: Any = [
    {"name": "lookup_order", "description": "Order status.", "input_schema": tool_schema()}
]


async def agent(client: AsyncAnthropic) -> None:
    """A message, a streamed message and a tool round, as the SDK's README writes them."""
    hello: Any = [{"role": "user", "content": HELLO}]
    reply = await client.messages.create(model=MODEL, max_tokens=256, messages=hello)
    assert reply.content
    async with client.messages.stream(model=MODEL, max_tokens=256, messages=hello) as stream:
        async for _text in stream.text_stream:
            first_token()
    messages: list[Any] = [{"role": "user", "content": ORDER}]
    first = await client.messages.create(
        model=MODEL, max_tokens=256, messages=messages, tools=TOOLS
    )
    assert first.stop_reason == "tool_use"
    use = next(block for block in first.content if block.type == "tool_use")
    messages += [
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": lookup_order(**use.input)}  # type: ignore[arg-type]
            ],
        },
    ]
    final = await client.messages.create(
        model=MODEL, max_tokens=256, messages=messages, tools=TOOLS
    )
    assert final.content[0].text == ANSWER  # type: ignore[union-attr]


@budget(error_rate="<= 1%")
async def test_messages(agent_perf: Any, mock_llm: Any) -> None:
    configure(mock_llm)
    client = AsyncAnthropic()

    async def task(_: object) -> None:
        await agent(client)

    result = await agent_perf.run(task, n=N, concurrency=CONCURRENCY, warmup=0)
    check(result, mock_llm, calls_per_task=4, endpoints={"/v1/messages": 4})
