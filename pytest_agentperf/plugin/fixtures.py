"""The fixtures: ``agent_perf``, ``mock_llm``, ``memory_tracker`` and ``async_benchmark``.

All are synchronous fixtures, so they work in sync tests (``agent_perf.run_sync``) and in
async tests under pytest-asyncio's strict and auto modes alike. ``agent_perf`` is what the
plugin reads at the end of the test: every result it recorded is checked against the
test's budgets. ``async_benchmark`` needs pytest-benchmark (the ``benchmark`` extra).

``mock_llm`` is built from the suite's options (``--mock-llm-*``, the ``mock_llm_*`` ini
keys) and the test's ``mock_llm`` markers. After the test body, :func:`pytest_runtest_call`
checks what the mock saw: a request to a host that is neither mocked nor allowed, or a
performance test whose workload never reached the mock, fails the test saying so; when
something went wrong, the mock's evidence is noted on the test's report (``mock_*``
figures), where the recommendations read it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from pytest_agentperf.engine.asyncbench import AsyncBenchmark, make_async_benchmark
from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.errors import MockConfigError
from pytest_agentperf.memory import MemoryTracker
from pytest_agentperf.mockllm import DEFAULT_BASE_URL, DEFAULT_HOSTS, MockLLM, MockStats
from pytest_agentperf.plugin.markers import SPEC_KEY, PerfSpec, mock_options
from pytest_agentperf.plugin.settings import SETTINGS_KEY, Settings
from pytest_agentperf.report.progress import make_progress

__all__ = [
    "PERF_KEY",
    "agent_perf",
    "async_benchmark",
    "memory_tracker",
    "mock_llm",
    "pytest_runtest_call",
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
        prices=settings.prices,
        backend=settings.backend,
        ray_address=settings.ray_address,
        ray_address_origin=settings.origin("agentperf_ray_address"),
    )
    request.node.stash[PERF_KEY] = perf
    return perf


@pytest.fixture
def mock_llm(request: pytest.FixtureRequest) -> Iterator[MockLLM]:
    """A started ``MockLLM``: every httpx and httpx2 client reaches it for its hosts.

    Its hosts are ``base_url``'s, OpenAI's and Anthropic's plus those of ``--mock-llm-host``,
    ``mock_llm_hosts`` and ``@pytest.mark.mock_llm(hosts=...)``; other hosts are blocked
    unless allowed; the SDKs' environment is set where the test has not set it; seeded by
    ``--agentperf-seed``.
    """
    settings = _settings(request)
    try:
        options = mock_options(request.node, settings.mock)
        llm = MockLLM(
            base_url=options.base_url or DEFAULT_BASE_URL,
            hosts=(*DEFAULT_HOSTS, *options.hosts),
            allow=options.allow,
            env=dict(options.env),
            seed=settings.seed if settings.seed is not None else 0,
        )
    except MockConfigError as exc:
        pytest.fail(str(exc), pytrace=False)
    llm.start()
    try:
        yield llm
    finally:
        llm.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail a test whose agent left the mock's hosts, or whose workload never reached it."""
    mock = getattr(item, "funcargs", {}).get("mock_llm")
    if not isinstance(mock, MockLLM):
        return (yield)
    try:
        outcome = yield
    except Exception as exc:
        problem = _mock_problems(item, mock.stats())
        if problem:
            exc.add_note(problem)
        raise
    problem = _mock_problems(item, mock.stats())
    if problem:
        pytest.fail(problem, pytrace=False)
    return outcome


def _mock_problems(item: pytest.Item, stats: MockStats) -> str:
    """What the mock saw that makes the test wrong (notes the evidence on its report)."""
    perf = item.stash.get(PERF_KEY, None)
    results = perf.results if perf is not None else []
    tasks = sum(r.total for r in results)
    failed = sum(r.failed for r in results)
    problems = []
    if stats.blocked:
        problems.append(blocked_text(stats))
    if tasks and not stats.calls:
        problems.append(
            f"mock_llm: the workload ran {tasks} tasks but made no calls to the mock LLM, so "
            "its figures say nothing about the agent under LLM latency. The agent must reach "
            f"the mock: through {DEFAULT_BASE_URL.rsplit('/', 1)[0]} (mock_llm.base_url) or the "
            "providers' default hosts, with an httpx or httpx2 client (the openai and "
            "anthropic SDKs and the frameworks on them), or over mock_llm.serve()."
        )
    if perf is not None and (failed or problems or stats.not_found):
        perf.note(**evidence(stats))
    return "\n".join(problems)


def blocked_text(stats: MockStats) -> str:
    """The failure for requests the mock kept from leaving the process."""
    hosts = ", ".join(f"{host} ({count})" for host, count in stats.blocked.items())
    total = sum(stats.blocked.values())
    return (
        f"mock_llm: blocked {total} request(s) to unmocked hosts: {hosts}. Nothing left the "
        "process. To answer them with the mock, add the host to its hosts "
        "(@pytest.mark.mock_llm(hosts=[...]), --mock-llm-host or the mock_llm_hosts ini key); "
        "to let them through to a real service, allow it (@pytest.mark.mock_llm(allow=[...]), "
        "--mock-llm-allow or mock_llm_allow)."
    )


def evidence(stats: MockStats) -> dict[str, int | str]:
    """The mock's figures that explain failures, as ``agent_perf.note()`` figures."""
    figures: dict[str, int | str] = {
        "mock_calls": stats.calls,
        "mock_faults": sum(v for k, v in stats.faults.items() if k != "client_timeout"),
    }
    rejected = sum(v for k, v in stats.by_status.items() if 400 <= k < 500 and k not in (404, 429))
    if rejected:
        figures["mock_rejected"] = rejected
    if stats.blocked:
        figures["mock_blocked"] = ", ".join(f"{h} ({n})" for h, n in stats.blocked.items())
    if stats.not_found:
        routes = stats.not_found_by_route.items()
        figures["mock_not_found"] = ", ".join(f"{route} ({n})" for route, n in routes)
    return figures


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
