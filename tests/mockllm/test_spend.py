"""The mock fills the running task's spend on every front end, exactly as it served it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import httpx2
import openai
import pytest

from pytest_agentperf.mockllm import Faults, MockLLM, Script, ToolCall
from pytest_agentperf.mockllm.tokens import ESTIMATE, TokenCounter
from pytest_agentperf.spend import ModelPrice, Prices, TaskSpend, task_headers

from .clients import CHAT, MESSAGES, anthropic_client, openai_client

T = TypeVar("T")
USER = [{"role": "user", "content": "What is the weather in Paris?"}]


async def in_task(spend: TaskSpend, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` as the load engine runs a task: in a worker whose context holds ``spend``."""

    async def worker() -> T:
        spend.install()
        spend.begin()
        return await work()

    return await asyncio.create_task(worker())


def usage_of(body: dict[str, Any]) -> tuple[int, int]:
    usage = body["usage"]
    if "prompt_tokens" in usage:
        return usage["prompt_tokens"], usage.get("completion_tokens", 0)
    return usage["input_tokens"], usage["output_tokens"]


@pytest.mark.asyncio
@pytest.mark.parametrize("front", ["transport", "respx", "httpx2", "server"])
async def test_every_front_end_attributes_calls_and_tokens_exactly(front: str) -> None:
    spend = TaskSpend()
    received: list[tuple[int, int]] = []
    async with MockLLM(output_tokens=7) as mock:
        served = mock.serve() if front == "server" else None
        url = await served.__aenter__() if served is not None else mock.base_url

        async def work() -> None:
            headers = task_headers() if front == "server" else {}
            for body in (CHAT, {**CHAT, "messages": [*CHAT["messages"], *USER]}):
                if front == "httpx2":
                    async with httpx2.AsyncClient() as c2:  # intercepted, no injection
                        r2 = await c2.post(f"{url}/chat/completions", json=body)
                        received.append(usage_of(r2.json()))
                    continue
                transport = mock.httpx_transport() if front == "transport" else None
                async with httpx.AsyncClient(transport=transport, base_url=url) as client:
                    r = await client.post("/chat/completions", json=body, headers=headers)
                    received.append(usage_of(r.json()))

        try:
            await in_task(spend, work)
        finally:
            if served is not None:
                await served.__aexit__(None, None, None)
        stats = mock.stats()
    assert spend.calls == 2
    assert (spend.tokens_in, spend.tokens_out) == tuple(map(sum, zip(*received, strict=True)))
    assert (spend.tokens_in, spend.tokens_out) == (stats.tokens_in, stats.tokens_out)
    assert stats.unattributed_calls == 0


@pytest.mark.asyncio
async def test_a_call_outside_any_task_is_counted_apart(mock: MockLLM) -> None:
    async with mock.serve() as url, httpx.AsyncClient(base_url=url) as client:
        body = (await client.post("/chat/completions", json=CHAT)).json()  # no task header
    async with httpx.AsyncClient(transport=mock.httpx_transport(), base_url=mock.base_url) as c:
        other = (await c.post("/chat/completions", json={**CHAT, "model": "gpt-other"})).json()
    stats = mock.stats()
    assert stats.unattributed_calls == 2
    assert stats.unattributed_socket_calls == 1  # the one over serve() without the header
    assert stats.unattributed_tokens == {"gpt-test": usage_of(body), "gpt-other": usage_of(other)}


@pytest.mark.asyncio
async def test_a_repeated_request_is_a_retry_and_a_429_is_a_call(mock: MockLLM) -> None:
    mock.configure(faults=Faults(rate_limit=[0]))
    spend = TaskSpend()

    async def work() -> list[int]:
        async with httpx.AsyncClient(transport=mock.httpx_transport(), base_url=mock.base_url) as c:
            statuses = [(await c.post("/chat/completions", json=CHAT)).status_code]
            statuses.append((await c.post("/chat/completions", json=CHAT)).status_code)
            statuses.append((await c.post("/chat/completions", json=MESSAGES)).status_code)
            return statuses

    assert await in_task(spend, work) == [429, 200, 200]
    assert (spend.calls, spend.retries) == (3, 1)


TOOL_SCRIPT = [
    Script(lambda r: r.last_role == "tool", "It is sunny."),
    Script("weather", ToolCall("get_weather", {"city": "Paris"})),
]


@pytest.mark.asyncio
async def test_a_tool_round_is_a_tool_reply_then_a_request_carrying_its_results(
    mock: MockLLM,
) -> None:
    mock.configure(replies=TOOL_SCRIPT)
    spend = TaskSpend()

    async def work() -> str | None:
        oai = openai_client(mock)
        messages: list[Any] = list(USER)
        first = await oai.chat.completions.create(model="gpt-test", messages=messages)
        calls = first.choices[0].message.tool_calls or []
        messages.append(first.choices[0].message.model_dump(exclude_none=True))
        messages += [{"role": "tool", "tool_call_id": c.id, "content": "21C"} for c in calls]
        second = await oai.chat.completions.create(model="gpt-test", messages=messages)
        await oai.close()
        return second.choices[0].message.content

    assert await in_task(spend, work) == "It is sunny."
    assert (spend.calls, spend.tool_rounds, spend.retries) == (2, 1, 0)


