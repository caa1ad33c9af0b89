"""What carries ImprovedAgent's requests: aiohttp on real sockets, and the seams (an injected
transport, respx, the project's mock in every mode) that must keep intercepting it."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest
import respx
from ra_support import LoopbackLLM, completion

from reference_agent import (
    AgentConfigError,
    ImprovedAgent,
    LLMConnectionError,
    LLMTimeoutError,
    Task,
    TaskStatus,
)
from reference_agent.aiohttp_transport import AiohttpTransport

SETTINGS: dict[str, Any] = {"resource_sample_interval": None, "retry_attempts": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.asyncio
async def test_the_default_backend_is_aiohttp_and_pools_connections() -> None:
    async with LoopbackLLM() as server:
        agent = ImprovedAgent(base_url=server.base_url, concurrency=4, **SETTINGS)
        async with agent:
            assert agent.llm.backend == "aiohttp"
            results = await asyncio.gather(*[agent.run(f"p{i}") for i in range(40)])
            assert agent.llm.client._transport.in_use == 0  # type: ignore[attr-defined]
    assert [r.value for r in results] == [f"echo:p{i}" for i in range(40)]
    assert server.connections <= 4


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_without_keepalive_every_call_opens_a_connection(backend: str) -> None:
    async with LoopbackLLM() as server:
        settings = dict(SETTINGS, concurrency=1, cache_max_size=0, http_backend=backend)
        agent = ImprovedAgent(base_url=server.base_url, pool_max_keepalive=0, **settings)
        async with agent:
            results = [await agent.run("same") for _ in range(5)]
    assert all(r.ok for r in results), [r.error for r in results]
    assert server.connections == 5


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_both_backends_send_the_same_request(backend: str) -> None:
    seen: list[dict[str, Any]] = []

    async def hold(prompt: str) -> None:
        seen.append({"prompt": prompt})

    async with LoopbackLLM(hold) as server:
        agent = ImprovedAgent(
            base_url=server.base_url, api_key="sk-x", http_backend=backend, **SETTINGS
        )
        async with agent:
            result = await agent.run({"messages": [{"role": "user", "content": "hi"}]})
    assert result.value == "echo:hi"
    assert seen == [{"prompt": "hi"}]


@pytest.mark.asyncio
async def test_a_refused_connection_is_a_retryable_connection_error() -> None:
    settings = dict(SETTINGS, retry_attempts=2, retry_base=0.0)
    agent = ImprovedAgent(base_url=f"http://127.0.0.1:{free_port()}/v1", **settings)
    async with agent:
        result = await agent.run("x")
    assert isinstance(result.error, LLMConnectionError)
    assert result.error.retryable
    assert agent.statistics().retries == 1


@pytest.mark.asyncio
async def test_a_connection_dropped_mid_reply_is_not_retried() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"choi')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        agent = ImprovedAgent(base_url=f"http://127.0.0.1:{port}/v1", **SETTINGS)
        async with agent:
            result = await agent.run("x")
    finally:
        server.close()
        await server.wait_closed()
    assert isinstance(result.error, LLMConnectionError)
    assert not result.error.retryable
    assert isinstance(result.error.__cause__, httpx.TransportError)


@pytest.mark.asyncio
async def test_the_transport_maps_pool_and_read_timeouts_to_httpx() -> None:
    release = asyncio.Event()

    async def hold(prompt: str) -> None:
        await release.wait()

    async with LoopbackLLM(hold) as server:
        limits = httpx.Limits(max_connections=1)
        timeout = httpx.Timeout(0.2, pool=0.05)
        transport = AiohttpTransport(limits=limits, timeout=timeout)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            body = {"messages": [{"role": "user", "content": "x"}]}
            first = asyncio.ensure_future(client.post(server.base_url + "/chat", json=body))
            await asyncio.sleep(0.02)
            with pytest.raises(httpx.PoolTimeout):
                await client.post(server.base_url + "/chat", json=body)
            with pytest.raises(httpx.ReadTimeout):
                await first
            assert transport.in_use == 0
        release.set()


@pytest.mark.asyncio
async def test_a_streamed_reply_over_aiohttp_keeps_its_first_token_time() -> None:
    from pytest_agentperf.mockllm import Fixed, MockLLM

    mock = MockLLM(latency=Fixed(0.001), ttft=Fixed(0.01), itl=Fixed(0.001), seed=1)
    async with mock.serve() as url:
        agent = ImprovedAgent(base_url=url, stream=True, **SETTINGS)
        async with agent:
            result = await agent.run("tell me")
            assert agent.llm.client._transport.in_use == 0  # type: ignore[attr-defined]
    assert result.ok, result.error
    assert result.value
    assert result.timings is not None
    assert result.timings.ttft is not None


# -- the seams -----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_respx_intercepts_the_aiohttp_backend() -> None:
    with respx.mock(using="httpx", assert_all_called=True) as router:
        route = router.post("http://llm.respx/v1/chat/completions").respond(
            json=completion("from respx")
        )
        agent = ImprovedAgent(base_url="http://llm.respx/v1", **SETTINGS)
        async with agent:
            assert agent.llm.backend == "aiohttp"
            result = await agent.run("x")
    assert result.value == "from respx"
    assert json.loads(route.calls.last.request.content)["messages"][0]["content"] == "x"


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["transport", "respx", "serve"])
async def test_the_mock_intercepts_the_agent_in_every_mode(mode: str) -> None:
    from pytest_agentperf.mockllm import Fixed, MockLLM

    mock = MockLLM(latency=Fixed(0.001), seed=1)
    settings = dict(SETTINGS, concurrency=8)
    if mode == "transport":
        agent = ImprovedAgent(base_url=mock.base_url, transport=mock.httpx_transport(), **settings)
        async with agent:
            results = await asyncio.gather(*[agent.run(f"q{i}") for i in range(20)])
    elif mode == "respx":
        async with mock, ImprovedAgent(base_url=mock.base_url, **settings) as agent:
            results = await asyncio.gather(*[agent.run(f"q{i}") for i in range(20)])
    else:
        async with mock.serve() as url, ImprovedAgent(base_url=url, **settings) as agent:
            results = await asyncio.gather(*[agent.run(f"q{i}") for i in range(20)])
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert mock.stats().calls == 20


@pytest.mark.asyncio
async def test_an_injected_transport_gets_every_request() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=completion("injected"))

    agent = ImprovedAgent(
        base_url="http://llm.test/v1", transport=httpx.MockTransport(handler), **SETTINGS
    )
    async with agent:
        assert agent.llm.backend == "transport"
        result = await agent.run(Task("x", timeout=5))
    assert result.value == "injected"
    (request,) = calls
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-length"] == str(len(request.content))
    assert request.headers["host"] == "llm.test"
    assert request.extensions["timeout"]["read"] == 30.0


@pytest.mark.asyncio
async def test_the_pool_reaper_sees_an_injected_httpcore_transport() -> None:
    # A request cancelled before its new connection connected leaks its slot in httpcore
    # 1.0 (pool_reaper's docstring); the reaper must look inside the BorrowedTransport.
    release = asyncio.Event()

    async def hold(prompt: str) -> None:
        if prompt.startswith("hold"):
            await release.wait()

    async with LoopbackLLM(hold) as server:
        transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=2))
        agent = ImprovedAgent(
            base_url=server.base_url, transport=transport, concurrency=8, **SETTINGS
        )
        async with agent:
            for round_ in range(3):
                tasks = [Task(f"hold{round_}-{i}", timeout=0.02) for i in range(8)]
                held = [await agent.submit(task) for task in tasks]
                assert {(await h).status for h in held} == {TaskStatus.TIMED_OUT}
                after = await asyncio.gather(*[agent.run(f"ok{round_}-{i}") for i in range(4)])
                assert all(r.ok for r in after)
            assert len(transport._pool.connections) <= 2
        release.set()
        await transport.aclose()


@pytest.mark.asyncio
async def test_an_https_endpoint_gets_the_ca_bundle_httpx_trusts() -> None:
    import ssl

    for url, expected in (("https://llm.example/v1", ssl.SSLContext), ("http://x/v1", bool)):
        agent = ImprovedAgent(base_url=url, **SETTINGS)
        async with agent:
            verify = agent.llm.client._transport._verify  # type: ignore[attr-defined]
            assert isinstance(verify, expected)


def test_http_backend_is_validated() -> None:
    with pytest.raises(AgentConfigError, match="http_backend"):
        ImprovedAgent(http_backend="curl")
    assert isinstance(LLMTimeoutError("x"), TimeoutError)


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True])
async def test_without_httpx_routing_hook_calls_go_through_client_send(stream: bool) -> None:
    # The fallback for an httpx without AsyncClient._transport_for_url (respx patches it).
    from ra_support import sse

    def handler(request: httpx.Request) -> httpx.Response:
        return sse(["a", "b"]) if stream else httpx.Response(200, json=completion("sent"))

    agent = ImprovedAgent(
        base_url="http://llm.test/v1",
        transport=httpx.MockTransport(handler),
        stream=stream,
        **SETTINGS,
    )
    async with agent:
        agent.llm._route = None
        result = await agent.run("x")
    assert result.value == ("ab" if stream else "sent")
