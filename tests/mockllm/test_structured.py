"""Forced tools and structured output, as instructor, pydantic-ai and the SDKs' parse() use them."""

from __future__ import annotations

import json
from typing import Any, Literal

import anthropic
import httpx
import jsonschema
import pytest
from pydantic import BaseModel, Field

from pytest_agentperf.mockllm import MockLLM, Script, ToolCall

from .clients import anthropic_client, openai_client


class Triage(BaseModel):
    category: Literal["billing", "shipping", "other"]
    priority: int = Field(ge=1, le=3)
    summary: str
    tags: list[str]


TRIAGE = Triage.model_json_schema()
LOOKUP = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}},
    "required": ["order_id"],
}
USER: Any = [{"role": "user", "content": "My parcel is late"}]


def chat_tool(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": schema}}


CHAT_TOOLS: Any = [chat_tool("lookup_order", LOOKUP), chat_tool("final_result", TRIAGE)]


@pytest.mark.asyncio
async def test_a_named_tool_choice_is_called_with_valid_arguments(mock: MockLLM) -> None:
    async with openai_client(mock) as sdk:
        choice: Any = {"type": "function", "function": {"name": "final_result"}}
        reply = await sdk.chat.completions.create(
            model="m", messages=USER, tools=CHAT_TOOLS, tool_choice=choice
        )
    message = reply.choices[0]
    assert message.finish_reason == "tool_calls"
    call = message.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "final_result"  # type: ignore[union-attr]
    Triage.model_validate_json(call.function.arguments)  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_required_calls_each_tool_once_then_the_last(mock: MockLLM) -> None:
    history: list[Any] = list(USER)
    names = []
    async with openai_client(mock) as sdk:
        for _ in range(3):
            reply = await sdk.chat.completions.create(
                model="m", messages=history, tools=CHAT_TOOLS, tool_choice="required"
            )
            call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
            names.append(call.function.name)  # type: ignore[union-attr]
            history += [
                reply.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "done"},
            ]
    assert names == ["lookup_order", "final_result", "final_result"]
    ids = [m["tool_calls"][0]["id"] for m in history if m.get("tool_calls")]
    assert len(set(ids)) == 3  # each generated call has its own id


@pytest.mark.asyncio
async def test_json_schema_and_json_object_formats(mock: MockLLM) -> None:
    async with openai_client(mock) as sdk:
        parsed = await sdk.chat.completions.parse(model="m", messages=USER, response_format=Triage)
        as_object = await sdk.chat.completions.create(
            model="m", messages=USER, response_format={"type": "json_object"}
        )
        response = await sdk.responses.parse(model="m", input="late parcel", text_format=Triage)
    assert isinstance(parsed.choices[0].message.parsed, Triage)
    assert isinstance(json.loads(as_object.choices[0].message.content or ""), dict)
    assert isinstance(response.output_parsed, Triage)


@pytest.mark.asyncio
async def test_anthropic_tool_choice_and_output_format(mock: MockLLM) -> None:
    tools: Any = [{"name": "triage", "input_schema": TRIAGE}]
    async with anthropic_client(mock) as sdk:
        forced = await sdk.messages.create(
            model="c",
            max_tokens=99,
            messages=USER,
            tools=tools,
            tool_choice={"type": "tool", "name": "triage"},
        )
        anything = await sdk.messages.create(
            model="c", max_tokens=99, messages=USER, tools=tools, tool_choice={"type": "any"}
        )
        formatted = await sdk.messages.create(
            model="c",
            max_tokens=99,
            messages=USER,
            output_config={"format": {"type": "json_schema", "schema": TRIAGE}},
        )
    for message in (forced, anything):
        assert message.stop_reason == "tool_use"
        Triage.model_validate(message.content[0].input)  # type: ignore[union-attr]
    Triage.model_validate_json(formatted.content[0].text)  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_streamed_arguments_come_in_pieces_with_their_own_gaps(mock: MockLLM) -> None:
    mock.configure(ttft="10ms", itl="2ms")
    choice: Any = {"type": "function", "function": {"name": "final_result"}}
    async with openai_client(mock) as sdk:
        stream = await sdk.chat.completions.create(
            model="m", messages=USER, tools=CHAT_TOOLS, tool_choice=choice, stream=True
        )
        pieces = [
            chunk.choices[0].delta.tool_calls[0].function.arguments  # type: ignore[union-attr]
            async for chunk in stream
            if chunk.choices and chunk.choices[0].delta.tool_calls
        ]
    assert len(pieces) > 3
    Triage.model_validate_json("".join(p or "" for p in pieces))
    stats = mock.stats()
    assert stats.tokens_out == len(pieces)
    assert stats.injected_latency_total == pytest.approx(0.010 + 0.002 * (len(pieces) - 1))


@pytest.mark.asyncio
async def test_anthropic_streams_tool_input_in_pieces(mock: MockLLM) -> None:
    tools: Any = [{"name": "triage", "input_schema": TRIAGE}]
    async with (
        anthropic_client(mock) as sdk,
        sdk.messages.stream(
            model="c", max_tokens=99, messages=USER, tools=tools, tool_choice={"type": "any"}
        ) as stream,
    ):
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds.count("input_json") > 1
    Triage.model_validate(final.content[0].input)  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_script_wins_over_the_forced_shape(mock: MockLLM) -> None:
    mock.configure(replies=Script(None, ToolCall("final_result", {"category": "other"})))
    choice: Any = {"type": "function", "function": {"name": "final_result"}}
    async with openai_client(mock) as sdk:
        reply = await sdk.chat.completions.create(
            model="m", messages=USER, tools=CHAT_TOOLS, tool_choice=choice
        )
    arguments = reply.choices[0].message.tool_calls[0].function.arguments  # type: ignore[index,union-attr]
    assert json.loads(arguments) == {"category": "other"}


@pytest.mark.asyncio
async def test_values_are_seeded(mock: MockLLM) -> None:
    async def draw(seed: int) -> list[str]:
        mock.configure(seed=seed)
        async with openai_client(mock) as sdk:
            replies = [
                await sdk.chat.completions.parse(model="m", messages=USER, response_format=Triage)
                for _ in range(3)
            ]
        return [r.choices[0].message.content or "" for r in replies]

    first, again, other = await draw(1), await draw(1), await draw(2)
    assert first == again
    assert first != other
    for text in first:
        jsonschema.validate(json.loads(text), TRIAGE)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"tools": CHAT_TOOLS, "tool_choice": {"type": "function", "function": {"name": "x"}}},
            "tool_choice names the tool 'x', but tools has lookup_order, final_result",
        ),
        ({"tool_choice": "required"}, "tools has no function tools"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type='retrieval'"),
        ({"response_format": {"type": "yaml"}}, "response_format.type='yaml'"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": 3}}},
            "response_format.json_schema.schema must be a JSON Schema object",
        ),
    ],
)
async def test_bad_chat_requests_get_a_clear_400(
    mock: MockLLM, client: httpx.AsyncClient, body: dict[str, Any], expected: str
) -> None:
    answer = await client.post("/chat/completions", json={"model": "m", "messages": USER, **body})
    assert answer.status_code == 400
    assert expected in answer.json()["error"]["message"]


@pytest.mark.asyncio
async def test_bad_anthropic_requests_get_a_clear_400(mock: MockLLM) -> None:
    bad: Any = {"type": "sometimes"}
    async with anthropic_client(mock) as sdk:
        with pytest.raises(anthropic.BadRequestError, match="tool_choice"):
            await sdk.messages.create(model="c", max_tokens=9, messages=USER, tool_choice=bad)
