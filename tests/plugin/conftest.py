"""Helpers for the plugin tests: an inner conftest that gives inner suites ``fake_result``."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

import pytest_agentperf.engine.runner
import pytest_agentperf.memory
import pytest_agentperf.mockllm
import tests.factories

# In-process pytester runs restore sys.modules afterwards: what an inner run imports first
# (psutil, the engine, the memory tracker, the mock, the factories) would be dropped while
# still referenced, so import it here.
PRELOADED = (
    psutil,
    pytest_agentperf.engine.runner,
    pytest_agentperf.memory,
    pytest_agentperf.mockllm,
    tests.factories,
)

# The inner test suites get ``fake_result`` (tests.factories.make_result) through this
# conftest; tests record them with ``agent_perf.record(...)``, so budgets and reports can be
# checked with exact figures, without running a workload.
INNER_CONFTEST = """
import pytest

from tests.factories import make_result


@pytest.fixture
def fake_result():
    return make_result
"""


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def perf_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """``pytester`` with the inner conftest that provides ``fake_result``.

    Inner runs in subprocesses (xdist workers) find ``tests.factories`` through PYTHONPATH.
    """
    pytester.makeconftest(INNER_CONFTEST)
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return pytester
