"""instructor: structured output as a forced tool call, unscripted, validated by pydantic."""

from __future__ import annotations

from typing import Any, Literal

import instructor
from compat import CONCURRENCY, HELLO, ORDER, N, check, configure
from openai import AsyncOpenAI
from pydantic import BaseModel, Field

from pytest_agentperf import budget, first_token


class Triage(BaseModel):
    category: Literal["billing", "shipping", "other"]
    priority: int = Field(ge=1, le=3)
    summary: str


async def run_agent(client: Any) -> None:
    """A plain call, a streamed partial extraction and an extraction, as the docs write them."""
    hello = await client.chat.completions.create(
        model="gpt-4o-mini", response_model=None, messages=[{"role": "user", "content": HELLO}]
    )
    assert hello.choices[0].message.content
    partials = client.chat.completions.create_partial(
        model="gpt-4o-mini", response_model=Triage, messages=[{"role": "user", "content": ORDER}]
    )
    seen = 0
    async for _partial in partials:
        first_token()
        seen += 1
    assert seen > 1  # the arguments arrive in pieces, so partials do too
    triage = await client.chat.completions.create(
        model="gpt-4o-mini", response_model=Triage, messages=[{"role": "user", "content": ORDER}]
    )
    assert isinstance(triage, Triage)


@budget(error_rate="<= 1%")
async def test_structured_extraction(agent_perf: Any, mock_llm: Any) -> None:
    configure(mock_llm)
    mock_llm.configure(replies=None)  # no script: the forced tool call is generated
    client = instructor.from_openai(AsyncOpenAI())

    async def task(_: object) -> None:
        await run_agent(client)

    result = await agent_perf.run(task, n=N, concurrency=CONCURRENCY, warmup=0)
    endpoints = {"/v1/chat/completions": 3}
    check(result, mock_llm, calls_per_task=3, endpoints=endpoints, tool_rounds=0)
