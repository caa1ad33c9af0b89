"""The wire formats over a plain httpx client, through the transport and respx patching."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from pytest_agentperf.mockllm import Faults, MockLLM, Reply, Script, ToolCall

from .clients import CHAT, MESSAGES


def sse_data(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


@pytest.mark.asyncio
async def test_chat_plain_has_configured_tokens(client: httpx.AsyncClient) -> None:
    response = await client.post("/chat/completions", json=CHAT)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "gpt-test"
    assert body["usage"]["completion_tokens"] == 5
    assert len(body["choices"][0]["message"]["content"].split()) == 5
    assert body["choices"][0]["finish_reason"] == "stop"


@pytest.mark.asyncio
async def test_chat_is_deterministic_and_max_tokens_caps(client: httpx.AsyncClient) -> None:
    first = (await client.post("/chat/completions", json=CHAT)).content
    assert first == (await client.post("/chat/completions", json=CHAT)).content
    capped = (await client.post("/chat/completions", json={**CHAT, "max_tokens": 2})).json()
    assert capped["usage"]["completion_tokens"] == 2
    assert capped["choices"][0]["finish_reason"] == "length"


@pytest.mark.asyncio
async def test_chat_stream_ends_with_done_and_usage(client: httpx.AsyncClient) -> None:
    payload = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with client.stream("POST", "/chat/completions", json=payload) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = (await response.aread()).decode()
    data = sse_data(text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[-1]["usage"]["completion_tokens"] == 5
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert "".join(d for d in deltas if d) == "The mock model answers with"


@pytest.mark.asyncio
async def test_stream_without_include_usage_has_no_usage(client: httpx.AsyncClient) -> None:
    response = await client.post("/chat/completions", json={**CHAT, "stream": True})
    assert "usage" not in response.text


@pytest.mark.asyncio
async def test_embeddings_float_and_base64(client: httpx.AsyncClient) -> None:
    body = {"model": "emb", "input": ["a", "b"], "dimensions": 4}
    floats = (await client.post("/embeddings", json=body)).json()
    assert [len(d["embedding"]) for d in floats["data"]] == [4, 4]
    b64 = (await client.post("/embeddings", json={**body, "encoding_format": "base64"})).json()
    assert isinstance(b64["data"][0]["embedding"], str)


@pytest.mark.asyncio
async def test_anthropic_messages_plain_and_stream(client: httpx.AsyncClient) -> None:
    plain = (await client.post("/messages", json=MESSAGES)).json()
    assert plain["type"] == "message"
    assert plain["usage"]["output_tokens"] == 5
    text = (await client.post("/messages", json={**MESSAGES, "stream": True})).text
    events = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert events[3:8] == ["content_block_delta"] * 5
    assert events[8:] == ["content_block_stop", "message_delta", "message_stop"]


@pytest.mark.asyncio
async def test_unknown_route_is_404_in_provider_format(
    mock: MockLLM, client: httpx.AsyncClient
) -> None:
    openai_style = await client.post("/v1/completions/nope", json=CHAT)
    assert openai_style.status_code == 404
    assert openai_style.json()["error"]["code"] == "not_found"
    anthropic_style = await client.post(
        "/v1/nope", json=MESSAGES, headers={"anthropic-version": "2023-06-01"}
    )
    assert anthropic_style.json()["error"]["type"] == "not_found_error"
    stats = mock.stats()
    assert stats.not_found == 2
    assert stats.by_status == {404: 2}


@pytest.mark.asyncio
async def test_bad_body_and_method(client: httpx.AsyncClient) -> None:
    assert (await client.post("/chat/completions", content=b"{not json")).status_code == 400
    assert (await client.get("/chat/completions")).status_code == 405


@pytest.mark.asyncio
async def test_scripted_tool_call_then_answer(mock: MockLLM, client: httpx.AsyncClient) -> None:
    tool = ToolCall("get_weather", {"city": "Paris"})
    mock.configure(replies=[Script("weather", [tool, "Sunny in Paris."]), Script(None, "Hi.")])
    ask = {**CHAT, "messages": [{"role": "user", "content": "What is the weather?"}]}
    first = (await client.post("/chat/completions", json=ask)).json()["choices"][0]
    assert first["finish_reason"] == "tool_calls"
    call = first["message"]["tool_calls"][0]["function"]
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"city": "Paris"})
    second = (await client.post("/chat/completions", json=ask)).json()["choices"][0]
    assert second["message"]["content"] == "Sunny in Paris."
    other = (await client.post("/chat/completions", json=CHAT)).json()["choices"][0]
    assert other["message"]["content"] == "Hi."


@pytest.mark.asyncio
async def test_script_predicate_on_conversation(mock: MockLLM, client: httpx.AsyncClient) -> None:
    mock.configure(replies=[Script(lambda r: r.last_role == "tool", Reply(text="Done."))])
    tool_turn = {**CHAT, "messages": [{"role": "tool", "content": "21C", "tool_call_id": "x"}]}
    answer = (await client.post("/chat/completions", json=tool_turn)).json()
    assert answer["choices"][0]["message"]["content"] == "Done."
    default = (await client.post("/chat/completions", json=CHAT)).json()
    assert default["usage"]["completion_tokens"] == 5


@pytest.mark.asyncio
async def test_respx_patching_reaches_any_httpx_client(mock: MockLLM) -> None:
    async with mock, httpx.AsyncClient(base_url=mock.base_url) as client:
        response = await client.post("/chat/completions", json=CHAT)
        streamed = await client.post("/chat/completions", json={**CHAT, "stream": True})
    assert response.json()["usage"]["completion_tokens"] == 5
    assert sse_data(streamed.text)[-1] == "[DONE]"
    assert mock.stats().calls == 2
    assert len(mock.router.calls) == 0  # no per-call history kept


def test_respx_patching_serves_sync_clients(mock: MockLLM) -> None:
    mock.start()
    try:
        with httpx.Client(base_url=mock.base_url) as client:
            assert client.post("/chat/completions", json=CHAT).status_code == 200
    finally:
        mock.stop()


@pytest.mark.asyncio
async def test_other_hosts_pass_through_while_patching(mock: MockLLM) -> None:
    other = MockLLM(output_tokens=3)
    async with mock, other.serve() as url, httpx.AsyncClient() as client:
        response = await client.post(f"{url}/chat/completions", json=CHAT)
    assert response.json()["usage"]["completion_tokens"] == 3
    assert mock.stats().calls == 0


PLAIN_REQUESTS = [("/chat/completions", CHAT), ("/chat/completions", CHAT), ("/nope", CHAT)]


def sync_responses(mock: MockLLM) -> list[httpx.Response]:
    mock.start()
    try:
        with httpx.Client(base_url=mock.base_url) as client:
            return [client.post(path, json=body) for path, body in PLAIN_REQUESTS]
    finally:
        mock.stop()


async def plain_responses(mock: MockLLM, mode: str) -> list[httpx.Response]:
    """A 200, a malformed (cut) 200 and a 404, through one way in."""
    mock.configure(faults=Faults(malformed=[1]))
    requests = PLAIN_REQUESTS
    if mode == "sync":
        return await asyncio.to_thread(sync_responses, mock)
    if mode == "server":
        async with mock.serve() as url, httpx.AsyncClient(base_url=url) as client:
            return [await client.post(path, json=body) for path, body in requests]
    transport = mock.httpx_transport() if mode == "transport" else None
    if mode == "respx":
        mock.start()
    try:
        async with httpx.AsyncClient(transport=transport, base_url=mock.base_url) as client:
            return [await client.post(path, json=body) for path, body in requests]
    finally:
        mock.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["transport", "respx", "sync", "server"])
async def test_plain_answers_carry_exactly_one_content_length(mock: MockLLM, mode: str) -> None:
    responses = await plain_responses(mock, mode)
    assert [r.status_code for r in responses] == [200, 200, 404]
    for response in responses:
        assert response.headers.get_list("content-length") == [str(len(response.content))]
    assert len(responses[1].content) < len(responses[0].content)  # the malformed one
