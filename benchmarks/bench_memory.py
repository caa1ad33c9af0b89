"""Validation of the memory-growth measurement (issue 7): catches leaks, never cries wolf.

    /tmp/venv/bin/python benchmarks/bench_memory.py [--runs 20] [--tasks 5000]

1. A test agent that keeps 1 KiB per task is caught within 5,000 tasks.
2. A clean agent gives no false alarm in 20 repeated runs (and how far it stays from the
   thresholds: its largest bytes growth and block slope).
3. The sampler adds <= 2% to the run time (runs with and without sampling, alternated).
4. The same through the load engine and the mock LLM: ``AgentPerf(memory=tracker).run(...)``.

Figures are preliminary when the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from pytest_agentperf.memory import MemoryTracker
from pytest_agentperf.result import MemoryReport

Work = Callable[[int], Awaitable[object]]


class Agent:
    """An LLM-style agent over an httpx client: builds a prompt, calls, parses the reply."""

    def __init__(self, client: httpx.AsyncClient, leak: int = 0) -> None:
        self.client = client
        self.leak = leak
        self.kept: list[bytes] = []

    async def __call__(self, i: int) -> object:
        messages = [{"role": "user", "content": f"ticket {i}: " + "please help " * (i % 40)}]
        response = await self.client.post(
            "/v1/chat/completions", json={"model": "m", "messages": messages}
        )
        reply = response.json()["choices"][0]["message"]["content"]
        if self.leak:
            self.kept.append(bytes(self.leak))
        return len(reply)


def _transport() -> httpx.AsyncBaseTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        text = "sure " * (10 + len(body["messages"][0]["content"]) % 50)
        return httpx.Response(200, json={"choices": [{"message": {"content": text}}]})

    return httpx.MockTransport(handle)


async def _round(work: Work, start: int, size: int, concurrency: int) -> None:
    indices = iter(range(start, start + size))

    async def worker() -> None:
        for i in indices:
            await work(i)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, size))))


async def measured(work: Work, tracker: MemoryTracker, n: int, conc: int) -> MemoryReport:
    return await tracker.track(work, n=n, concurrency=conc)


async def unmeasured(work: Work, tracker: MemoryTracker, n: int, conc: int) -> None:
    """The same rounds, without sampling (the baseline of the overhead figure)."""
    start = 0
    for size, _ in tracker.plan(n):
        await _round(work, start, size, conc)
        start += size


async def leak_check(n: int) -> None:
    async with httpx.AsyncClient(transport=_transport(), base_url="http://mock") as client:
        agent = Agent(client, leak=1024)
        report = await measured(agent, MemoryTracker(), n, 32)
    print(f"[1] 1 KiB/task agent, {n} tasks: leak={report.leak}")
    print("    " + report.describe().replace("\n", "\n    "))


async def false_alarms(runs: int, n: int) -> None:
    alarms, growth, blocks, per_task = 0, [], [], []
    async with httpx.AsyncClient(transport=_transport(), base_url="http://mock") as client:
        for _ in range(runs):
            report = await measured(Agent(client), MemoryTracker(), n, 32)
            alarms += report.leak
            growth.append(report.growth_bytes)
            blocks.append(report.blocks_per_task)
            per_task.append(report.per_task_bytes)
            if report.leak:
                print("    FALSE ALARM:\n    " + report.describe().replace("\n", "\n    "))
    print(f"[2] clean agent, {runs} runs x {n} tasks: false alarms {alarms}/{runs}")
    print(
        f"    bytes growth max {max(growth) / 1024:.1f} KiB (threshold 256 KiB), "
        f"median {statistics.median(growth) / 1024:.1f} KiB; "
        f"blocks/task max {max(blocks):.4f} (threshold 0.05)"
    )


async def overhead(n: int, pairs: int) -> None:
    with_s, without, sampling = [], [], []
    async with httpx.AsyncClient(transport=_transport(), base_url="http://mock") as client:
        agent = Agent(client)
        await unmeasured(agent, MemoryTracker(), n, 32)  # warm the process
        for _ in range(pairs):
            t0 = time.perf_counter()
            await unmeasured(agent, MemoryTracker(), n, 32)
            t1 = time.perf_counter()
            tracker = MemoryTracker(diagnose=False)
            report = await measured(agent, tracker, n, 32)
            t2 = time.perf_counter()
            without.append(t1 - t0)
            with_s.append(t2 - t1)
            sampling.append(report.sampling_seconds)
    base, meas = statistics.median(without), statistics.median(with_s)
    print(
        f"[3] overhead, {pairs} alternated pairs x {n} tasks: run {base * 1e3:.0f} ms without, "
        f"{meas * 1e3:.0f} ms with sampling -> {100 * (meas - base) / base:+.1f}% (medians); "
        f"time inside the sampler {statistics.median(sampling) * 1e3:.1f} ms/run "
        f"= {100 * statistics.median(sampling) / base:.1f}% of the run"
    )


async def through_engine(n: int, runs: int) -> None:
    try:
        from pytest_agentperf.engine.runner import AgentPerf
        from pytest_agentperf.mockllm import MockLLM
    except ImportError as exc:  # pragma: no cover - built in parallel
        print(f"[4] skipped: {exc}")
        return
    mock = MockLLM(seed=1)
    results: list[tuple[str, Any]] = []
    async with httpx.AsyncClient(transport=mock.httpx_transport(), base_url=mock.base_url) as c:

        async def call(i: int) -> object:
            r = await c.post(
                "/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": f"ticket {i}"}]},
            )
            return r.status_code

        kept: list[bytes] = []

        async def leaky(i: int) -> object:
            kept.append(bytes(1024))
            return await call(i)

        for name, target in [("clean", call)] * runs + [("1 KiB/task", leaky)]:
            tracker = MemoryTracker(reset=[mock.reset_history])
            perf = AgentPerf(memory=tracker, mock=mock)
            result = await perf.run(target, n=n, concurrency=32)
            results.append((name, result))
    for name, result in results:
        m = result.memory
        print(
            f"[4] engine+mock {name:>10}: {result.completed} ok/{result.failed} failed, "
            f"{result.throughput:.0f}/s, leak={m.leak}, {m.per_task_bytes:,.0f} B/task "
            f"(CI {m.per_task_ci[0]:,.0f}..{m.per_task_ci[1]:,.0f}), "
            f"{m.blocks_per_task:+.4f} blocks/task, sampler {m.sampling_seconds * 1e3:.0f} ms"
        )
    leaky_report = results[-1][1].memory
    if leaky_report.diagnosis:
        print("    " + leaky_report.diagnosis.replace("\n", "\n    "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(leak_check(args.tasks))
    asyncio.run(false_alarms(args.runs, args.tasks))
    asyncio.run(overhead(args.tasks, args.pairs))
    asyncio.run(through_engine(args.tasks, 5))


if __name__ == "__main__":
    main()
