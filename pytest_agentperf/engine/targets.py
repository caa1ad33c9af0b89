"""What the load engine can drive, and how: target adapters and first-token reporting.

Accepted targets:

* an agent (``reference_agent.BaseAgent`` or anything with its public ``submit``, ``run``
  and ``statistics``: :class:`~pytest_agentperf.protocols.AgentLike`), driven through
  ``run(payload)`` (submit and wait); the returned result's ``status`` tells success
  from failure and its ``timings`` may carry ``first_token`` for streaming tasks;
* any object with ``async def process_task(task)``;
* an async callable ``async def f(payload)`` (or an object whose ``__call__`` is async);
* an async generator function ``async def f(payload): ... yield ...`` (a stream: its first
  item marks the first token).

Everything else is rejected with :class:`~pytest_agentperf.errors.TargetError`.

A target that streams can report its time to first token by calling :func:`first_token`
(also ``agent_perf.mark_first_token()``) when the first token arrives; the engine stores
the earliest mark per task. The call is a no-op outside a measured run.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pytest_agentperf.errors import TargetError
from pytest_agentperf.protocols import AgentLike

__all__ = ["Driver", "adapt_target", "first_token"]

ACCEPTED = (
    "accepted targets are a reference_agent.BaseAgent instance, an object with "
    "'async def process_task(task)', or an async callable 'async def f(payload)'"
)

# One mutable slot per worker coroutine: [first-token time]. NaN = not marked yet.
_SLOT: contextvars.ContextVar[list[float]] = contextvars.ContextVar("agentperf_first_token")

#: Judges an agent's result: ``None`` for success, else an error-type name.
Judge = Callable[[Any], str | None]


def first_token() -> None:
    """Mark "the first token of the current task arrived now" (TTFT reporting).

    Call it from a target (or anything it awaits, including tasks it spawns) while the load
    engine runs it; only the first mark per task counts. Outside a run it does nothing.
    """
    slot = _SLOT.get(None)
    if slot is not None and slot[0] != slot[0]:  # NaN check, cheapest form
        slot[0] = time.perf_counter()


def new_slot() -> list[float]:
    """Give the current context (a worker coroutine) its own first-token slot."""
    slot = [math.nan]
    _SLOT.set(slot)
    return slot


@dataclass(frozen=True, slots=True)
class Driver:
    """How to run one task on a target: ``await call(payload)``.

    ``judge`` (agents only) turns the call's result into ``None`` (success) or an error-type
    name; ``first_token_of`` extracts the first-token delay (seconds after submission).
    Without a judge, a call that returns is a success and one that raises is a failure.
    """

    call: Callable[[Any], Awaitable[Any]]
    kind: str  # "agent", "process_task", "callable", "stream"
    description: str
    judge: Judge | None = None
    first_token_of: Callable[[Any], float] | None = None  # seconds after submission


def adapt_target(target: object) -> Driver:
    """Return the :class:`Driver` for ``target`` or raise :class:`TargetError`."""
    _reject_obvious(target)
    if _is_agent(target):
        run = target.run  # type: ignore[attr-defined]
        if not _is_async_callable(run):
            raise TargetError(
                f"agent_perf.run() cannot drive {_describe(target)}: it looks like an agent "
                "(submit, run, statistics) but its run is not async; make it "
                f"'async def run(self, task)'. ({ACCEPTED}.)"
            )
        return Driver(
            call=run,
            kind="agent",
            description=_describe(target),
            judge=judge_task_result,
            first_token_of=task_result_first_token,
        )
    process = getattr(target, "process_task", None)
    if process is not None:
        if not _is_async_callable(process):
            raise TargetError(
                f"agent_perf.run() cannot drive {_describe(target)}: its process_task is not "
                f"async; make it 'async def process_task(self, task)'. ({ACCEPTED}.)"
            )
        return Driver(call=process, kind="process_task", description=_describe(target))
    if inspect.isasyncgenfunction(target):
        return Driver(call=_consume_stream(target), kind="stream", description=_describe(target))
    if _is_async_callable(target):
        return Driver(call=target, kind="callable", description=_describe(target))  # type: ignore[arg-type]
    if callable(target):
        raise TargetError(
            f"agent_perf.run() cannot drive {_describe(target)}: it is a sync callable, and a "
            "load test needs to await it. Make it 'async def', or wrap it: "
            f"'async def f(payload): return await ...'. ({ACCEPTED}.)"
        )
    raise TargetError(f"agent_perf.run() cannot drive {_describe(target)}: {ACCEPTED}.")


def _reject_obvious(target: object) -> None:
    if inspect.iscoroutine(target):
        name = getattr(target, "__qualname__", "?")
        target.close()  # no "never awaited" warning on top of our error
        raise TargetError(
            f"agent_perf.run() got a coroutine object ({name}(...)), which can run only once: "
            f"pass the function, not its call: run({name}, ...) rather than run({name}(...)). "
            f"({ACCEPTED}.)"
        )
    if inspect.isawaitable(target):
        raise TargetError(
            f"agent_perf.run() got an awaitable {_describe(target)}, which can run only once: "
            f"pass the async function that creates it. ({ACCEPTED}.)"
        )
    if inspect.isclass(target):
        raise TargetError(
            f"agent_perf.run() got the class {target.__qualname__}, not an instance: pass "
            f"{target.__qualname__}(...) (started, e.g. 'async with {target.__qualname__}() as "
            f"agent'). ({ACCEPTED}.)"
        )


def _is_agent(target: object) -> bool:
    """Any agent with the public API the harness drives (:class:`AgentLike`)."""
    return isinstance(target, AgentLike) and all(
        callable(getattr(target, name)) for name in ("submit", "run", "statistics")
    )


def _is_async_callable(obj: object) -> bool:
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(type(obj), "__call__", None)  # noqa: B004
    return not inspect.isfunction(obj) and call is not None and inspect.iscoroutinefunction(call)


def target_name(target: object) -> str:
    """A short name for results: a function's qualified name, else the class name."""
    name = getattr(target, "__qualname__", None) if inspect.isroutine(target) else None
    return str(name) if name else type(target).__name__


