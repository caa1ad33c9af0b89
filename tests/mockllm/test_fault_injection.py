"""Faults as clients see them, through the transport and the real server."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping

import httpx
import pytest

from pytest_agentperf.mockllm import Faults, MockLLM, Outage

from .clients import CHAT, MESSAGES


async def outcome(client: httpx.AsyncClient, payload: Mapping[str, object]) -> str:
    try:
        response = await client.post("/chat/completions", json=payload)
        if response.is_success:
            json.loads(response.content if not payload.get("stream") else b"{}")
        return str(response.status_code)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    except ValueError:
        return "malformed"


@pytest.mark.asyncio
async def test_seeded_rates_give_exact_counts_end_to_end(mock: MockLLM) -> None:
    faults = Faults(
        rate_limit=0.05, server_error=0.03, connection_error=0.02, malformed=0.01, timeout=0.01
    )
    mock.configure(faults=faults, seed=3)
    transport = mock.httpx_transport()
    async with httpx.AsyncClient(transport=transport, base_url=mock.base_url, timeout=0.01) as c:
        got = Counter([await outcome(c, CHAT) for _ in range(200)])
    assert got["429"] == 10
    assert got["500"] + got["502"] + got["503"] == 6
    assert got["ConnectError"] == 4
    assert got["malformed"] == 2
    assert got["ReadTimeout"] == 2
    assert got["200"] == 176
    stats = mock.stats()
    assert stats.faults["rate_limit"] == 10
    assert stats.calls == 200


@pytest.mark.asyncio
async def test_429_carries_retry_after(client: httpx.AsyncClient, mock: MockLLM) -> None:
    mock.configure(faults=Faults(rate_limit=[0], retry_after="250ms"))
    response = await client.post("/messages", json=MESSAGES)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0.25"
    assert response.headers["retry-after-ms"] == "250"
    assert response.json()["error"]["type"] == "rate_limit_error"


@pytest.mark.asyncio
async def test_disconnect_mid_stream(client: httpx.AsyncClient, mock: MockLLM) -> None:
    mock.configure(faults=Faults(disconnect=[0, 1]), itl="1ms", output_tokens=10)
    received: list[bytes] = []

    async def read_stream() -> None:
        async with client.stream("POST", "/chat/completions", json={**CHAT, "stream": True}) as r:
            async for chunk in r.aiter_raw():
                received.append(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        await read_stream()
    assert 0 < len(received) < 10
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/chat/completions", json=CHAT)  # plain: body cut short


@pytest.mark.asyncio
async def test_outage_window(client: httpx.AsyncClient, mock: MockLLM) -> None:
    mock.configure(faults=Faults(outages=[Outage(0, "10s", status=503)]))
    statuses = {(await client.post("/chat/completions", json=CHAT)).status_code for _ in range(5)}
    assert statuses == {503}
    assert mock.stats().faults == {"outage": 5}


@pytest.mark.asyncio
async def test_faults_over_a_real_socket(mock: MockLLM) -> None:
    mock.configure(faults=Faults(connection_error=[0], disconnect=[1], timeout=[2], hang="5s"))
    async with mock.serve() as url, httpx.AsyncClient(base_url=url, timeout=0.2) as client:
        with pytest.raises(httpx.RemoteProtocolError):  # dropped before any response
            await client.post("/chat/completions", json=CHAT)
        with pytest.raises(httpx.RemoteProtocolError):  # dropped mid-body
            await client.post("/chat/completions", json=CHAT)
        with pytest.raises(httpx.ReadTimeout):  # the client's own timeout, for real
            await client.post("/chat/completions", json=CHAT)
        assert (await client.post("/chat/completions", json=CHAT)).status_code == 200
    await asyncio.sleep(0)
    assert mock.stats().in_flight == 0
