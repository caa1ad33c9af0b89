"""What each task spends (spend.py, engine/economics.py): exact against what the mock served.

Here rather than in tests/engine: the memory tests (tests/memory) are sensitive to the heap
that earlier mock traffic leaves, and this file runs after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.engine.stats import percentile
from pytest_agentperf.memory import MemoryTracker
from pytest_agentperf.mockllm import Faults, MockLLM, Script, ToolCall
from pytest_agentperf.spend import ModelPrice, Prices
from pytest_agentperf.verdict.budgets import evaluate, parse_budget
from reference_agent import BaseAgent, Task

PRICES = Prices("USD", {"gpt-a": ModelPrice(1.5, 6.0), "gpt-b": ModelPrice(10.0, 30.0)})
SCRIPT = [
    Script(lambda r: r.last_role == "tool", "Done."),
    Script("tool", ToolCall("lookup", {"id": 1})),
]


class Workload:
    """Task ``i`` makes ``i % 3 + 1`` chat calls (task 3k+2 through a tool round), each
    model in turn, repeating any 429 with the same body; records what the client received."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.per_task: dict[int, dict[str, float]] = {}

    async def post(self, body: dict[str, Any], spent: dict[str, float]) -> dict[str, Any]:
        while True:
            response = await self.client.post("/chat/completions", json=body)
            spent["calls"] += 1
            if response.status_code != 429:
                break
            spent["retries"] += 1
        data: dict[str, Any] = response.json()
        usage = data["usage"]
        spent["in"] += usage["prompt_tokens"]
        spent["out"] += usage["completion_tokens"]
        prices = PRICES.models[body["model"]]
        spent["cost"] += (usage["prompt_tokens"] * prices.input) / 1e6
        spent["cost"] += (usage["completion_tokens"] * prices.output) / 1e6
        return data

    async def __call__(self, i: int) -> None:
        spent = dict.fromkeys(("calls", "retries", "in", "out", "cost", "rounds"), 0.0)
        self.per_task[i] = spent
        messages: list[dict[str, Any]] = [{"role": "user", "content": f"question {i} " * (i % 5)}]
        for k in range(i % 3 + 1):
            model = "gpt-a" if k % 2 == 0 else "gpt-b"
            if i % 3 == 2 and k == 1:
                messages.append({"role": "user", "content": "use a tool"})
            data = await self.post({"model": model, "messages": messages}, spent)
            message = data["choices"][0]["message"]
            messages.append({"role": "assistant", "content": message.get("content") or ""})
            for call in message.get("tool_calls") or ():
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": "ok"})
                spent["rounds"] += 1


@contextlib.asynccontextmanager
async def started(**settings: Any) -> AsyncIterator[tuple[MockLLM, Workload]]:
    settings = {"latency": "1ms", "output_tokens": (3, 9), "replies": SCRIPT, **settings}
    async with MockLLM(**settings) as mock, httpx.AsyncClient(base_url=mock.base_url) as client:
        yield mock, Workload(client)


def column(work: Workload, key: str) -> list[float]:
    return sorted(spent[key] for spent in work.per_task.values())


@pytest.mark.asyncio
async def test_calls_tokens_rounds_retries_and_cost_equal_what_the_mock_served() -> None:
    async with started(faults=Faults(rate_limit=0.05)) as (mock, work):
        perf = AgentPerf(mock=mock, prices=PRICES)
        result = await perf.run(work, n=90, concurrency=8, warmup=6)
        stats = mock.stats()
    spend = result.llm
    assert spend is not None
    warmup_calls = sum(s["calls"] for k, s in work.per_task.items() if k < 6)
    measured = {k: v for k, v in work.per_task.items() if k >= 6}  # the warm-up's are apart
    work.per_task = measured
    totals = {key: sum(s[key] for s in measured.values()) for key in ("calls", "in", "out")}
    assert spend.tasks == 90
    assert spend.retries.total == sum(column(work, "retries")) > 0  # the 429s, repeated
    assert spend.calls.total == totals["calls"] == 180 + spend.retries.total  # (1+2+3) x 30
    assert spend.tokens_in.total == totals["in"]
    assert spend.tokens_out.total == totals["out"]
    assert spend.tokens.total == totals["in"] + totals["out"]
    assert spend.tool_rounds.total == sum(column(work, "rounds")) == 30
    assert spend.cost is not None
    assert spend.cost.total == pytest.approx(sum(column(work, "cost")), rel=1e-9)
    assert spend.unattributed_calls == 0
    assert stats.calls == spend.calls.total + warmup_calls
    for figure, key in (("calls", "calls"), ("tokens_in", "in"), ("tool_rounds", "rounds")):
        values = column(work, key)
        dist = getattr(spend, figure)
        assert dist.mean == sum(values) / 90
        assert (dist.p50, dist.p95, dist.max) == (
            percentile(values, 0.5),
            percentile(values, 0.95),
            values[-1],
        )


@pytest.mark.asyncio
async def test_the_same_seeded_run_spends_exactly_the_same_at_any_concurrency() -> None:
    # A fixed output length: with a range, each call draws its length in arrival order, and
    # this conversation sends the replies back, so its prompts would vary with concurrency.
    means = []
    for concurrency in (1, 16):
        faults = Faults(rate_limit=0.05)
        async with started(seed=7, faults=faults, output_tokens=6) as (mock, work):
            # warmup=0: the default warm-up grows with concurrency and takes the first
            # payloads, so the measured tasks would differ
            result = await AgentPerf(mock=mock, prices=PRICES).run(
                work, n=60, concurrency=concurrency, warmup=0
            )
        assert result.llm is not None
        spend = result.llm
        means.append((spend.calls.mean, spend.tokens.mean, spend.tool_rounds.mean))
    assert means[0] == means[1]


