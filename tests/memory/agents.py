"""Small synthetic agents and a hand-written async loop (independent of the load engine)."""

from __future__ import annotations

import asyncio
import json

from pytest_agentperf.memory import MemoryTracker
from pytest_agentperf.result import MemoryReport


class CleanAgent:
    """Does some allocation-heavy work per task and keeps nothing."""

    async def process(self, i: int) -> int:
        await asyncio.sleep(0)
        message = {"id": i, "messages": [{"role": "user", "content": "q" * (50 + i % 500)}]}
        return len(json.loads(json.dumps(message))["messages"][0]["content"])


class LeakyAgent(CleanAgent):
    """Keeps ``leak`` bytes per task forever."""

    def __init__(self, leak: int = 1024) -> None:
        self.kept: list[bytes] = []
        self.leak = leak

    async def process(self, i: int) -> int:
        result = await super().process(i)
        self.kept.append(bytes(self.leak))  # LEAK-LINE
        return result


class HistoryAgent(CleanAgent):
    """Keeps per-call history, like a mock's call log, until ``reset`` is called."""

    def __init__(self) -> None:
        self.history: list[bytes] = []

    async def process(self, i: int) -> int:
        result = await super().process(i)
        self.history.append(bytes(1024))
        return result

    def reset(self) -> None:
        self.history.clear()


async def drive(
    agent: CleanAgent, tracker: MemoryTracker, n: int, concurrency: int = 8
) -> MemoryReport:
    """What the load engine does with a RoundSampler, in a dozen lines."""
    plan = tracker.plan(n)
    tracker.sample(0, warmup=True)
    done = 0

    async def run(count: int) -> None:
        nonlocal done
        indices = iter(range(done, done + count))

        async def worker() -> None:
            for i in indices:
                await agent.process(i)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
        done += count

    for size, warm in plan:
        await run(size)
        tracker.sample(done, warmup=warm)
    diagnostic = tracker.diagnostic_round()
    if diagnostic is not None:
        with diagnostic:
            await run(plan[-1][0])
    return tracker.report()
