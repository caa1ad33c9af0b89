"""The fixtures: ``agent_perf``, ``mock_llm``, ``memory_tracker`` and ``async_benchmark``.

All are synchronous fixtures, so they work in sync tests (``agent_perf.run_sync``) and in
async tests under pytest-asyncio's strict and auto modes alike. ``agent_perf`` is what the
plugin reads at the end of the test: every result it recorded is checked against the
test's budgets. The parts they build on are imported when a fixture is first used.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from pytest_agentperf.markers import SPEC_KEY, PerfSpec
from pytest_agentperf.result import PerfResult
from pytest_agentperf.settings import SETTINGS_KEY, Settings

if TYPE_CHECKING:
    from pytest_agentperf.asyncbench import AsyncBenchmark
    from pytest_agentperf.load import AgentPerf
    from pytest_agentperf.memory import MemoryTracker
    from pytest_agentperf.mockllm import MockLLM

__all__ = [
    "PERF_KEY",
    "Figure",
    "Recorder",
    "agent_perf",
    "async_benchmark",
    "memory_tracker",
    "mock_llm",
    "recorder_class",
]


class Recorder(Protocol):
    """What the plugin reads from the ``agent_perf`` fixture."""

    results: list[PerfResult]
    figures: dict[str, Figure]


Figure = int | float | str | bool
PERF_KEY = pytest.StashKey[Recorder]()


@cache
def recorder_class() -> type[AgentPerf]:
    """``AgentPerf`` plus :meth:`record` (for results measured some other way)."""
    from pytest_agentperf.load import AgentPerf

    class AgentPerfFixture(AgentPerf):
        """The ``agent_perf`` fixture: an ``AgentPerf`` whose results the plugin checks."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.figures: dict[str, Figure] = {}

        def note(self, **figures: Figure) -> None:
            """Attach figures the test computed itself (a speedup, a hit ratio) to its report.

            They appear in the summary, the JSON (``figures``) and the HTML report, and
            ``pytest_agentperf_recommendations`` hooks can read them.
            """
            for key, value in figures.items():
                if not isinstance(value, int | float | str | bool):
                    raise TypeError(
                        f"agent_perf.note({key}=...) takes a number, string or bool, "
                        f"not {type(value).__name__}."
                    )
            self.figures.update(figures)

        def record(self, result: PerfResult) -> PerfResult:
            """Add a result measured elsewhere; budgets and reports treat it like a run."""
            if not isinstance(result, PerfResult):
                raise TypeError(
                    f"agent_perf.record() takes a PerfResult, not {type(result).__name__}."
                )
            self.results.append(result)
            return result

    AgentPerfFixture.__qualname__ = AgentPerfFixture.__name__
    return AgentPerfFixture


def _settings(request: pytest.FixtureRequest) -> Settings:
    return request.config.stash.get(SETTINGS_KEY, Settings())


def _spec(request: pytest.FixtureRequest) -> PerfSpec:
    node: pytest.Item = request.node
    return node.stash.get(SPEC_KEY, PerfSpec())


def _mock(request: pytest.FixtureRequest) -> MockLLM | None:
    return request.getfixturevalue("mock_llm") if "mock_llm" in request.fixturenames else None


def _tracker(request: pytest.FixtureRequest, mock: MockLLM | None) -> MemoryTracker:
    if "memory_tracker" in request.fixturenames:
        tracker: MemoryTracker = request.getfixturevalue("memory_tracker")
        return tracker
    from pytest_agentperf.memory import MemoryTracker

    resets = [mock.reset_history] if mock is not None else []
    return MemoryTracker(reset=resets)


@pytest.fixture
def agent_perf(request: pytest.FixtureRequest) -> AgentPerf:
    """Runs workloads (``await agent_perf.run(...)``, ``agent_perf.run_sync(...)``).

    Uses the test's ``mock_llm`` (for efficiency) and, when the test has a memory budget,
    a memory tracker; ``--agentperf-scale`` and ``--agentperf-seed`` apply.
    """
    settings = _settings(request)
    mock = _mock(request)
    memory = _tracker(request, mock) if _spec(request).has_memory_budget else None
    from pytest_agentperf.progress import make_progress

    perf = recorder_class()(
        scale=settings.scale,
        seed=settings.seed,
        mock=mock,
        memory=memory,
        progress=make_progress(request.config),
    )
    request.node.stash[PERF_KEY] = perf
    return perf


@pytest.fixture
def mock_llm(request: pytest.FixtureRequest) -> Iterator[MockLLM]:
    """A started ``MockLLM`` (respx patching httpx), seeded by ``--agentperf-seed``."""
    from pytest_agentperf.mockllm import MockLLM

    seed = _settings(request).seed
    llm = MockLLM() if seed is None else MockLLM(seed=seed)
    llm.start()
    try:
        yield llm
    finally:
        llm.stop()


@pytest.fixture
def memory_tracker(request: pytest.FixtureRequest) -> MemoryTracker:
    """A ``MemoryTracker``; resets the test's ``mock_llm`` history before every sample."""
    from pytest_agentperf.memory import MemoryTracker

    mock = _mock(request)
    return MemoryTracker(reset=[mock.reset_history] if mock is not None else [])


@pytest.fixture
def async_benchmark(benchmark: Any) -> AsyncBenchmark:
    """pytest-benchmark for coroutines: ``await async_benchmark(coro_fn, *args)``."""
    from pytest_agentperf.asyncbench import make_async_benchmark

    return make_async_benchmark(benchmark)
