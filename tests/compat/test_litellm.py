"""LiteLLM (an httpx client on an aiohttp transport, handed to the openai SDK)."""

from __future__ import annotations

import json
from typing import Any

import litellm
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

TOOLS: Any = [
    {"type": "function", "function": {"name": "lookup_order", "parameters": tool_schema()}}
]


async def run_agent() -> None:
    """A completion, a streamed completion and a tool round, as LiteLLM's docs write them."""
    hello = await litellm.acompletion(
        model="gpt-4o-mini", messages=[{"role": "user", "content": HELLO}]
    )
    assert hello.choices[0].message.content
    stream = await litellm.acompletion(
        model="gpt-4o-mini", messages=[{"role": "user", "content": HELLO}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first_token()
    messages: list[Any] = [{"role": "user", "content": ORDER}]
    first = await litellm.acompletion(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    messages += [
        first.choices[0].message.model_dump(),
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": lookup_order(**json.loads(call.function.arguments)),
        },
    ]
    final = await litellm.acompletion(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    assert final.choices[0].message.content == ANSWER


@budget(error_rate="<= 1%")
async def test_completion(agent_perf: Any, mock_llm: Any) -> None:
    configure(mock_llm)

    async def task(_: object) -> None:
        await run_agent()

    result = await agent_perf.run(task, n=N, concurrency=CONCURRENCY, warmup=0)
    check(result, mock_llm, calls_per_task=4, endpoints={"/v1/chat/completions": 4})
