"""What the load engine costs, against a fair bare worker pool, in tasks/s and CPU per task.

    python benchmarks/bench_engine.py [--n 50000] [--concurrency 64] [--repeat 5]

Every figure is a ratio or a CPU cost measured side by side in one process, interleaved
(A, B, A, B, ...), medians of ``--repeat``: CPU per task (``time.process_time``) survives a
shared machine far better than tasks/s, so both are printed.

1. **Engine vs a bare worker pool.** The baseline is what a careful person would write by
   hand: ``concurrency`` workers pull the next index from a counter and write two
   ``perf_counter`` stamps per task into preallocated arrays (not ``gather`` over all the
   tasks, which creates one ``Task`` per item and makes any engine look fast). Both run
   with the heap frozen (the engine does it itself). Targets: one that never suspends, one
   that yields once (``sleep(0)``) and ``sleep(50ms)`` at concurrency 100 (the shape of an
   LLM call). The engine's figures are its measured window (``result.throughput``,
   ``result.cpu_per_task``); the time a ``run()`` call spends outside its measured window
   (heap freeze, statistics over every task) is printed apart.
2. **CPU attribution on a calibrated burner.** The target burns 1 ms of thread CPU per
   task and the task factory 300 µs: the result's agent share and harness share must come
   out as those amounts (ratios printed; ``tests/engine/test_cpu.py`` asserts within 10%).
3. **ImprovedAgent** at concurrency 100 on the mock (Fixed 50 ms, httpx transport mode),
   if importable: tasks/s, efficiency, and where its CPU per task goes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.result import PerfResult

Target = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class Run:
    rate: float  # tasks per second over the measured window
    cpu: float  # process CPU seconds per task over the measured window


async def noop(payload: Any) -> None:
    return None


async def yielding(payload: Any) -> None:
    await asyncio.sleep(0)


async def llm_call(payload: Any) -> None:
    await asyncio.sleep(0.05)


async def bare_pool(target: Target, n: int, concurrency: int) -> Run:
    """``concurrency`` workers, a shared counter, two timestamps per task."""
    started, finished = array("d", bytes(8 * n)), array("d", bytes(8 * n))
    next_index = [0]
    clock = time.perf_counter

    async def worker() -> None:
        while (i := next_index[0]) < n:
            next_index[0] = i + 1
            started[i] = clock()
            await target(i)
            finished[i] = clock()

    gc.collect()
    gc.freeze()
    try:
        cpu0 = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu1 = time.process_time()
    finally:
        gc.unfreeze()
    window = max(finished) - min(started)
    return Run(n / window, (cpu1 - cpu0) / n)


async def engine(target: Target, n: int, concurrency: int) -> tuple[Run, float, PerfResult]:
    """The engine's measured window, and the fixed cost of one ``run()`` call (seconds)."""
    began = time.perf_counter()
    result = await AgentPerf().run(target, n=n, concurrency=concurrency, warmup=0)
    wall = time.perf_counter() - began
    assert result.cpu_per_task is not None
    return Run(result.throughput, result.cpu_per_task), wall - result.duration, result


def _median(values: list[float]) -> float:
    return statistics.median(values)


