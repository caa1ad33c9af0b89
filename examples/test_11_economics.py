"""11. What a task spends: LLM calls, tokens, tool rounds and cost, budgeted and gated exactly.

A support agent answers "where is my order?" with one tool round: the model asks for
``lookup_order``, the agent runs it and sends the result back, the model answers. That is
two LLM calls and one tool round per task, a few hundred tokens, and a cost from the price
table in this project's ``pyproject.toml`` (``[tool.agentperf.prices]``: made-up numbers
for a made-up model, as an illustration; put your provider's prices in yours).

Against a seeded mock these figures are deterministic: the same code makes the same calls
with the same tokens on any machine, busy or quiet. So the budgets below are exact, and so
is the baseline gate: ``pytest --agentperf --agentperf-save main`` on main, then
``pytest --agentperf --agentperf-compare main --agentperf-compare-fail exact`` on a pull
request fails the test, naming the figure, the moment a change adds a call or grows the
prompt, and the recommendations say what likely grew.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from pytest_agentperf import AgentPerf, MockLLM, Script, ToolCall, budget
from reference_agent import BaseAgent, Task

MODEL = "example-support-model"  # priced in pyproject.toml (an illustration, not a price)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order's shipping status.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]
ORDERS = {f"A-{i:04d}": ("shipped", "delivered", "packed")[i % 3] for i in range(10_000)}


def lookup_order(order_id: str) -> str:
    """The agent's tool: a local lookup (a database call in a real agent)."""
    return json.dumps({"order_id": order_id, "status": ORDERS.get(order_id, "unknown")})


class SupportAgent(BaseAgent):
    """Answers a question with the model, running the tools it asks for (one pooled client).

    Each task runs in the context of the code that submitted it (``BaseAgent`` does that),
    so the load engine attributes every LLM call to its task.
    """

    def __init__(self, base_url: str, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.client = httpx.AsyncClient(base_url=base_url, timeout=10.0)

    async def on_stop(self) -> None:
        await self.client.aclose()

    async def process_task(self, task: Task) -> str:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are a support agent. Use tools for facts."},
            {"role": "user", "content": str(task.payload)},
        ]
        for _ in range(4):  # a bound on tool rounds: a loop must not spend without limit
            body = {"model": MODEL, "messages": messages, "tools": TOOLS, "max_tokens": 64}
            response = await self.client.post("/chat/completions", json=body)
            response.raise_for_status()
            message = response.json()["choices"][0]["message"]
            calls = message.get("tool_calls") or []
            if not calls:
                return str(message["content"])
            messages.append(message)
            for call in calls:
                arguments = json.loads(call["function"]["arguments"])
                result = lookup_order(**arguments)
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        raise RuntimeError("the model kept calling tools")


def question(i: int) -> str:
    return f"Where is my order A-{i % 10_000:04d}?"


def script() -> list[Script]:
    """The model: asked by the user, it calls ``lookup_order``; given the result, it answers.

    Matching on the conversation (not a sequence) keeps every task alike under concurrency.
    """
    return [
        Script(lambda r: r.last_role == "tool", "Your order is on its way."),
        Script(lambda r: r.last_role == "user", ToolCall("lookup_order", {"order_id": "A-0042"})),
    ]


@budget(
    llm_calls_per_task="<= 2",
    tool_rounds_per_task="<= 1",
    tokens_per_task="<= 1k",
    cost_per_task="<= $0.0005",
    error_rate="<= 0%",
)
async def test_what_a_support_task_spends(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency="20ms", replies=script())
    async with SupportAgent(mock_llm.base_url, concurrency=32) as agent:
        result = await agent_perf.run(agent, tasks=question, n=800, concurrency=32, name="support")
    spend = result.llm
    assert spend is not None, "with mock_llm, the engine measures what each task spends"
    # Exact, not approximate: every task made the same two calls, one tool round.
    assert (spend.calls.mean, spend.calls.max, spend.tool_rounds.mean) == (2, 2, 1)
    assert spend.unattributed_calls == 0, "BaseAgent runs each task in its submitter's context"


@budget(cost_per_task="<= $0.0005", error_rate="<= 0%")
async def test_cost_per_task_across_concurrency(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    """A sweep: cost per task against concurrency (the HTML report charts it).

    Flat is healthy. A line that rises with load means retries, timeouts or longer
    conversations under pressure: money spent on congestion.
    """
    mock_llm.configure(latency="20ms", replies=script())
    async with SupportAgent(mock_llm.base_url, concurrency=64) as agent:
        sweep = await agent_perf.sweep(
            agent, concurrency=[4, 16, 64], tasks=question, n=300, saturation=0.0, name="cost"
        )
    costs = [
        step.result.llm.cost.mean
        for step in sweep.steps
        if step.result.llm and step.result.llm.cost
    ]
    assert len(costs) == len(sweep.steps)
    # the same tasks cost the same at any concurrency (sums of floats: to 1e-9)
    assert max(costs) <= min(costs) * (1 + 1e-9), f"the cost per task moved with load: {costs}"
