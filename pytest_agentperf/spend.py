"""What one task spends on LLM calls: the per-task slot the mock writes into, and prices.

The load engine gives each worker coroutine one :class:`TaskSpend` (a context variable,
set once per worker) and zeroes it before each task; the mock LLM reads the variable in
``MockCore.plan()`` on every front end and adds each call it answers -- its tokens, its
cost, whether it repeats an earlier request of the task (a retry) or carries the results
of the tool calls the task's previous reply asked for (a tool round). Whatever the task
awaits, and every asyncio task it creates, inherits the context and so the slot; an agent
that runs work in tasks created elsewhere (a worker pool started before the run) must run
it in the submitter's context (``contextvars.copy_context()`` at submit, as
``reference_agent.BaseAgent`` does). A call made outside any task is counted apart by the
mock ("unattributed").

Over real sockets (``MockLLM.serve()``) the context does not cross the connection: an
agent may send :func:`task_headers` with its requests, and the server finds the slot by
that header.

This module is in the foundation layer so that the engine (which sets the slot) and the
mock (which fills it) share it without importing each other.
"""

from __future__ import annotations

import contextvars
import fnmatch
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "TASK_HEADER",
    "ModelPrice",
    "Prices",
    "TaskSpend",
    "current_spend",
    "spend_for_header",
    "task_headers",
]

#: The request header that carries a task's slot key over real sockets (``serve()``).
TASK_HEADER = "x-agentperf-task"
PER_MILLION = 1e-6

_CURRENT: contextvars.ContextVar[TaskSpend | None] = contextvars.ContextVar(
    "agentperf_task_spend", default=None
)
_BY_KEY: weakref.WeakValueDictionary[str, TaskSpend] = weakref.WeakValueDictionary()

#: ``_CURRENT.get``: the slot of the task running in this context, or ``None``.
current_spend = _CURRENT.get


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """What one model costs, per million tokens, in the table's currency."""

    input: float
    output: float


@dataclass(frozen=True, eq=False)  # hashable by identity (its models are a mapping)
class Prices:
    """A price table: ``models`` by name (a key may be a pattern: ``"gpt-4o-mini*"``).

    An exact name wins over a pattern; among patterns the longest wins. Nothing here is a
    real price: the table is the user's (``[tool.agentperf.prices]``).
    """

    currency: str
    models: Mapping[str, ModelPrice]
    _resolved: dict[str, ModelPrice | None] = field(default_factory=dict, compare=False, repr=False)

    def price_of(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or ``None`` when the table has none."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        price = self.models.get(model)
        if price is None:
            patterns = sorted((k for k in self.models if "*" in k), key=len, reverse=True)
            key = next((k for k in patterns if fnmatch.fnmatchcase(model, k)), None)
            price = self.models[key] if key is not None else None
        if len(self._resolved) < 1024:
            self._resolved[model] = price
        return price

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float | None:
        """What a call to ``model`` with these tokens costs; ``None`` when it has no price."""
        price = self.price_of(model)
        if price is None:
            return None
        return (tokens_in * price.input + tokens_out * price.output) * PER_MILLION


class TaskSpend:
    """The LLM calls of the task running in one worker (zeroed by :meth:`begin`).

    The mock calls :meth:`call` for every request that reaches an LLM endpoint and
    :meth:`answered` for every answer it plans; :meth:`stream_sent` when a streamed answer
    is over. Everything is a plain attribute: the engine reads them after the task.
    """

    __slots__ = (
        "__weakref__",
        "calls",
        "cost",
        "decode_time",
        "decode_tokens",
        "itls",
        "key",
        "prices",
        "retries",
        "seen",
        "tokens_in",
        "tokens_out",
        "tool_pending",
        "tool_rounds",
        "unpriced",
    )

    def __init__(self, prices: Prices | None = None) -> None:
        self.prices = prices
        self.key = f"{id(self):x}"
        self.seen: set[int] = set()
        self.itls: list[float] = []
        self.unpriced: set[str] = set()
        self.begin()

    def begin(self) -> None:
        """A new task starts in this worker: zero every figure."""
        self.calls = self.retries = self.tool_rounds = 0
        self.tokens_in = self.tokens_out = self.decode_tokens = 0
        self.cost = self.decode_time = 0.0
        self.tool_pending = False
        self.seen.clear()
        self.itls.clear()

    def install(self) -> None:
        """Make this the slot of the current context (a worker coroutine), and of its key."""
        _CURRENT.set(self)
        _BY_KEY[self.key] = self

    def call(self, body_key: int) -> None:
        """A request reached an LLM endpoint; ``body_key`` identifies its body (a hash).

        A request whose body equals an earlier one of the same task is a retry.
        """
        self.calls += 1
        seen = self.seen
        if body_key in seen:
            self.retries += 1
        else:
            seen.add(body_key)

    def answered(
        self, model: str, tokens_in: int, tokens_out: int, tools: bool, carries_results: bool
    ) -> None:
        """The mock answers: with ``tools`` (tool calls) or not; the request carried results.

        A tool round is a reply with tool calls followed by a request that carries the
        results (``carries_results`` is only asked for while one is pending).
        """
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        if carries_results:
            self.tool_rounds += 1
            self.tool_pending = False
        if tools:
            self.tool_pending = True
        prices = self.prices
        if prices is not None:
            cost = prices.cost(model, tokens_in, tokens_out)
            if cost is None:
                self.unpriced.add(model)
            else:
                self.cost += cost

    def stream_sent(self, first: float, last: float, tokens: int) -> None:
        """A streamed answer sent ``tokens`` token chunks, the first at ``first``, the last
        at ``last`` (seconds, any clock): its inter-token latency and decode figures."""
        if tokens > 1:
            span = last - first
            self.itls.append(span / (tokens - 1))
            self.decode_tokens += tokens - 1
            self.decode_time += span


def spend_for_header(value: str | None) -> TaskSpend | None:
    """The slot whose key a request's :data:`TASK_HEADER` carries (``serve()``), if live."""
    return _BY_KEY.get(value) if value else None


def task_headers() -> dict[str, str]:
    """Headers that attribute a request to the current task over real sockets.

    ``{"x-agentperf-task": "..."}`` inside a task the load engine runs, ``{}`` elsewhere.
    Add them to the requests an agent sends to ``mock_llm.serve()`` (the in-process front
    ends need nothing: they read the task from the context).
    """
    spend = _CURRENT.get()
    return {TASK_HEADER: spend.key} if spend is not None else {}
