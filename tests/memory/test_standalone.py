from __future__ import annotations

import pytest

from pytest_agentperf.errors import UnitError
from pytest_agentperf.memory import MemoryTracker

from .agents import CleanAgent, LeakyAgent


@pytest.mark.asyncio
async def test_async_with_rounds_measures_a_loop_of_your_own() -> None:
    agent, tracker = LeakyAgent(), MemoryTracker()
    sizes: list[int] = []
    i = 0
    async with tracker.rounds(n=3000) as rounds:
        for size in rounds:
            sizes.append(size)
            for _ in range(size):
                await agent.process(i)
                i += 1
    assert rounds.report is not None
    assert rounds.report.leak
    assert sum(sizes[:-1]) == 3000  # and one more round under tracemalloc, for the diagnosis
    assert rounds.report.diagnosis is not None
    assert "LEAK-LINE" in rounds.report.diagnosis
    assert tracker.report().leak


def test_with_rounds_stopped_early_reports_what_ran() -> None:
    tracker = MemoryTracker()
    with tracker.rounds(n=1000) as rounds:
        for k, _size in enumerate(rounds):
            if k == 5:
                break
    assert rounds.report is not None
    assert len(rounds.report.samples) == 6
    assert rounds.report.tasks == 300


def test_rounds_iterate_once() -> None:
    rounds = MemoryTracker().rounds(n=100)
    list(rounds)
    with pytest.raises(RuntimeError, match="only once"):
        iter(rounds)


@pytest.mark.asyncio
async def test_track_runs_an_async_callable_with_concurrency() -> None:
    stats = {"calls": 0, "max": -1, "sum": 0}  # bounded bookkeeping: a set of indices would leak
    agent = CleanAgent()

    async def task(i: int) -> None:
        stats["calls"] += 1
        stats["max"] = max(stats["max"], i)
        stats["sum"] += i
        await agent.process(i)

    report = await MemoryTracker().track(task, n=2000, concurrency=16)
    assert stats == {"calls": 2000, "max": 1999, "sum": sum(range(2000))}
    assert not report.leak, report.describe()


@pytest.mark.asyncio
async def test_track_of_a_set_of_indices_is_a_leak_and_runs_one_diagnostic_round() -> None:
    seen: set[str] = set()

    async def task(i: int) -> None:
        seen.add(str(i))

    report = await MemoryTracker().track(task, n=2000, concurrency=4)
    assert report.leak
    assert len(seen) == 2000 + 200  # the diagnostic round: the size of the last round
    assert report.diagnosis is not None
    assert "seen.add(str(i))" in report.diagnosis


def test_track_sync_and_assert_no_leak() -> None:
    kept: list[bytes] = []
    tracker = MemoryTracker(diagnose=False)
    report = tracker.track_sync(lambda i: kept.append(bytes(2048)), n=2000)
    assert report.leak
    assert tracker.assert_no_leak(max_mb=64).leak  # a leak, but under the budget: no raise
    with pytest.raises(AssertionError, match="leak: yes"):
        tracker.assert_no_leak(max_mb="1MB")
    with pytest.raises(AssertionError, match="B/task"):
        tracker.assert_no_leak(per_task_bytes="1KB")
    with pytest.raises(AssertionError):
        tracker.assert_no_leak()


def test_assert_no_leak_names_a_bad_unit() -> None:
    tracker = MemoryTracker()
    tracker.track_sync(lambda i: None, n=100)
    with pytest.raises(UnitError, match=r"assert_no_leak\(max_mb=...\)"):
        tracker.assert_no_leak(max_mb="2 parsecs")


def test_track_rejects_bad_concurrency() -> None:
    import asyncio

    with pytest.raises(ValueError, match="concurrency"):
        asyncio.run(MemoryTracker().track(lambda i: None, n=10, concurrency=0))


def test_gc_is_thawed_after_a_run_and_after_an_early_stop() -> None:
    import gc

    tracker = MemoryTracker()
    tracker.track_sync(lambda i: None, n=500)
    assert gc.get_freeze_count() == 0
    with tracker.rounds(n=500) as rounds:
        for _size in rounds:
            assert gc.get_freeze_count() > 0  # pre-run objects are not walked by gc.collect()
            break
    assert gc.get_freeze_count() == 0


def test_a_run_that_dies_half_way_thaws_when_the_tracker_goes() -> None:
    import gc

    tracker = MemoryTracker()
    tracker.plan(1000)
    tracker.sample(0, warmup=True)
    assert gc.get_freeze_count() > 0
    del tracker
    gc.collect()
    assert gc.get_freeze_count() == 0
