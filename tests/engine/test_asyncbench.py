"""``async_benchmark`` through pytester: real awaits, pytest-benchmark's table and JSON."""

from __future__ import annotations

import json

import pytest

CONFTEST = """
import pytest
from pytest_agentperf.engine.asyncbench import make_async_benchmark

@pytest.fixture
def async_benchmark(benchmark):
    return make_async_benchmark(benchmark)
"""

TESTS = """
import asyncio
import pytest

async def nap(seconds):
    await asyncio.sleep(seconds)
    return "rested"

@pytest.mark.asyncio
async def test_async_nap(async_benchmark):
    assert await async_benchmark(nap, 0.002) == "rested"

def test_sync_benchmark_of_a_coroutine_function(benchmark):
    # what benchmark(nap, 0.002) measures: creating (not running) the coroutine; closed
    # here so the never-awaited coroutines do not warn
    benchmark(lambda: nap(0.002).close())

@pytest.mark.asyncio
async def test_pedantic(async_benchmark):
    assert await async_benchmark.pedantic(nap, (0.001,), rounds=3, iterations=2) == "rested"

@pytest.mark.asyncio
async def test_coroutine_object_is_refused(async_benchmark):
    with pytest.raises(TypeError, match="pass the coroutine function"):
        await async_benchmark(nap(0.1))
    async_benchmark.fixture._mode = "done"  # used: no "fixture was not used" warning
"""

ARGS = ("--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "-p", "no:randomly")


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytester runs the inner session in this process: under `pytest -n`, pytest-benchmark
    # would read the outer worker's PYTEST_XDIST_WORKER and disable saving and comparing.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


def test_async_benchmark_lands_in_the_table_and_json(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_bench=TESTS)
    result = pytester.runpytest("--benchmark-json=out.json", *ARGS)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*benchmark: 3 tests*"])
    table = result.stdout.str()
    assert "test_async_nap " in table
    assert "test_pedantic " in table
    data = json.loads((pytester.path / "out.json").read_text())
    stats = {b["name"]: b["stats"] for b in data["benchmarks"]}
    nap, created, pedantic = (
        stats["test_async_nap"],
        stats["test_sync_benchmark_of_a_coroutine_function"],
        stats["test_pedantic"],
    )
    assert nap["min"] >= 0.0019  # the awaited sleep is in the timing
    assert nap["rounds"] >= 3
    assert created["mean"] < nap["mean"] / 10  # the sync fixture timed only the creation
    assert pedantic["rounds"] == 3
    assert pedantic["min"] >= 0.0009


def test_async_benchmark_works_with_compare(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_one="""
import asyncio, pytest

async def nap():
    await asyncio.sleep(0.001)

@pytest.mark.asyncio
async def test_nap(async_benchmark):
    await async_benchmark(nap)
"""
    )
    first = pytester.runpytest("--benchmark-autosave", *ARGS)
    first.assert_outcomes(passed=1)
    second = pytester.runpytest("--benchmark-compare", "--benchmark-compare-fail=min:500%", *ARGS)
    second.assert_outcomes(passed=1)
    second.stderr.fnmatch_lines(["*Comparing against benchmarks from*"])
    second.stdout.fnmatch_lines(["*benchmark: 2 tests*"])  # the saved run and this one
    table = second.stdout.str()
    assert "test_nap (0001" in table
    assert "test_nap (NOW)" in table


def test_disabled_benchmarks_still_run_the_coroutine(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_bench=TESTS)
    result = pytester.runpytest("--benchmark-disable", *ARGS)
    result.assert_outcomes(passed=4)
