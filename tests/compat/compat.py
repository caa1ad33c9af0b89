"""What every stack's test checks: the agent reached the mock, the counts add up, TTFT is real.

Every test drives the same small support agent, written as the stack's docs write it and
built with no injection: a plain chat call, a streamed call (``first_token()`` on the first
text delta), and one tool round ("where is my order?" -> ``lookup_order`` -> the answer).
The mock is configured the same way for all of them.
"""

from __future__ import annotations

from typing import Any

from pytest_agentperf import MockLLM, PerfResult, Script, ToolCall

TTFT = 0.020  # seconds; every stream's first token comes no sooner
N = 6  # tasks per run: small, the frameworks cost milliseconds of CPU per call
CONCURRENCY = 3
HELLO = "Hello, can you help me?"
ORDER = "Where is my order A-1234?"
ANSWER = "Your order A-1234 has shipped."
ORDER_ARGS = {"order_id": "A-1234"}


def lookup_order(order_id: str) -> str:
    """Look up the shipping status of an order."""
    return f"order {order_id}: shipped"


def configure(mock_llm: MockLLM) -> None:
    """Timing and the scripted tool round, the same for every stack."""
    mock_llm.configure(
        ttft=TTFT,
        itl="1ms",
        output_tokens=8,
        replies=[
            Script(lambda r: r.last_role == "tool", ANSWER),
            Script("order A-1234", ToolCall("lookup_order", ORDER_ARGS)),
        ],
    )


def check(
    result: PerfResult,
    mock_llm: MockLLM,
    *,
    calls_per_task: int,
    endpoints: dict[str, int] | None = None,
    tool_rounds: int = 1,
) -> None:
    """The run reached the mock only, every call counted once, and TTFT was measured."""
    stats = mock_llm.stats()
    made = N * calls_per_task
    assert result.failed == 0, f"tasks failed: {result.errors}"
    assert result.completed == N
    assert stats.blocked == {}, f"requests left for unmocked hosts: {stats.blocked}"
    assert stats.not_found == 0, f"unknown routes: {stats.not_found_by_route}"
    assert stats.calls == made, f"the mock served {stats.calls} calls, the agent made {made}"
    assert stats.by_status == {200: made}
    if endpoints is not None:
        assert stats.by_endpoint == {k: v * N for k, v in endpoints.items()}
    assert result.ttft is not None, "no first token was marked"
    assert result.ttft.p50 >= TTFT, f"TTFT p50 {result.ttft.p50:.4f}s is below the mock's {TTFT}s"
    assert result.ttft.p50 < result.latency.p50
    # what each task spent: every call attributed to its task through the stack's own
    # clients and tasks, and its tool rounds (a forced tool call whose result is never sent
    # back, as in structured output, is none)
    spend = result.llm
    assert spend is not None
    assert spend.unattributed_calls == 0, f"{spend.unattributed_calls} calls outside any task"
    assert (spend.calls.p50, spend.calls.max) == (calls_per_task, calls_per_task)
    rounds = spend.tool_rounds.total
    assert rounds == tool_rounds * N, f"tool rounds {rounds:g}, expected {tool_rounds * N}"


def tool_schema() -> dict[str, Any]:
    """``lookup_order``'s parameters as JSON Schema."""
    return {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    }
