"""Runs that measured nothing, results JSON cannot hold, and bad budget values: each ends
in a failure that says why, never a pass, a bare traceback or an INTERNALERROR."""

from __future__ import annotations

import pytest

EMPTY_RUNS = """
import pytest
from pytest_agentperf import budget


async def handle(payload):
    return payload


@budget(error_rate="<= 1%", throughput=">= 0/s")
async def test_warmup_eats_the_iterator(agent_perf):
    await agent_perf.run(handle, tasks=iter(range(10)), warmup=50, concurrency=2)


@budget(error_rate="<= 1%")
async def test_empty_iterator(agent_perf):
    await agent_perf.run(handle, tasks=iter(()), concurrency=2)


@pytest.mark.agentperf
async def test_no_budget(agent_perf):
    await agent_perf.run(handle, tasks=iter(()), warmup=0)


@budget(error_rate="<= 1%")
async def test_zero_duration(agent_perf):
    await agent_perf.run(handle, duration=0)
"""


def test_a_run_that_measured_no_task_fails_its_budgets_saying_why(
    perf_pytester: pytest.Pytester,
) -> None:
    perf_pytester.makepyfile(test_e=EMPTY_RUNS)
    result = perf_pytester.runpytest("--agentperf", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*_ test_warmup_eats_the_iterator _*",
            "agentperf budget not met: the run 'handle' measured no task: the warm-up "
            "(warmup=50) used up the task iterator, so nothing was left to measure: pass more "
            "tasks, or a smaller warmup= (0 for none); its figures meet no budget "
            "(throughput >= 0.0/s, error_rate <= 1.00%).",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_empty_iterator _*",
            "agentperf budget not met: the run 'handle' measured no task: the task iterator was "
            "empty; its figures meet no budget (error_rate <= 1.00%).",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_zero_duration _*",
            "E   *pytest_agentperf.errors.LoadConfigError: run(duration=0): use a duration "
            "above 0.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*= agentperf summary =*",
            "test_e.py::test_empty_iterator *BUDGET FAILED",
            "test_e.py::test_no_budget *passed",
            "test_e.py::test_warmup_eats_the_iterator *BUDGET FAILED",
            "*self-check warnings*",
            "  test_e.py::test_empty_iterator: measured no task: the task iterator was empty",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "recommendations:",
            "  - test_e.py::test_empty_iterator: the run 'handle' measured no task, so none of "
            "its figures says anything about the agent; check its tasks=, warmup= and duration=.",
        ]
    )
    result.stdout.no_fnmatch_line("*every figure is within what a healthy agent shows*")


RECORDED = """
import datetime
import decimal
import dataclasses

import pytest


@pytest.mark.agentperf
@pytest.mark.parametrize(
    "value",
    [datetime.datetime(2025, 1, 1), decimal.Decimal("1.5"), {"nested": [1, {2}]}],
    ids=["datetime", "decimal", "set"],
)
def test_record(agent_perf, fake_result, value):
    agent_perf.record(dataclasses.replace(fake_result(), extra={"measured_at": value}))


@pytest.mark.agentperf
def test_fine(agent_perf, fake_result):
    agent_perf.record(dataclasses.replace(fake_result(), extra={"at": "2025-01-01", "n": [1.5]}))
"""


def test_recording_a_result_json_cannot_hold_fails_that_test_only(
    perf_pytester: pytest.Pytester,
) -> None:
    perf_pytester.makepyfile(test_r=RECORDED)
    result = perf_pytester.runpytest("--agentperf", "--agentperf-json=r.json")
    result.assert_outcomes(passed=1, failed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert (
        "pytest_agentperf.errors.ResultError: agent_perf.record(): the result's "
        "extra['measured_at'] is a datetime (datetime.datetime(2025, 1, 1, 0, 0)), which "
        "JSON cannot hold, and results are written as JSON (reports, baselines, xdist); use "
        "numbers, strings, bools, None, lists and dicts of them (e.g. a datetime's "
        ".isoformat(), float(a Decimal))."
    ) in out
    assert "the result's extra['measured_at'] is a Decimal (Decimal('1.5'))" in out
    assert "the result's extra['measured_at']['nested'][1] is a set ({2})" in out
    result.stdout.fnmatch_lines(
        ["4 performance tests: 1 passed, 3 failed", "agentperf: wrote *r.json"]
    )


BAD_BUDGETS = """
from pytest_agentperf import budget


@budget(p95={value})
def test_a(agent_perf):
    pass
"""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '"fast"',
            "budget(p95=...): 'fast' is not a duration such as '<= 150ms' or a number of seconds.",
        ),
        (
            '"5m"',
            "budget(p95=...): '5m' is not a duration such as '<= 150ms' or a number of seconds "
            "('m' is ambiguous: write 'min' for minutes or 'ms' for milliseconds).",
        ),
        (
            "None",
            "budget(p95=...): None is not a limit; leave the keyword out to set no limit (a "
            "limit is a duration such as '<= 150ms' or a number of seconds).",
        ),
    ],
    ids=["fast", "5m", "None"],
)
def test_a_bad_budget_value_names_budget(
    perf_pytester: pytest.Pytester, value: str, message: str
) -> None:
    perf_pytester.makepyfile(test_v=BAD_BUDGETS.format(value=value))
    result = perf_pytester.runpytest("--agentperf")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error of the module
    result.stdout.fnmatch_lines(["*ERROR collecting test_v.py*"])
    assert f"pytest_agentperf.errors.BudgetConfigError: {message}" in result.stdout.str()


NONE_MARKER = """
import pytest


@pytest.mark.latency(p95=None)
def test_none(agent_perf):
    pass
"""

EFFICIENCY = """
import pytest


@pytest.mark.throughput(efficiency=">= 1.2")
def test_efficiency_above_one(agent_perf, fake_result):
    agent_perf.record(fake_result(efficiency=1.1))


@pytest.mark.throughput(efficiency="105%")
def test_efficiency_met(agent_perf, fake_result):
    agent_perf.record(fake_result(efficiency=1.1))
"""


def test_none_in_a_marker_is_a_usage_error(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(test_m=NONE_MARKER)
    result = perf_pytester.runpytest("--agentperf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: test_m.py::test_none: @pytest.mark.latency(p95=...): None is not a limit; "
            "leave the keyword out to set no limit (a limit is a duration such as '<= 150ms' or "
            "a number of seconds)."
        ]
    )


def test_an_efficiency_budget_may_exceed_one(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(test_m=EFFICIENCY)
    result = perf_pytester.runpytest("--agentperf", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_efficiency_above_one BUDGET FAILED*",
            "*::test_efficiency_met PASSED*",
            "  efficiency  >= 1.20  1.10 *under",
        ]
    )
