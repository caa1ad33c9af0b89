"""The Responses API through the official SDK: plain, streamed, tools, usage, faults, timing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from pytest_agentperf.mockllm import Faults, MockLLM, Script, ToolCall

TOOLS: Any = [
    {
        "type": "function",
        "name": "lookup_order",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    }
]
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 5,
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@contextlib.asynccontextmanager
async def sdk(mock: MockLLM, mode: str) -> AsyncIterator[openai.AsyncOpenAI]:
    """An SDK client built with no client of its own: intercepted, or on a served URL."""
    async with contextlib.AsyncExitStack() as stack:
        if mode == "served":
            url = await stack.enter_async_context(mock.serve())
            client = openai.AsyncOpenAI(base_url=url, api_key="test", max_retries=0)
        else:
            await stack.enter_async_context(mock)
            client = openai.AsyncOpenAI(api_key="test", max_retries=0)
        async with client:
            yield client


MODES = ["intercepted", "served"]


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_plain_and_streamed_answers_agree(mock: MockLLM, mode: str) -> None:
    async with sdk(mock, mode) as client:
        plain = await client.responses.create(model="gpt-4o-mini", input="Hello there")
        stream = await client.responses.create(model="gpt-4o-mini", input="Hello", stream=True)
        events = [event async for event in stream]
        async with client.responses.stream(model="gpt-4o-mini", input="Hello") as managed:
            final = await managed.get_final_response()
    assert plain.output_text == "The mock model answers with"
    assert plain.status == "completed"
    assert plain.usage is not None
    assert (plain.usage.input_tokens, plain.usage.output_tokens) == (3, 5)
    assert [e.type for e in events] == TEXT_EVENTS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == plain.output_text == final.output_text
    assert mock.stats().by_endpoint == {"/v1/responses": 3}


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_round_with_function_call_output(mock: MockLLM, stream: bool) -> None:
    mock.configure(
        replies=[
            Script(lambda r: r.last_role == "tool", "Order 42 has shipped."),
            Script("order", ToolCall("lookup_order", {"order_id": "42"}, id="call_1")),
        ]
    )
    async with sdk(mock, "intercepted") as client:
        question: list[Any] = [{"role": "user", "content": "Where is my order?"}]
        first = await _create(client, stream, input=question, tools=TOOLS)
        call = first.output[0]
        assert call.type == "function_call"
        assert (call.name, call.call_id, call.arguments) == (
            "lookup_order",
            "call_1",
            '{"order_id":"42"}',
        )
        follow_up = [
            *question,
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "shipped"},
        ]
        second = await _create(client, stream, input=follow_up, tools=TOOLS)
    assert second.output_text == "Order 42 has shipped."
    assert mock.stats().calls == 2


async def _create(client: openai.AsyncOpenAI, stream: bool, **kwargs: Any) -> Any:
    if not stream:
        return await client.responses.create(model="gpt-4o-mini", **kwargs)
    async with client.responses.stream(model="gpt-4o-mini", **kwargs) as managed:
        return await managed.get_final_response()


@pytest.mark.asyncio
async def test_streamed_function_call_events(mock: MockLLM) -> None:
    mock.configure(replies=ToolCall("lookup_order", {"order_id": "A-1234567890"}))
    async with sdk(mock, "intercepted") as client:
        stream = await client.responses.create(
            model="gpt-4o-mini", input="x", tools=TOOLS, stream=True
        )
        events = [event async for event in stream]
    kinds = [e.type for e in events]
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert len(deltas) > 1  # arguments arrive in pieces
    assert "".join(deltas) == '{"order_id":"A-1234567890"}'


@pytest.mark.asyncio
async def test_max_output_tokens_makes_an_incomplete_response(mock: MockLLM) -> None:
    async with sdk(mock, "intercepted") as client:
        cut = await client.responses.create(model="m", input="x", max_output_tokens=2)
    assert cut.status == "incomplete"
    assert cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"
    assert cut.output_text == "The mock"


@pytest.mark.asyncio
async def test_latency_models_apply_as_for_chat(mock: MockLLM) -> None:
    mock.configure(ttft="20ms", itl="5ms", output_tokens=4)
    async with sdk(mock, "intercepted") as client:
        stream = await client.responses.create(model="m", input="x", stream=True)
        _ = [event async for event in stream]
        streamed = mock.stats().injected_latency_total
        await client.responses.create(model="m", input="x")
    assert streamed == pytest.approx(0.035)
    assert mock.stats().injected_latency_total == pytest.approx(0.070)


async def consume(client: openai.AsyncOpenAI) -> None:
    stream = await client.responses.create(model="m", input="x", stream=True)
    _ = [event async for event in stream]


# a malformed event fails JSON decoding; a cut stream is the SDK's connection error
STREAM_ERRORS = (ValueError, openai.APIConnectionError)


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_faults_apply_as_for_chat(mock: MockLLM, mode: str) -> None:
    mock.configure(faults=Faults(rate_limit=[0], malformed=[1], disconnect=[2]))
    async with sdk(mock, mode) as client:
        with pytest.raises(openai.RateLimitError):
            await client.responses.create(model="m", input="x")
        for _ in range(2):  # malformed, then cut mid-stream
            with pytest.raises(STREAM_ERRORS):
                await consume(client)
    assert mock.stats().faults == {"rate_limit": 1, "malformed": 1, "disconnect": 1}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"tools": [{"type": "fnction", "name": "f"}]}, "tools[0].type='fnction'"),
        (
            {"tools": [{"type": "function", "name": "f", "parameters": {"type": "obj"}}]},
            "tools[0].parameters.type",
        ),
        (
            {"text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "strng"}}}},
            "text.format.schema.type",
        ),
        ({"tools": TOOLS, "tool_choice": {"type": "function", "name": "nope"}}, "'nope'"),
    ],
)
async def test_bad_requests_get_a_400_naming_the_field(
    mock: MockLLM, kwargs: dict[str, Any], expected: str
) -> None:
    async with sdk(mock, "intercepted") as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(model="m", input="x", **kwargs)
    assert expected in str(caught.value)
    assert mock.stats().by_status == {400: 1}
