"""How much the load engine costs, measured against a bare asyncio loop in the same run.

    /tmp/venv/bin/python benchmarks/bench_engine.py [--n 50000] [--concurrency 64] [--repeat 3]

1. No-op targets (one that never suspends, one that yields once with ``sleep(0)``): tasks
   per second through ``AgentPerf.run`` (wall clock around the whole call, statistics
   included) vs a bare ``asyncio.gather`` over a semaphore, interleaved, best of
   ``--repeat``. Target: the engine >= 60% of the bare loop.
2. If ``reference_agent.ImprovedAgent`` and the mock LLM are importable: ImprovedAgent at
   concurrency 100 on the mock (Fixed 50 ms, httpx transport mode). Target: efficiency
   >= 0.95.

Figures on a shared machine are preliminary; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pytest_agentperf.engine.runner import AgentPerf


async def noop(payload: Any) -> None:
    return None


async def yielding(payload: Any) -> None:
    await asyncio.sleep(0)


async def bare_rate(target: Callable[[Any], Awaitable[None]], n: int, concurrency: int) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            await target(i)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - began)


async def engine_rate(
    target: Callable[[Any], Awaitable[None]], n: int, concurrency: int
) -> tuple[float, float]:
    """(wall-clock rate around run(), the result's own throughput)."""
    began = time.perf_counter()
    result = await AgentPerf().run(target, n=n, concurrency=concurrency, warmup=0)
    return n / (time.perf_counter() - began), result.throughput


async def compare(n: int, concurrency: int, repeat: int) -> None:
    for label, target in (("no-op (never suspends)", noop), ("no-op (sleep(0))", yielding)):
        bare, wall, inner = 0.0, 0.0, 0.0
        for _ in range(repeat):
            bare = max(bare, await bare_rate(target, n, concurrency))
            w, t = await engine_rate(target, n, concurrency)
            wall, inner = max(wall, w), max(inner, t)
        print(
            f"{label:<24} bare gather+semaphore {bare:>11,.0f}/s | engine {wall:>11,.0f}/s "
            f"wall ({wall / bare:.0%} of bare), {inner:>11,.0f}/s measured window"
        )


async def improved_agent(n: int) -> None:
    try:
        from pytest_agentperf.mockllm import Fixed, MockLLM
        from reference_agent import ImprovedAgent
    except ImportError as exc:  # parts built in parallel
        print(f"ImprovedAgent benchmark skipped: {exc}")
        return
    mock = MockLLM(latency=Fixed("50ms"), seed=1)
    agent = ImprovedAgent(base_url=mock.base_url, concurrency=100, transport=mock.httpx_transport())
    async with agent:
        perf = AgentPerf(mock=mock)
        result = await perf.run(
            agent, tasks=lambda i: f"question {i}", n=n, concurrency=100, warmup=100
        )
    eff = "n/a" if result.efficiency is None else f"{result.efficiency:.3f}"
    injected = result.mean_injected_latency or 0.0
    print(
        f"ImprovedAgent c=100, mock Fixed 50ms (transport): {result.throughput:,.0f}/s, "
        f"p50 {result.latency.p50 * 1e3:.1f}ms p99 {result.latency.p99 * 1e3:.1f}ms, "
        f"efficiency {eff} (injected {injected * 1e3:.1f}ms/task), "
        f"errors {result.errors or 'none'}, cpu {result.selfcheck.cpu_percent:.0f}%"
    )
    for warning in result.warnings:
        print(f"  self-check: {warning}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--agent-n", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(compare(args.n, args.concurrency, args.repeat))
    asyncio.run(improved_agent(args.agent_n))


if __name__ == "__main__":
    main()
