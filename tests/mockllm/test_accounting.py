"""``injected_latency_total`` is the time responses were actually held, in every case.

Each call counts its final plan's end (the last segment, or the fault), or less when the
client gave up first. Bounds are loose on the slow side only: the total must match the
plan, and may never exceed the wall-clock time the client really waited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from pytest_agentperf.mockllm import Faults, MockLLM

from .clients import CHAT

STREAM = {**CHAT, "stream": True}


@pytest_asyncio.fixture(params=["transport", "server"])
async def base(request: pytest.FixtureRequest, mock: MockLLM) -> AsyncIterator[str | None]:
    """``None`` for the httpx transport, else a served base URL."""
    if request.param == "transport":
        yield None
    else:
        async with mock.serve() as url:
            yield url


def make_client(mock: MockLLM, url: str | None, timeout: float | None) -> httpx.AsyncClient:
    if url is None:
        transport = mock.httpx_transport()
        return httpx.AsyncClient(transport=transport, base_url=mock.base_url, timeout=timeout)
    return httpx.AsyncClient(base_url=url, timeout=timeout)


async def settled(mock: MockLLM) -> float:
    """``injected_latency_total`` once every response has finished (the server may lag)."""
    for _ in range(1000):
        if mock.stats().in_flight == 0:
            break
        await asyncio.sleep(0.01)
    stats = mock.stats()
    assert stats.in_flight == 0
    return stats.injected_latency_total


async def read_stream(client: httpx.AsyncClient) -> int:
    chunks = 0
    async with client.stream("POST", "/chat/completions", json=STREAM) as response:
        async for _ in response.aiter_raw():
            chunks += 1
    return chunks


@pytest.mark.asyncio
async def test_normal_stream_counts_its_schedule(mock: MockLLM, base: str | None) -> None:
    mock.configure(ttft="20ms", itl="10ms", output_tokens=5)
    async with make_client(mock, base, None) as client:
        start = time.perf_counter()
        await read_stream(client)
        total = await settled(mock)
        waited = time.perf_counter() - start
    assert total == pytest.approx(0.020 + 4 * 0.010)
    assert total <= waited


@pytest.mark.asyncio
async def test_disconnect_mid_stream_counts_only_what_was_sent(
    mock: MockLLM, base: str | None
) -> None:
    # tokens at 20, 30, ... 110 ms; the disconnect cuts after the 5th (60 ms)
    mock.configure(ttft="20ms", itl="10ms", output_tokens=10, faults=Faults(disconnect=[0]))
    async with make_client(mock, base, None) as client:
        start = time.perf_counter()
        with pytest.raises(httpx.RemoteProtocolError):
            await read_stream(client)
        total = await settled(mock)
        waited = time.perf_counter() - start
    assert mock.stats().faults == {"disconnect": 1}
    assert total == pytest.approx(0.020 + 4 * 0.010)  # not the uncut 110 ms
    assert total <= waited


@pytest.mark.asyncio
async def test_timeout_fault_counts_until_the_client_gives_up(
    mock: MockLLM, base: str | None
) -> None:
    # The transport emulates the client's 0.2 s read timeout; the server holds the
    # response until the client, timing out for real, drops the connection -- not 5 s.
    mock.configure(faults=Faults(timeout=[0], hang="5s"))
    async with make_client(mock, base, 0.2) as client:
        start = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/chat/completions", json=CHAT)
        total = await settled(mock)
        waited = time.perf_counter() - start
    assert 0.1 <= total <= waited
    if base is None:
        assert total == pytest.approx(0.2)


@pytest.mark.asyncio
async def test_timeout_fault_without_a_client_timeout_holds_for_hang(mock: MockLLM) -> None:
    mock.configure(faults=Faults(timeout=[0], hang="50ms"))
    async with make_client(mock, None, None) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/chat/completions", json=CHAT)
    assert mock.stats().injected_latency_total == pytest.approx(0.050)


@pytest.mark.asyncio
async def test_emulated_client_timeout_mid_stream(mock: MockLLM) -> None:
    # the first token at 30 ms, then a 5 s gap: the client's 0.2 s read timeout fires
    mock.configure(ttft="30ms", itl="5s", output_tokens=3)
    async with make_client(mock, None, 0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await read_stream(client)
    assert mock.stats().injected_latency_total == pytest.approx(0.030 + 0.2)


@pytest.mark.asyncio
async def test_client_cancelling_early_counts_only_its_wait(
    mock: MockLLM, base: str | None
) -> None:
    mock.configure(latency="5s")
    async with make_client(mock, base, None) as client:
        start = time.perf_counter()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.post("/chat/completions", json=CHAT), 0.1)
        if base is not None:
            await client.aclose()  # the server notices the dropped connection
        total = await settled(mock)
        waited = time.perf_counter() - start
    assert 0.0 < total <= waited
    assert total < 5.0


@pytest.mark.asyncio
async def test_stream_closed_after_the_first_chunk(mock: MockLLM, base: str | None) -> None:
    mock.configure(ttft="20ms", itl="5s", output_tokens=4)
    async with make_client(mock, base, None) as client:
        start = time.perf_counter()
        async with client.stream("POST", "/chat/completions", json=STREAM) as response:
            async for _ in response.aiter_raw():
                break
        if base is not None:
            await client.aclose()
        total = await settled(mock)
        waited = time.perf_counter() - start
    assert total >= 0.020 - 1e-9
    assert total <= waited
    assert total < 5.0


@pytest.mark.asyncio
async def test_plain_answers_count_exactly_their_delay(mock: MockLLM) -> None:
    mock.configure(latency="10ms")
    async with make_client(mock, None, None) as client:
        for _ in range(5):
            await client.post("/chat/completions", json=CHAT)
    assert mock.stats().injected_latency_total == pytest.approx(0.050)
    assert mock.stats().mean_injected_latency == pytest.approx(0.010)
