"""The official SDKs parse the mock unchanged: httpx2 transport and real server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import openai
import pytest

from pytest_agentperf.mockllm import MockLLM, Script, ToolCall

from .clients import anthropic_client, openai_client

USER: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
MODES = ["transport", "server"]


@contextlib.asynccontextmanager
async def base_url(mock: MockLLM, mode: str) -> AsyncIterator[str | None]:
    """None for the httpx2 transport, else the served URL."""
    if mode == "transport":
        yield None
    else:
        async with mock.serve() as url:
            yield url


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_openai_plain_stream_embeddings(mock: MockLLM, mode: str) -> None:
    async with base_url(mock, mode) as url, openai_client(mock, url) as sdk:
        reply = await sdk.chat.completions.create(model="gpt-4o", messages=USER)
        assert reply.usage is not None
        assert reply.usage.completion_tokens == 5
        stream = await sdk.chat.completions.create(
            model="gpt-4o",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            usage = chunk.usage or usage
        assert text == reply.choices[0].message.content
        assert usage is not None
        assert usage.completion_tokens == 5
        embedded = await sdk.embeddings.create(model="emb", input="hello")
        assert len(embedded.data[0].embedding) == 16


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_openai_tool_calls_plain_and_streamed(mock: MockLLM, mode: str) -> None:
    mock.configure(replies=Script("weather", ToolCall("get_weather", {"city": "Paris"})))
    async with base_url(mock, mode) as url, openai_client(mock, url) as sdk:
        reply = await sdk.chat.completions.create(model="m", messages=USER)
        calls = reply.choices[0].message.tool_calls
        assert calls is not None
        assert calls[0].function.name == "get_weather"  # type: ignore[union-attr]
        async with sdk.chat.completions.stream(model="m", messages=USER) as stream:
            final = await stream.get_final_completion()
        streamed = final.choices[0].message.tool_calls
        assert streamed is not None
        assert streamed[0].function.arguments == '{"city":"Paris"}'


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_anthropic_plain_stream_and_tools(mock: MockLLM, mode: str) -> None:
    async with base_url(mock, mode) as url, anthropic_client(mock, url) as sdk:
        message = await sdk.messages.create(model="claude", max_tokens=64, messages=USER)
        assert message.usage.output_tokens == 5
        async with sdk.messages.stream(model="claude", max_tokens=64, messages=USER) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert text == "The mock model answers with"
        assert final.stop_reason == "end_turn"
        mock.configure(replies=Script(None, [ToolCall("lookup", {"q": "x"})]))
        async with sdk.messages.stream(model="claude", max_tokens=64, messages=USER) as stream:
            tooled = await stream.get_final_message()
        assert tooled.stop_reason == "tool_use"
        assert tooled.content[0].input == {"q": "x"}  # type: ignore[union-attr]


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_sdk_errors_are_the_sdks_own(mock: MockLLM, mode: str) -> None:
    from pytest_agentperf.mockllm import Faults

    mock.configure(faults=Faults(rate_limit=[0], server_error=[1], retry_after="2s"))
    async with base_url(mock, mode) as url, openai_client(mock, url) as sdk:
        with pytest.raises(openai.RateLimitError) as limited:
            await sdk.chat.completions.create(model="m", messages=USER)
        assert limited.value.response.headers["retry-after"] == "2"
        with pytest.raises(openai.InternalServerError):
            await sdk.chat.completions.create(model="m", messages=USER)
    async with base_url(mock, mode) as url, anthropic_client(mock, url) as sdk:
        with pytest.raises(anthropic.NotFoundError):
            await sdk.models.retrieve("x")
    assert mock.stats().not_found == 1


@pytest.mark.asyncio
async def test_sdk_timeout_is_emulated_from_its_own_timeout(mock: MockLLM) -> None:
    mock.configure(latency="2s")
    async with openai_client(mock, timeout=0.05) as sdk:
        with pytest.raises(openai.APITimeoutError):
            await sdk.chat.completions.create(model="m", messages=USER)
    assert mock.stats().faults == {"client_timeout": 1}


@pytest.mark.asyncio
async def test_sdk_connection_error(mock: MockLLM) -> None:
    from pytest_agentperf.mockllm import Faults

    mock.configure(faults=Faults(connection_error=1.0))
    async with anthropic_client(mock) as sdk:
        with pytest.raises(anthropic.APIConnectionError):
            await sdk.messages.create(model="c", max_tokens=8, messages=USER)
