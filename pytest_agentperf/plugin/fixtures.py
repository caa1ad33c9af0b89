"""The fixtures: ``agent_perf``, ``mock_llm``, ``memory_tracker`` and ``async_benchmark``.

All are synchronous fixtures, so they work in sync tests (``agent_perf.run_sync``) and in
async tests under pytest-asyncio's strict and auto modes alike. ``agent_perf`` is what the
plugin reads at the end of the test: every result it recorded is checked against the
test's budgets. ``async_benchmark`` needs pytest-benchmark (the ``benchmark`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_agentperf.engine.asyncbench import AsyncBenchmark, make_async_benchmark
from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.memory import MemoryTracker
from pytest_agentperf.mockllm import MockLLM
from pytest_agentperf.plugin.markers import SPEC_KEY, PerfSpec
from pytest_agentperf.plugin.settings import SETTINGS_KEY, Settings
from pytest_agentperf.report.progress import make_progress

__all__ = [
    "PERF_KEY",
    "agent_perf",
    "async_benchmark",
    "memory_tracker",
    "mock_llm",
]

PERF_KEY = pytest.StashKey[AgentPerf]()
BENCHMARK_MISSING = (
    "async_benchmark needs pytest-benchmark, which is not installed: "
    "pip install 'pytest-agentperf[benchmark]'."
)


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
    perf = AgentPerf(
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
    mock = _mock(request)
    return MemoryTracker(reset=[mock.reset_history] if mock is not None else [])


@pytest.fixture
def async_benchmark(request: pytest.FixtureRequest) -> AsyncBenchmark:
    """pytest-benchmark for coroutines: ``await async_benchmark(coro_fn, *args)``."""
    try:
        benchmark = request.getfixturevalue("benchmark")
    except pytest.FixtureLookupError:
        pytest.fail(BENCHMARK_MISSING, pytrace=False)
    return make_async_benchmark(benchmark)
