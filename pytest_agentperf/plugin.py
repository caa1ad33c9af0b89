"""pytest entry point (``pytest11: agentperf``): options, markers and gating.

Foundation skeleton: registers ``--agentperf`` and the markers, and skips performance
tests unless ``--agentperf`` is given. Budgets, fixtures and reports build on this.
"""

from __future__ import annotations

import pytest

PERF_MARKERS = ("agentperf", "throughput", "latency", "memory_growth", "error_rate")

AGENTPERF_DESC = "run performance tests (marked agentperf or carrying a budget marker)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentperf", "performance tests of async LLM agents")
    group.addoption("--agentperf", action="store_true", default=None, help=AGENTPERF_DESC)
    parser.addini("agentperf", type="bool", default=False, help=AGENTPERF_DESC)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "agentperf: a performance test; runs only with --agentperf")


def _enabled(config: pytest.Config) -> bool:
    flag = config.getoption("agentperf")
    return bool(flag if flag is not None else config.getini("agentperf"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _enabled(config):
        return
    skip = pytest.mark.skip(reason="performance test: run with --agentperf")
    for item in items:
        if any(item.get_closest_marker(name) for name in PERF_MARKERS):
            item.add_marker(skip)
