"""agent_perf.note() figures and recommendations: in the summary, the JSON and the hook."""

from __future__ import annotations

import json

import pytest

TESTS = """
import pytest

@pytest.mark.agentperf
def test_ab(agent_perf, fake_result):
    agent_perf.record(fake_result(throughput=1000.0))
    agent_perf.note(speedup=95.25, label="a/b", ok=True)

@pytest.mark.agentperf
def test_slow(agent_perf, fake_result):
    agent_perf.record(fake_result(throughput=300.0, efficiency=0.3))

@pytest.mark.agentperf
def test_bad_figure(agent_perf, fake_result):
    agent_perf.note(samples=[1, 2])
"""

CONFTEST_HOOK = """
def pytest_agentperf_recommendations(records):
    figures = {k: v for r in records for k, v in r.figures.items()}
    return [f"custom: speedup was {figures['speedup']:g}x"] if "speedup" in figures else []
"""


def test_figures_and_recommendations_in_the_summary(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(test_f=TESTS)
    perf_pytester.makeconftest(
        perf_pytester.path.joinpath("conftest.py").read_text() + CONFTEST_HOOK
    )
    result = perf_pytester.runpytest("--agentperf", "--agentperf-json", "out.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ResultError: agent_perf.note(samples=...) takes a number, string or bool, not list.",
            "figures:",
            "  test_f.py::test_ab: speedup=95.25, label=a/b, ok=True",
            "recommendations:",
            "  - test_f.py::test_slow: throughput 300/s is 30% of the 1,000/s that Little's law*",
            "  - custom: speedup was 95.25x",
        ]
    )
    document = json.loads(perf_pytester.path.joinpath("out.json").read_text())
    figures = {t["nodeid"]: t.get("figures") for t in document["tests"]}
    assert figures["test_f.py::test_ab"] == {"speedup": 95.25, "label": "a/b", "ok": True}
    assert figures["test_f.py::test_slow"] == {}


def test_a_healthy_run_says_so(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.agentperf
        def test_ok(agent_perf, fake_result):
            agent_perf.record(fake_result())
        """
    )
    result = perf_pytester.runpytest("--agentperf")
    result.stdout.fnmatch_lines(["recommendations: none; every figure is within*"])
    result.stdout.no_fnmatch_line("figures:")
