"""``xfail`` and budgets: a budget miss is the failure the mark expects (XFAIL)."""

from __future__ import annotations

import json

import pytest

TESTS = """
import pytest
from pytest_agentperf import budget

@pytest.mark.xfail(reason="known slow", strict=True)
@budget(p95="<= 100ms")
def test_strict_miss(agent_perf, fake_result):
    agent_perf.record(fake_result(p95=0.2))

@pytest.mark.xfail(reason="known slow")
@budget(p95="<= 100ms")
def test_miss(agent_perf, fake_result):
    agent_perf.record(fake_result(p95=0.2))

@pytest.mark.xfail(reason="should be slow", strict=True)
@budget(p95="<= 100ms")
def test_strict_meets(agent_perf, fake_result):
    agent_perf.record(fake_result(p95=0.05))

@pytest.mark.xfail(reason="may be fast")
@budget(p95="<= 100ms")
def test_meets(agent_perf, fake_result):
    agent_perf.record(fake_result(p95=0.05))

@pytest.mark.xfail(reason="boom", raises=RuntimeError)
@budget(p95="<= 100ms")
def test_raises(agent_perf, fake_result):
    agent_perf.record(fake_result(p95=0.05))
    raise RuntimeError("x")
"""


def test_a_budget_miss_under_xfail_is_an_expected_failure(
    perf_pytester: pytest.Pytester,
) -> None:
    perf_pytester.makepyfile(test_x=TESTS)
    result = perf_pytester.runpytest("--agentperf", "-rxXf", "--agentperf-json=r.json")
    result.assert_outcomes(xfailed=3, xpassed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= agentperf summary =*",
            "test *verdict",
            "test_x.py::test_meets *50.0ms*passed",
            "test_x.py::test_miss *200.0ms*xfailed",
            "test_x.py::test_raises *50.0ms*xfailed",
            "test_x.py::test_strict_meets *50.0ms*FAILED",
            "test_x.py::test_strict_miss *200.0ms*xfailed",
            "5 performance tests: 1 passed, 1 failed, 3 xfailed",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "XFAIL test_x.py::test_strict_miss - known slow; agentperf budget missed: p95 "
            "200.0ms (limit <= 100.0ms)",
            "XFAIL test_x.py::test_miss - known slow; agentperf budget missed: *",
            "XFAIL test_x.py::test_raises - boom",
            "XPASS test_x.py::test_meets - may be fast",
            "FAILED test_x.py::test_strict_meets - [[]XPASS(strict)[]] should be slow",
        ]
    )
    tests = json.loads((perf_pytester.path / "r.json").read_text())["tests"]
    outcomes = {t["nodeid"].split("::")[1]: (t["outcome"], t["message"]) for t in tests}
    assert outcomes == {
        "test_meets": ("passed", ""),
        "test_miss": (
            "xfailed",
            "expected failure (xfail): agentperf budget missed: p95 200.0ms (limit <= 100.0ms)",
        ),
        "test_raises": ("xfailed", "the test failed, as expected (xfail)"),
        "test_strict_meets": (
            "failed",
            "[XPASS(strict)] should be slow: the test and its budgets passed (xfail strict)",
        ),
        "test_strict_miss": (
            "xfailed",
            "expected failure (xfail): agentperf budget missed: p95 200.0ms (limit <= 100.0ms)",
        ),
    }


def test_runxfail_reports_the_budget_miss_as_such(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(test_x=TESTS)
    result = perf_pytester.runpytest("--agentperf", "--runxfail", "-v")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(["*::test_miss BUDGET FAILED*"])
