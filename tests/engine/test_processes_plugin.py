"""``processes=N`` under the plugin: budgets checked on the merged result, and failed on a
partial one (a worker lost), with the lost worker named in the failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

INNER = """
import asyncio

from pytest_agentperf import AgentPerf, WorkerContext, budget


def make(ctx: WorkerContext):
    async def target(payload):
        await asyncio.sleep(0.001)
        return payload

    return target


def make_but_not_in_worker_1(ctx: WorkerContext):
    if ctx.index == 1:
        raise RuntimeError("worker 1 has no agent")
    return make(ctx)


@budget(error_rate="<= 1%")
async def test_merged(agent_perf: AgentPerf) -> None:
    result = await agent_perf.run(make, n=200, concurrency=4, processes=2)
    assert result.total == 200


@budget(error_rate="<= 1%")
async def test_partial(agent_perf: AgentPerf) -> None:
    await agent_perf.run(make_but_not_in_worker_1, n=200, concurrency=4, processes=2)
"""


def test_budgets_pass_on_the_merged_result_and_fail_on_a_partial_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("--agentperf", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_partial*",
            "*the run is partial, budgets cannot pass on it*",
            "*process 1 of 2 (pid *) failed before its warm-up: RuntimeError: worker 1 has no*",
        ]
    )
