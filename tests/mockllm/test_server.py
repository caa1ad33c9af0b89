"""serve(): a real HTTP/1.1 server on loopback with keep-alive and streaming."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from pytest_agentperf.mockllm import MockLLM

from .clients import CHAT, MESSAGES


@pytest.mark.asyncio
async def test_keep_alive_reuses_connections_and_counts_them(mock: MockLLM) -> None:
    async with mock.serve() as url:
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(5):
                assert (await client.post("/chat/completions", json=CHAT)).status_code == 200
        assert mock.stats().connections_opened == 1
        limits = httpx.Limits(max_connections=4)
        async with httpx.AsyncClient(base_url=url, limits=limits) as client:
            mock.configure(latency="30ms")
            await asyncio.gather(*(client.post("/chat/completions", json=CHAT) for _ in range(8)))
        assert mock.stats().connections_opened == 1 + 4


@pytest.mark.asyncio
async def test_connection_close_is_honoured(mock: MockLLM) -> None:
    async with mock.serve() as url, httpx.AsyncClient(base_url=url) as client:
        for _ in range(3):
            await client.post("/chat/completions", json=CHAT, headers={"connection": "close"})
    assert mock.stats().connections_opened == 3


@pytest.mark.asyncio
async def test_streams_over_the_socket_on_schedule(mock: MockLLM) -> None:
    mock.configure(ttft="40ms", itl="5ms", output_tokens=4)
    async with mock.serve() as url, httpx.AsyncClient(base_url=url) as client:
        start = time.perf_counter()
        arrivals = []
        payload = {**MESSAGES, "stream": True}
        async with client.stream("POST", "/messages", json=payload) as response:
            assert response.headers["transfer-encoding"] == "chunked"
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    arrivals.append(time.perf_counter() - start)
        assert arrivals[0] >= 0.040
        assert arrivals[-1] >= 0.040 + 3 * 0.005
        assert len(arrivals) == 3 + 4 + 3


@pytest.mark.asyncio
async def test_unknown_route_over_the_socket(mock: MockLLM) -> None:
    async with mock.serve() as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/v1/models")
    assert response.status_code == 404
    assert mock.stats().not_found == 1


def test_only_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        MockLLM().serve(host="0.0.0.0")
    from pytest_agentperf.mockllm.server import check_loopback

    for host in ("0.0.0.0", "10.1.2.3", "example.com"):
        with pytest.raises(ValueError, match="loopback"):
            check_loopback(host)
    assert check_loopback("::1") == "::1"


@pytest.mark.asyncio
async def test_stop_closes_open_servers(mock: MockLLM) -> None:
    async with mock.serve() as url:
        mock.stop()
        async with httpx.AsyncClient(base_url=url) as client:
            with pytest.raises(httpx.ConnectError):
                await client.post("/chat/completions", json=CHAT)


@pytest.mark.asyncio
async def test_request_headers_are_decoded_only_for_a_404(
    mock: MockLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_agentperf.mockllm import server

    decoded: list[dict[str, str]] = []
    real = server._Headers._dict

    def counting(self: server._Headers) -> dict[str, str]:
        decoded.append(real(self))
        return decoded[-1]

    monkeypatch.setattr(server._Headers, "_dict", counting)
    async with mock.serve() as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.post("/chat/completions", json=CHAT)).status_code == 200
        assert decoded == []  # the hot path never builds the dict
        headers = {"anthropic-version": "2023-06-01"}
        response = await client.post("/nope", json=MESSAGES, headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"  # the header was seen
    assert decoded
    assert decoded[0]["anthropic-version"] == "2023-06-01"
