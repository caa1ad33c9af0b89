"""Benchmark: ImprovedAgent vs LegacyAgent, and the agent's own overhead per task.

Run: ``python benchmarks/bench_agents.py [--tasks 4000] [--legacy-tasks 40] [--latency 0.05]``

1. Speedup: both agents against an LLM with a fixed 50 ms latency (the project's
   ``MockLLM`` transport when it is importable and works, else a tiny local transport),
   in the same run: ImprovedAgent at concurrency 100 vs LegacyAgent. Target >= 90x.
2. Overhead: the same zero-latency transport, (a) the pooled httpx client called directly
   (post + JSON decode), (b) ImprovedAgent.run() doing the same request; the difference
   per task is the agent's own cost beyond the HTTP client. Target <= 100 us. Measured
   one task at a time and with 100 tasks in flight; the best of a few rounds is kept
   (the machine is shared, so figures are preliminary).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from reference_agent import ImprovedAgent, LegacyAgent, TaskStatus
from reference_agent.base import BaseAgent

BASE_URL = "http://mock.llm/v1"
_REPLY = json.dumps(
    {
        "id": "bench",
        "object": "chat.completion",
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
    }
).encode()


class FixedLatencyTransport(httpx.AsyncBaseTransport):
    """Answers every chat completion after a fixed ``latency`` (0: at once)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        return httpx.Response(200, content=_REPLY, headers={"content-type": "application/json"})


def mock_llm_transport(latency: float) -> tuple[httpx.AsyncBaseTransport, str] | None:
    """The project's MockLLM transport, when it exists and answers a call."""
    try:
        from pytest_agentperf.mockllm import Fixed, MockLLM
    except ImportError:
        return None
    try:
        mock = MockLLM(latency=Fixed(latency), output_tokens=4, seed=1)
        transport = mock.httpx_transport()

        async def probe() -> None:
            async with httpx.AsyncClient(transport=transport) as client:
                url = mock.base_url.rstrip("/") + "/chat/completions"
                body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
                response = await client.post(url, json=body)
                response.raise_for_status()
                response.json()["choices"][0]["message"]

        asyncio.run(probe())
    except Exception as exc:
        print(f"(MockLLM not usable yet: {type(exc).__name__}: {exc}; using a local transport)")
        return None
    return transport, mock.base_url


async def _drive(agent: BaseAgent, n: int, tag: str) -> float:
    """Submit n distinct prompts at once, wait for all; returns tasks per second."""
    async with agent:
        start = time.perf_counter()
        handles = [await agent.submit(f"{tag} prompt {i}") for i in range(n)]
        results = [await handle for handle in handles]
        elapsed = time.perf_counter() - start
    bad = [r for r in results if r.status is not TaskStatus.COMPLETED]
    if bad:
        raise SystemExit(f"{tag}: {len(bad)} tasks did not complete, e.g. {bad[0]}")
    return n / elapsed


def speedup(args: argparse.Namespace) -> None:
    found = None if args.local else mock_llm_transport(args.latency)
    transport, base_url = found or (FixedLatencyTransport(args.latency), BASE_URL)
    source = "MockLLM.httpx_transport()" if found else "local FixedLatencyTransport"
    common: dict[str, Any] = {"transport": transport, "base_url": base_url, "max_pending": 100_000}
    common["resource_sample_interval"] = None
    legacy = asyncio.run(_drive(LegacyAgent(concurrency=100, **common), args.legacy_tasks, "L"))
    improved = asyncio.run(_drive(ImprovedAgent(concurrency=100, **common), args.tasks, "I"))
    ideal = 100 / args.latency
    print(f"== speedup at {args.latency * 1000:.0f} ms fixed latency ({source})")
    print(f"LegacyAgent   : {legacy:9.1f} tasks/s  ({args.legacy_tasks} tasks)")
    print(f"ImprovedAgent : {improved:9.1f} tasks/s  ({args.tasks} tasks, concurrency 100;")
    print(f"                {improved / ideal:9.1%} of the Little's-law ideal {ideal:.0f}/s)")
    print(f"speedup       : {improved / legacy:9.1f}x  (target >= 90x)")


async def _timed(n: int, one: Callable[[int], Awaitable[Any]], in_flight: int) -> float:
    """Seconds per task for n calls of ``one(i)``, ``in_flight`` at a time."""
    start = time.perf_counter()
    if in_flight == 1:
        for i in range(n):
            await one(i)
    else:
        for base in range(0, n, in_flight):
            await asyncio.gather(*(one(i) for i in range(base, min(n, base + in_flight))))
    return (time.perf_counter() - start) / n


async def _overhead_round(n: int, in_flight: int) -> tuple[float, float]:
    transport = FixedLatencyTransport(0.0)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    url = BASE_URL + "/chat/completions"
    async with httpx.AsyncClient(transport=transport, limits=limits) as client:

        async def direct(i: int) -> str:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"p{i}"}]}
            response = await client.post(url, json=body)
            return str(response.json()["choices"][0]["message"]["content"])

        await _timed(200, direct, in_flight)  # warm-up
        client_time = await _timed(n, direct, in_flight)
    agent = ImprovedAgent(
        transport=transport,
        base_url=BASE_URL,
        concurrency=100,
        max_pending=100_000,
        resource_sample_interval=1.0,
    )
    async with agent:

        async def via_agent(i: int) -> Any:
            return (await agent.run(f"p{i}")).value

        await _timed(200, via_agent, in_flight)  # warm-up (distinct prompts: cache misses)
        agent_time = await _timed(n, lambda i: via_agent(i + 1_000_000), in_flight)
    return client_time, agent_time


def overhead(args: argparse.Namespace) -> None:
    print("== agent overhead per task beyond the HTTP client (zero-latency transport)")
    for in_flight in (1, 100):
        rounds = [asyncio.run(_overhead_round(args.overhead_tasks, in_flight)) for _ in range(3)]
        client_time = min(r[0] for r in rounds)
        agent_time = min(r[1] for r in rounds)
        print(
            f"{in_flight:3d} in flight: client {client_time * 1e6:7.1f} us/task, "
            f"agent {agent_time * 1e6:7.1f} us/task, "
            f"overhead {(agent_time - client_time) * 1e6:6.1f} us/task (target <= 100)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--legacy-tasks", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--overhead-tasks", type=int, default=3000)
    parser.add_argument("--local", action="store_true", help="use the local transport only")
    args = parser.parse_args()
    speedup(args)
    overhead(args)


if __name__ == "__main__":
    main()