class PoolAgent:
    """Runs work in workers started before the run, without the submitter's context."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.queue: asyncio.Queue[tuple[int, asyncio.Future[None]]] = asyncio.Queue()
        self.workers = [asyncio.create_task(self.worker()) for _ in range(4)]

    async def worker(self) -> None:
        while True:
            _, done = await self.queue.get()
            for _ in range(2):
                await self.client.post("/chat/completions", json={"model": "gpt-a", "messages": []})
            done.set_result(None)

    async def __call__(self, i: int) -> None:
        done = asyncio.get_running_loop().create_future()
        await self.queue.put((i, done))
        await done


@pytest.mark.asyncio
async def test_calls_outside_any_task_keep_the_means_exact_and_say_so() -> None:
    async with started() as (mock, work):
        agent = PoolAgent(work.client)
        result = await AgentPerf(mock=mock, prices=PRICES).run(agent, n=40, concurrency=4)
        for task in agent.workers:
            task.cancel()
    spend = result.llm
    assert spend is not None
    assert spend.unattributed_calls == 80
    assert (spend.calls.total, spend.calls.mean) == (80, 2.0)
    assert spend.calls.p50 is None  # no per-task spread without the context
    assert spend.cost is not None
    assert spend.cost.total > 0
    assert "ran outside any task" in spend.notes()[0]


class TwoCalls(BaseAgent):
    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(concurrency=4)
        self.client = client

    async def process_task(self, task: Task) -> None:
        for _ in range(2):
            await self.client.post("/chat/completions", json={"model": "gpt-a", "messages": []})


@pytest.mark.asyncio
async def test_a_base_agent_runs_each_task_in_its_submitters_context() -> None:
    async with started() as (mock, work), TwoCalls(work.client) as agent:
        result = await AgentPerf(mock=mock).run(agent, n=40, concurrency=8)
    spend = result.llm
    assert spend is not None
    assert spend.unattributed_calls == 0
    assert (spend.calls.p50, spend.calls.max, spend.calls.mean) == (2, 2, 2)
    assert spend.cost is None
    assert spend.currency == ""


@pytest.mark.asyncio
async def test_a_model_without_a_price_leaves_the_cost_unmeasured() -> None:
    async with started() as (mock, work):

        async def task(i: int) -> None:
            await work.client.post("/chat/completions", json={"model": "gpt-z", "messages": []})

        result = await AgentPerf(mock=mock, prices=PRICES).run(task, n=5)
    assert result.llm is not None
    assert result.llm.cost is None
    assert result.llm.unpriced == ("gpt-z",)
    assert "no price for model(s) gpt-z" in result.llm.notes()[-1]


@pytest.mark.asyncio
async def test_without_a_mock_nothing_is_measured_or_wrapped() -> None:
    async def task(i: int) -> None:
        await asyncio.sleep(0)

    result = await AgentPerf().run(task, n=5)
    assert result.llm is None


@pytest.mark.asyncio
async def test_streamed_replies_give_inter_token_latency_and_output_rate() -> None:
    async with started(ttft="2ms", itl="1ms", output_tokens=10, latency=None) as (mock, work):

        async def task(i: int) -> None:
            body = {"model": "gpt-a", "messages": [], "stream": True}
            async with work.client.stream("POST", "/chat/completions", json=body) as r:
                async for _ in r.aiter_bytes():
                    pass

        result = await AgentPerf(mock=mock).run(task, n=30, concurrency=4, warmup=0)
    spend = result.llm
    assert spend is not None
    assert spend.itl is not None
    assert spend.streams == spend.itl.count == 30
    assert spend.output_tokens_per_s is not None
    # one figure, two views: tokens per second over the streams is 1 / their mean gap
    assert spend.output_tokens_per_s == pytest.approx(1 / spend.itl.mean, rel=1e-9)
    (check,) = evaluate([parse_budget("itl_p95", "<= 10s", "t")], [result])
    assert check.ok


@pytest.mark.asyncio
async def test_memory_rounds_measure_the_spend_of_their_measured_tasks() -> None:
    async with started(output_tokens=4) as (mock, work):

        async def task(i: int) -> None:
            await work.client.post("/chat/completions", json={"model": "gpt-a", "messages": []})

        tracker = MemoryTracker(rounds=4, warmup_rounds=1)
        perf = AgentPerf(mock=mock, memory=tracker, prices=PRICES)
        result = await perf.run(task, n=200, concurrency=4)
    spend = result.llm
    assert spend is not None
    assert result.memory is not None
    assert spend.tasks == result.total == result.memory.tasks
    assert (spend.calls.total, spend.calls.max) == (result.total, 1)


def test_merged_processes_add_their_spend() -> None:
    from pytest_agentperf.engine.merge import merge
    from tests.factories import make_result, make_spend

    parts = [
        dataclasses.replace(make_result(), llm=make_spend(calls=2, tasks=100)),
        dataclasses.replace(make_result(), llm=make_spend(calls=3, tasks=300, unattributed=4)),
    ]
    spend = merge(parts).llm
    assert spend is not None
    assert (spend.tasks, spend.calls.total, spend.calls.mean) == (400, 1100, 2.75)
    assert (spend.calls.p50, spend.calls.max) == (None, None)  # one part had no spread
    assert spend.unattributed_calls == 4
    assert spend.cost is not None
    assert spend.cost.total == pytest.approx(0.0021 * 400)
    assert merge([parts[0], make_result()]).llm is None  # a process without a mock
