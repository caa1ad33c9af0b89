"""The mock's own CPU in the agent's process (``stats().harness_cpu``), on calibrated burns.

A burn of known thread CPU is added to the mock's own work (its delay helper, which runs
once per plain reply and once per streamed chunk); the mock's figure must grow by that
amount, measured against the same mock without it in the same test. What the mock burns
is exact on a busy machine too: the burner spins on the thread CPU clock.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from pytest_agentperf.clocks import SampledCpu
from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.mockllm import Fixed, MockLLM, transports

BURN = 1e-3  # per request: large beside what no one controls (a steal of the VM's CPU)
CALLS = 320  # 20 timed requests of 16
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Hi"}]}


def burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def _cpu_per_call(mock: MockLLM, body: dict[str, Any], calls: int) -> float:
    # No garbage collection meanwhile: in a big test process one full collection (~100 ms)
    # inside one of the 20 timed requests would outweigh the burns being measured.
    # Every request timed (not one in 16): a stolen slice of the VM's CPU lands on the
    # thread clock of whatever step runs then, and 20 samples would not average it out.
    mock._core.counters.cpu = SampledCpu(every=1)
    gc.collect()
    gc.disable()
    try:
        before = mock.stats().harness_cpu
        transport = mock.httpx_transport()
        async with httpx.AsyncClient(transport=transport, base_url=mock.base_url) as c:
            for _ in range(calls):
                r = await c.post("/chat/completions", json=body)
                assert r.status_code == 200
        return (mock.stats().harness_cpu - before) / calls
    finally:
        gc.enable()


def _burning(
    real: Callable[..., Awaitable[None]], seconds: float
) -> Callable[..., Awaitable[None]]:
    async def sleep_until(deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        burn(seconds)
        await real(deadline, loop)

    return sleep_until


@pytest.mark.asyncio
@pytest.mark.parametrize(("stream", "burns"), [(False, 1), (True, 8)])
async def test_the_mocks_cpu_grows_by_what_it_burns(
    monkeypatch: pytest.MonkeyPatch, stream: bool, burns: int
) -> None:
    # a plain reply waits once; 8 tokens streamed wait 8 times (TTFT, then one per gap)
    mock = MockLLM(
        latency=Fixed("1ms"), ttft=Fixed("1ms"), itl=Fixed("200us"), output_tokens=8, seed=1
    )
    body = {**CHAT, "stream": True} if stream else CHAT
    calls = CALLS // 2 if stream else CALLS  # 10 timed streams of 8 burns each
    plain = await _cpu_per_call(mock, body, calls)
    burner = _burning(transports.sleep_until, BURN / burns)  # BURN per request in all
    monkeypatch.setattr(transports, "sleep_until", burner)
    burning = await _cpu_per_call(mock, body, calls)
    assert plain > 0
    assert 0.9 <= (burning - plain) / BURN <= 1.1


@pytest.mark.asyncio
async def test_the_loopback_servers_work_is_the_mocks() -> None:
    mock = MockLLM(latency=Fixed("0ms"), seed=1)
    async with mock.serve() as url, httpx.AsyncClient(base_url=url) as client:
        cpu0, before = time.process_time(), mock.stats().harness_cpu
        for _ in range(CALLS):
            assert (await client.post("/chat/completions", json=CHAT)).status_code == 200
        process = time.process_time() - cpu0
        served = mock.stats().harness_cpu - before
    # the server parses and answers every request (h11): a real share of the process,
    # and no more than all of it
    assert 0.05 * process < served < process


@pytest.mark.asyncio
async def test_the_engine_charges_the_mock_to_the_harness() -> None:
    mock = MockLLM(latency=Fixed("1ms"), seed=1)
    async with httpx.AsyncClient(transport=mock.httpx_transport(), base_url=mock.base_url) as c:

        async def call(payload: Any) -> None:
            (await c.post("/chat/completions", json=CHAT)).raise_for_status()

        result = await AgentPerf(mock=mock).run(call, n=CALLS, concurrency=4)
    parts = result.selfcheck.harness_cpu
    assert result.harness_cpu_per_task is not None
    assert result.cpu_per_task is not None
    assert parts["mock"] > 0
    assert result.harness_cpu_per_task == pytest.approx(sum(parts.values()))
    assert result.harness_cpu_per_task < result.cpu_per_task
    assert mock.stats().to_dict()["harness_cpu"] == mock.stats().harness_cpu


def test_sampled_cpu_scales_the_timed_occurrences_to_all() -> None:
    cpu = SampledCpu(every=4)
    due = [cpu.due() for _ in range(8)]
    assert due == [True, False, False, False, True, False, False, False]
    cpu.add(0.002)  # the two timed ones took 2 ms in all: 1 ms each, 8 ms for 8
    assert cpu.total == pytest.approx(0.008)
    with pytest.raises(ValueError, match="power of two"):
        SampledCpu(every=3)
