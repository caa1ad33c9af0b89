"""The protocols between the parts, one copy each.

The engine drives whatever satisfies these; the memory tracker, the mock LLM, the
progress line and any agent implement them without the engine importing them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from pytest_agentperf.result import MemoryReport

__all__ = [
    "AgentLike",
    "MockStatsSource",
    "ProgressSink",
    "ReplicableMock",
    "ReplicableSampler",
    "RoundSampler",
    "WorkerMock",
]


class RoundSampler(Protocol):
    """Memory sampling between rounds of a workload (``pytest_agentperf.memory``).

    ``plan(n)`` gives the rounds as ``(size, is_warmup)``; ``sample`` is called after each
    round; ``diagnostic_round`` may return a context to run one more round in (a leak
    diagnosis); ``report`` gives the fitted growth.
    """

    def plan(self, n_tasks: int) -> list[tuple[int, bool]]: ...
    def sample(self, tasks_done: int, *, warmup: bool) -> None: ...
    def diagnostic_round(self) -> AbstractContextManager[None] | None: ...
    def report(self) -> MemoryReport: ...


class ProgressSink(Protocol):
    """Receives live progress from the load engine; every call must be cheap."""

    def start(self, name: str, total: int | None) -> None: ...
    def update(self, done: int, rate: float, p95: float | None) -> None: ...
    def finish(self) -> None: ...


class MockStatsSource(Protocol):
    """Anything with ``stats().injected_latency_total`` (a ``MockLLM``).

    ``stats().harness_cpu``, when present, is the CPU seconds the mock has spent in this
    process so far (cumulative, like the injected latency): the engine charges it to the
    harness, not the agent. A mock in another process reports 0 (or nothing).
    """

    def stats(self) -> Any: ...


class WorkerMock(Protocol):
    """The mock a worker process builds from a :class:`ReplicableMock`'s recipe."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def stats(self) -> Any: ...


@runtime_checkable
class ReplicableMock(Protocol):
    """A mock that worker processes can rebuild (``agent_perf.run(..., processes=N)``).

    ``replica(seed)`` returns a picklable callable that builds, in the worker, a mock with
    the same configuration and the given seed; ``absorb(stats)`` adds a replica's final
    ``stats()`` to this mock's counters, so the test reads every call in one place.
    """

    def stats(self) -> Any: ...
    def replica(self, seed: int) -> Callable[[], WorkerMock]: ...
    def absorb(self, stats: Any) -> None: ...


@runtime_checkable
class ReplicableSampler(Protocol):
    """A memory sampler that worker processes can rebuild: ``replica()`` returns a
    picklable callable that builds a sampler with the same settings in the worker."""

    def replica(self) -> Callable[[], RoundSampler]: ...


@runtime_checkable
class AgentLike(Protocol):
    """An agent the engine drives through its public API (``reference_agent.BaseAgent`` and
    any agent with the same three methods): ``run(payload)`` submits a task and waits for
    its result, whose ``status.name`` is ``"COMPLETED"`` on success."""

    async def submit(self, task: Any) -> Any: ...
    async def run(self, task: Any) -> Any: ...
    def statistics(self) -> Any: ...
