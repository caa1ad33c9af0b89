"""Memory budgets through pytest with real leaks: the failure shows the fit and diagnosis."""

from __future__ import annotations

from pathlib import Path

import pytest

# A real leak, no mock: every task keeps 1 KiB in a module-level list. 3,000 tasks make
# about 2.5 MiB of fitted growth over the measured rounds, well over the 1 MB budget, and
# one allocated block per task, far above the leak threshold (0.05 blocks per task).
LEAKY = """
from pytest_agentperf import budget

KEPT = []


async def leaky(payload):
    KEPT.append(bytes(1024))  # the leak


@budget(memory_growth="<= 1MB")
async def test_leaks(agent_perf):
    await agent_perf.run(leaky, n=3000, concurrency=4)
"""


def _leak_line(path: Path) -> int:
    """The line number of the leak in the written test file."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if "# the leak" in line)


def test_memory_budget_failure_shows_the_fit_and_the_leaking_line(
    pytester: pytest.Pytester,
) -> None:
    line = _leak_line(pytester.makepyfile(test_leaky=LEAKY))
    # A fresh interpreter, as a user's run is: in this long-lived one, the leak would
    # partly refill holes the tests before it left in the heap (docs/memory.md).
    result = pytester.runpytest_subprocess("--agentperf", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_leaks BUDGET FAILED*",
            "agentperf budget missed: memory_growth * (limit <= 1.0MiB)",
            "  metric         limit      measured  by",
            "  memory_growth  <= 1.0MiB  *MiB    +*iB (+*%) over",  # the overshoot: KiB or MiB
            "",
            "memory growth *MiB over * measured tasks: * B/task (95% CI * .. *), fitted on *",
            "allocated blocks +*/task (95% CI * .. *); RSS * -> *, peak *",
            "leak: yes (*)",
            "diagnosis (tracemalloc, one extra round of * tasks after the measured run): *",
            f"  1. test_leaky.py:{line}: +*KiB in * blocks, ~* B/task",
            "       KEPT.append(bytes(1024))  # the leak",
            "*short test summary info*",
        ]
    )


TRACKER = """
import pytest

KEPT = []


def test_rounds_leak(memory_tracker, mock_llm):
    assert mock_llm.reset_history in memory_tracker.reset_hooks
    with memory_tracker.rounds(n=3000) as rounds:
        for size in rounds:
            for _ in range(size):
                KEPT.append(bytes(1024))  # the leak
    assert rounds.report.leak
    # One bytes object kept per task: the block count is exact, where the byte figure
    # depends on how much freed heap a long-lived process has left to refill.
    assert 0.9 < rounds.report.blocks_per_task < 1.3, rounds.report.describe()
    memory_tracker.assert_no_leak(max_mb=1)


@pytest.mark.asyncio
async def test_track_no_leak(memory_tracker):
    async def task(i):
        return bytes(1024)  # freed at once

    report = await memory_tracker.track(task, n=2000, concurrency=4)
    assert not report.leak, report.describe()
    assert memory_tracker.assert_no_leak(max_mb=1) == report
"""


def test_memory_tracker_fixture_standalone(pytester: pytest.Pytester) -> None:
    line = _leak_line(pytester.makepyfile(test_tracker=TRACKER))
    result = pytester.runpytest_subprocess("-v", "--tb=short")  # no --agentperf needed
    result.stdout.fnmatch_lines(["*::test_rounds_leak FAILED*", "*::test_track_no_leak PASSED*"])
    result.stdout.fnmatch_lines(
        [
            "E   AssertionError: memory growth *MiB over * measured tasks: * B/task *",
            "E   allocated blocks +*/task *",
            "E   leak: yes (*)",
            "E   diagnosis (tracemalloc, *): top allocation sites by growth",
            f"E     1. test_tracker.py:{line}: +*KiB in * blocks, ~* B/task",
            "E          KEPT.append(bytes(1024))  # the leak",
        ]
    )