def _describe(target: object) -> str:
    if inspect.isroutine(target):
        kind = "an async function" if inspect.iscoroutinefunction(target) else "a sync function"
        return f"{getattr(target, '__qualname__', repr(target))} ({kind})"
    text = repr(target)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (an instance of {type(target).__qualname__})"


def _consume_stream(
    fn: Callable[[Any], AsyncIterator[Any]],
) -> Callable[[Any], Awaitable[None]]:
    async def consume(payload: Any) -> None:
        stream = fn(payload)
        async for _ in stream:
            first_token()
            break
        async for _ in stream:
            pass

    return consume


# -- agents' task results ------------------------------------------------------------------

# The COMPLETED status object last seen: after the first task, success is an identity check.
_COMPLETED: list[object] = [object()]


def judge_task_result(result: Any) -> str | None:
    """``None`` when a task result (``reference_agent.TaskResult`` or alike) completed;
    otherwise the error's type or the status name.

    Called once per task: the common case is one attribute read and an identity check;
    a status is recognised by its name, so any enum with a ``COMPLETED`` member works.
    """
    status = getattr(result, "status", None)
    if status is _COMPLETED[0]:
        return None
    return _judge_other(status, result)


def _judge_other(status: object, result: Any) -> str | None:
    name = getattr(status, "name", None) or str(status)
    if name.upper() == "COMPLETED":
        if hasattr(status, "name"):  # an enum member: the next ones are an identity check
            _COMPLETED[0] = status
        return None
    error = getattr(result, "error", None)
    if isinstance(error, BaseException):
        return type(error).__name__
    if isinstance(error, str) and error and len(error) <= 40 and error.isidentifier():
        return error
    return name.upper()


def task_result_first_token(result: Any) -> float:
    """Seconds from submission to the first token in a ``TaskResult``'s timings, or NaN.

    ``TaskTimings`` holds ``time.monotonic()`` instants; the difference to ``queued`` is
    clock-independent, and the engine adds it to its own submission time.
    """
    timings = getattr(result, "timings", None)
    first = getattr(timings, "first_token", None)
    queued = getattr(timings, "queued", None)
    if isinstance(first, int | float) and isinstance(queued, int | float):
        return max(0.0, float(first) - float(queued))
    return math.nan


@contextlib.asynccontextmanager
async def driving(target: object, driver: Driver) -> AsyncIterator[None]:
    """Around a run: an agent that was never started is started, and stopped afterwards.

    A stopped agent cannot run tasks: that is a :class:`TargetError` up front rather than
    a run in which every task fails.
    """
    state = getattr(getattr(target, "state", None), "name", None)
    if driver.kind != "agent" or state in (None, "RUNNING"):
        yield
        return
    if state != "CREATED":
        raise TargetError(
            f"agent_perf.run() got {driver.description}, which is {state.lower()}: a stopped "
            "agent runs no tasks; create a new one (e.g. 'async with Agent() as agent:')."
        )
    await target.start()  # type: ignore[attr-defined]
    try:
        yield
    finally:
        await target.stop()  # type: ignore[attr-defined]