async def engine_vs_pool(n: int, concurrency: int, repeat: int) -> None:
    print(f"1. engine vs a bare worker pool (medians of {repeat}, interleaved)")
    cases: list[tuple[str, Target, int, int]] = [
        ("no-op (never suspends)", noop, n, concurrency),
        ("sleep(0)", yielding, n, concurrency),
        ("sleep(50ms), concurrency 100", llm_call, max(2000, n // 25), 100),
    ]
    for label, target, count, workers in cases:
        pool: list[Run] = []
        eng: list[Run] = []
        fixed: list[float] = []
        harness: list[float] = []
        for _ in range(repeat):
            pool.append(await bare_pool(target, count, workers))
            run, overhead, result = await engine(target, count, workers)
            eng.append(run)
            fixed.append(overhead)
            harness.append(result.harness_cpu_per_task or 0.0)
        p_rate, e_rate = _median([r.rate for r in pool]), _median([r.rate for r in eng])
        p_cpu, e_cpu = _median([r.cpu for r in pool]), _median([r.cpu for r in eng])
        print(
            f"   {label:<30} pool {p_rate:>9,.0f}/s {p_cpu * 1e6:6.1f}µs CPU/task | engine "
            f"{e_rate:>9,.0f}/s {e_cpu * 1e6:6.1f}µs CPU/task | engine/pool rate "
            f"{e_rate / p_rate:.2f}, +{(e_cpu - p_cpu) * 1e6:.1f}µs CPU/task; its own "
            f"attribution {_median(harness) * 1e6:.1f}µs; run() outside its window "
            f"{_median(fixed) * 1e3:.0f}ms"
        )


def _burn(seconds: float) -> None:
    """Spin until this thread has used ``seconds`` more CPU (exact under contention)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def attribution(repeat: int) -> None:
    target_burn, factory_burn = 1e-3, 300e-6  # as in tests/engine/test_cpu.py

    async def burner(payload: Any) -> None:
        _burn(target_burn)
        await asyncio.sleep(0)

    def task(i: int) -> int:
        _burn(factory_burn)
        return i

    agent, harness, process = [], [], []
    for _ in range(repeat):
        r = await AgentPerf().run(burner, tasks=task, n=1000, concurrency=8)
        assert r.agent_cpu_per_task is not None
        assert r.harness_cpu_per_task is not None
        agent.append(r.agent_cpu_per_task / target_burn)
        harness.append(r.harness_cpu_per_task / factory_burn)
        process.append((r.cpu_per_task or 0.0) * 1e6)
    print(
        f"2. CPU attribution, the target burns 1ms and the task factory 300µs per task "
        f"(medians of {repeat}): process {_median(process):.0f}µs/task; agent share / "
        f"1ms = {_median(agent):.3f} (range {min(agent):.3f}-{max(agent):.3f}); harness "
        f"share / 300µs = {_median(harness):.3f} (range {min(harness):.3f}-{max(harness):.3f})"
    )


async def improved_agent(n: int) -> None:
    try:
        from pytest_agentperf.mockllm import Fixed, MockLLM
        from reference_agent import ImprovedAgent
    except ImportError as exc:  # parts built in parallel
        print(f"3. ImprovedAgent benchmark skipped: {exc}")
        return
    mock = MockLLM(latency=Fixed("50ms"), seed=1)
    agent = ImprovedAgent(base_url=mock.base_url, concurrency=100, transport=mock.httpx_transport())
    async with agent:
        perf = AgentPerf(mock=mock)
        r = await perf.run(agent, tasks=lambda i: f"question {i}", n=n, concurrency=100, warmup=300)
    eff = "n/a" if r.efficiency is None else f"{r.efficiency:.3f}"
    parts = ", ".join(f"{k} {v * 1e6:.0f}µs" for k, v in r.selfcheck.harness_cpu.items())
    capacity = r.capacity_per_core or 0.0
    print(
        f"3. ImprovedAgent, concurrency 100, mock Fixed 50ms (transport): "
        f"{r.throughput:,.0f}/s, efficiency {eff}, p50 {r.latency.p50 * 1e3:.1f}ms, "
        f"p99 {r.latency.p99 * 1e3:.1f}ms, errors {r.errors or 'none'}\n"
        f"   CPU {(r.cpu_per_task or 0) * 1e6:.0f}µs/task ({r.selfcheck.cpu_percent:.0f}% of a "
        f"core): harness {(r.harness_cpu_per_task or 0) * 1e6:.0f}µs ({parts}), agent "
        f"{(r.agent_cpu_per_task or 0) * 1e6:.0f}µs: capacity ~{capacity:,.0f}/s per core"
    )
    for finding in r.findings:
        print(f"   finding: {finding}")
    for warning in r.warnings:
        print(f"   self-check doubt: {warning}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--agent-n", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(engine_vs_pool(args.n, args.concurrency, args.repeat))
    asyncio.run(attribution(args.repeat))
    asyncio.run(improved_agent(args.agent_n))


if __name__ == "__main__":
    main()
