"""Injected delays: lower bounds only (a slow machine can only make things later)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from pytest_agentperf.mockllm import Fixed, MockLLM, transports

from .clients import CHAT


async def stream_times(client: httpx.AsyncClient, payload: dict[str, object]) -> list[float]:
    """Seconds from sending to each received chunk."""
    start = time.perf_counter()
    times = []
    async with client.stream("POST", "/chat/completions", json=payload) as response:
        async for _ in response.aiter_raw():
            times.append(time.perf_counter() - start)
    return times


@pytest.mark.asyncio
async def test_plain_latency_is_at_least_what_was_asked(
    mock: MockLLM, client: httpx.AsyncClient
) -> None:
    mock.configure(latency="30ms")
    start = time.perf_counter()
    await client.post("/chat/completions", json=CHAT)
    assert time.perf_counter() - start >= 0.030
    assert mock.stats().mean_injected_latency == pytest.approx(0.030)


@pytest.mark.asyncio
async def test_ttft_and_inter_token_gaps(mock: MockLLM, client: httpx.AsyncClient) -> None:
    mock.configure(ttft="40ms", itl="10ms", output_tokens=6)
    times = await stream_times(client, {**CHAT, "stream": True})
    assert len(times) == 6
    assert times[0] >= 0.040
    assert times[-1] >= 0.040 + 5 * 0.010
    assert mock.stats().injected_latency_total == pytest.approx(0.090)


@pytest.mark.asyncio
async def test_deadlines_do_not_accumulate_overshoot(
    mock: MockLLM, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every chunk is due at arrival + its offset, whatever the sleeps before it overshot:
    # a sleep per gap (or a deadline taken from the previous wake-up) would drift.
    deadlines: list[float] = []
    real_sleep_until = transports.sleep_until

    async def recording(deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        deadlines.append(deadline)
        await real_sleep_until(deadline, loop)

    monkeypatch.setattr(transports, "sleep_until", recording)
    mock.configure(ttft=0, itl="2ms", output_tokens=101)
    loop = asyncio.get_running_loop()
    sent = loop.time()
    times = await stream_times(client, {**CHAT, "stream": True})
    assert len(times) == len(deadlines) == 101
    assert sent <= deadlines[0] <= loop.time()  # ttft=0: the first is the arrival
    for i, deadline in enumerate(deadlines):
        assert deadline - deadlines[0] == pytest.approx(i * 0.002, abs=1e-9)
    assert times[-1] >= 0.200


@pytest.mark.asyncio
async def test_plain_answer_from_ttft_and_itl(mock: MockLLM, client: httpx.AsyncClient) -> None:
    mock.configure(ttft="20ms", itl="5ms", output_tokens=3)
    start = time.perf_counter()
    await client.post("/chat/completions", json=CHAT)
    assert time.perf_counter() - start >= 0.030


@pytest.mark.asyncio
@pytest.mark.parametrize("zero", [0, "0ms", Fixed(0)])
async def test_an_explicit_zero_latency_means_zero(
    mock: MockLLM, client: httpx.AsyncClient, zero: object
) -> None:
    mock.configure(ttft="20ms", itl="5ms", output_tokens=3)
    await client.post("/chat/completions", json=CHAT)
    assert mock.stats().injected_latency_total == pytest.approx(0.030)
    mock.configure(latency=zero)  # type: ignore[arg-type]
    mock.reset_stats()
    await client.post("/chat/completions", json=CHAT)
    assert mock.stats().injected_latency_total == 0.0
    assert mock.settings.latency == Fixed(0)


@pytest.mark.asyncio
async def test_concurrent_calls_overlap_and_peak_is_counted(
    mock: MockLLM, client: httpx.AsyncClient
) -> None:
    mock.configure(latency=Fixed("50ms"))
    start = time.perf_counter()
    await asyncio.gather(*(client.post("/chat/completions", json=CHAT) for _ in range(20)))
    assert time.perf_counter() - start >= 0.050
    stats = mock.stats()
    assert stats.peak_concurrency == 20  # overlapped, not serialised
    assert stats.in_flight == 0


@pytest.mark.asyncio
async def test_emulated_read_timeout_plain(mock: MockLLM) -> None:
    mock.configure(latency="5s")
    transport = mock.httpx_transport()
    async with httpx.AsyncClient(transport=transport, base_url=mock.base_url, timeout=0.05) as c:
        start = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            await c.post("/chat/completions", json=CHAT)
    elapsed = time.perf_counter() - start
    assert 0.05 <= elapsed < 2.5  # at the client's timeout, not the injected 5 s
    stats = mock.stats()
    assert stats.faults == {"client_timeout": 1}
    assert stats.injected_latency_total == pytest.approx(0.05)


@pytest.mark.asyncio
async def test_emulated_read_timeout_mid_stream(mock: MockLLM) -> None:
    mock.configure(ttft="10ms", itl=0.001, output_tokens=4)
    transport = mock.httpx_transport()
    async with httpx.AsyncClient(transport=transport, base_url=mock.base_url, timeout=0.5) as c:
        assert (await c.post("/chat/completions", json={**CHAT, "stream": True})).is_success
        mock.configure(ttft="10ms", itl="5s")
        with pytest.raises(httpx.ReadTimeout):
            await c.post("/chat/completions", json={**CHAT, "stream": True})
    assert mock.stats().in_flight == 0


@pytest.mark.asyncio
async def test_emulated_timeout_under_respx(mock: MockLLM) -> None:
    mock.configure(latency="5s")
    async with mock, httpx.AsyncClient(base_url=mock.base_url, timeout=0.05) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/chat/completions", json=CHAT)