@pytest.mark.asyncio
async def test_tool_rounds_on_the_anthropic_and_responses_apis(mock: MockLLM) -> None:
    mock.configure(replies=TOOL_SCRIPT)
    spend = TaskSpend()

    async def work() -> None:
        claude = anthropic_client(mock)
        reply = await claude.messages.create(model="claude-test", max_tokens=64, messages=USER)
        use = next(b for b in reply.content if b.type == "tool_use")
        result = {"type": "tool_result", "tool_use_id": use.id, "content": "21C"}
        turn = [{"role": "assistant", "content": [use.model_dump()]}]
        turn.append({"role": "user", "content": [result]})
        await claude.messages.create(model="claude-test", max_tokens=64, messages=USER + turn)
        await claude.close()
        oai = openai_client(mock)
        first = await oai.responses.create(model="gpt-test", input=USER)
        call = next(item for item in first.output if item.type == "function_call")
        output = {"type": "function_call_output", "call_id": call.call_id, "output": "21C"}
        await oai.responses.create(model="gpt-test", input=[*USER, call.model_dump(), output])
        await oai.close()

    await in_task(spend, work)
    assert (spend.calls, spend.tool_rounds) == (4, 2)


@pytest.mark.asyncio
@pytest.mark.parametrize("served", [False, True])
async def test_a_stream_records_its_inter_token_latency_as_sent(
    mock: MockLLM, served: bool
) -> None:
    mock.configure(ttft="5ms", itl="2ms", output_tokens=6)
    spend = TaskSpend()

    async def work() -> int:
        async def read(client: httpx.AsyncClient) -> int:
            body = {**CHAT, "stream": True}
            async with client.stream("POST", "/chat/completions", json=body) as r:
                return len([line async for line in r.aiter_lines() if line.startswith("data")])

        if served:
            async with mock.serve() as url, httpx.AsyncClient(base_url=url) as c:
                return await read(c)
        async with httpx.AsyncClient(transport=mock.httpx_transport(), base_url=mock.base_url) as c:
            return await read(c)

    assert await in_task(spend, work) > 6
    for _ in range(100):  # the server finishes its side just after the client read the end
        if spend.itls:
            break
        await asyncio.sleep(0.01)
    assert len(spend.itls) == 1
    assert spend.decode_tokens == 5  # six token chunks: five gaps
    # as sent: a first chunk sent late (loop lag) shortens the span, the deadlines stay put
    assert 0 < spend.itls[0] < 1.0
    assert spend.decode_time == pytest.approx(spend.itls[0] * 5)


@pytest.mark.asyncio
async def test_cost_comes_from_the_price_table_and_unpriced_models_are_named(
    mock: MockLLM,
) -> None:
    prices = Prices("USD", {"gpt-test": ModelPrice(2.0, 8.0), "claude-*": ModelPrice(3, 15)})
    spend = TaskSpend(prices)
    bodies: list[tuple[int, int]] = []

    async def work() -> None:
        async with httpx.AsyncClient(transport=mock.httpx_transport(), base_url=mock.base_url) as c:
            bodies.append(usage_of((await c.post("/chat/completions", json=CHAT)).json()))
            bodies.append(usage_of((await c.post("/messages", json=MESSAGES)).json()))
            await c.post("/chat/completions", json={**CHAT, "model": "gpt-unpriced"})

    await in_task(spend, work)
    (ti, to), (ai, ao) = bodies
    assert spend.cost == pytest.approx((ti * 2 + to * 8 + ai * 3 + ao * 15) / 1e6, rel=1e-12)
    assert spend.unpriced == {"gpt-unpriced"}


def _encoder() -> Callable[[str], list[int]]:
    pytest.importorskip("tiktoken")
    encode, how = TokenCounter().encoder("gpt-4")
    if encode is None:
        pytest.skip("tiktoken cannot load cl100k_base here (no cache, no offline package)")
    assert how == "tiktoken cl100k_base"
    return encode


@pytest.mark.asyncio
async def test_prompt_tokens_are_counted_with_tiktoken_where_it_can(mock: MockLLM) -> None:
    encode = _encoder()
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Count these tokens, please: 1, 2, 3."},
    ]
    async with httpx.AsyncClient(transport=mock.httpx_transport(), base_url=mock.base_url) as c:
        body = {"model": "gpt-4", "messages": messages}
        counted = usage_of((await c.post("/chat/completions", json=body)).json())[0]
        estimated = usage_of((await c.post("/messages", json=MESSAGES)).json())[0]
    # OpenAI's published count for chat: 3 per message, its role and content, 3 to prime
    expected = 3 + sum(3 + len(encode(m["role"])) + len(encode(m["content"])) for m in messages)
    assert counted == expected
    assert estimated == len("Hello there") // 4 + 1  # Anthropic's: ~4 characters a token
    assert mock.stats().tokenizers == {"tiktoken cl100k_base": 1, ESTIMATE: 1}


def test_a_model_tiktoken_does_not_know_is_estimated() -> None:
    counter = TokenCounter()
    tokens, how = counter.count("/v1/chat/completions", CHAT, "mock-model-x")
    assert how == ESTIMATE
    assert tokens == len("Hello there") // 4 + 1


@pytest.mark.asyncio
async def test_the_sdk_path_carries_the_task_header_over_sockets(mock: MockLLM) -> None:
    spend = TaskSpend()

    async def work() -> None:
        async with mock.serve() as url:
            oai = openai.AsyncOpenAI(base_url=url, api_key="t", default_headers=task_headers())
            await oai.chat.completions.create(model="gpt-test", messages=USER)
            await oai.close()

    await in_task(spend, work)
    assert spend.calls == 1
    assert mock.stats().unattributed_calls == 0


def test_tiktoken_never_downloads_an_encoding(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    pytest.importorskip("tiktoken")
    import requests

    from pytest_agentperf.mockllm import tokens

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a download was attempted: {args}")

    monkeypatch.setattr(requests, "get", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # an empty cache
    assert tokens._load("p50k_base") is None  # not cached, no offline package: estimated
    assert TokenCounter().encoder("text-davinci-003") == (None, ESTIMATE)
