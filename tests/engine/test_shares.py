"""Splitting a run into shares and putting the shares' outcomes back together (pure)."""

from __future__ import annotations

from array import array
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agentperf.engine.phase import TaskSource
from pytest_agentperf.engine.plan import RunPlan, make_plan
from pytest_agentperf.engine.shares import (
    LOST_SHARES,
    Dealt,
    ShareOutcome,
    check_tasks,
    combine,
    derive_seed,
    owned_below,
    position,
    split,
)
from pytest_agentperf.engine.stats import summarize
from pytest_agentperf.errors import LoadConfigError, WorkerError
from tests.factories import merge_part


def closed_plan(n: int | None, concurrency: int, warmup: int | float = 0) -> RunPlan:
    return make_plan(
        TaskSource(None),
        name="w",
        n=n,
        concurrency=concurrency,
        rate=None,
        arrival="constant",
        duration=None if n is not None else 1.0,
        warmup=warmup,
        seed=5,
    )


@settings(max_examples=200, deadline=None)
@given(
    workers=st.integers(1, 6),
    warm=st.integers(0, 40),
    extra=st.integers(0, 400),
    concurrency_extra=st.integers(0, 50),
)
def test_the_shares_run_exactly_the_tasks_of_one_process(
    workers: int, warm: int, extra: int, concurrency_extra: int
) -> None:
    n, concurrency = workers + extra, workers + concurrency_extra
    shares = split(closed_plan(n, concurrency, warm), None, workers, mock_seed=9)
    warmed: list[int] = []
    measured: list[int] = []
    for share in shares:
        assert isinstance(share.warmup, int)
        assert share.plan.n is not None
        assert share.plan.n >= 1
        assert share.plan.warmup == 0  # a share warms up on its own, before the common start
        local = [share.tasks(k) for k in range(share.warmup + share.plan.n)]
        warmed += local[: share.warmup]
        measured += local[share.warmup :]
        assert local == sorted(local)  # each worker goes through its tasks in order
    assert {s.warmup for s in shares} <= {warm // workers, -(-warm // workers)}
    assert sorted(warmed) == list(range(warm))
    assert sorted(measured) == list(range(warm, warm + n))
    assert sum(s.plan.concurrency or 0 for s in shares) == concurrency
    assert {s.plan.n for s in shares} <= {n // workers, -(-n // workers)}  # even
    assert shares[0].mock_seed == 9


def test_every_round_is_dealt_whole_and_a_period_reaches_every_worker() -> None:
    for workers in (2, 3, 4, 8):
        for k in range(50):
            assert sorted(position(k, i, workers) for i in range(workers)) == list(range(workers))
    # a workload with period 8 (TOPICS[i % 8]): each of 2 or 4 workers sees all 8
    for workers in (2, 4):
        for i in range(workers):
            seen = {Dealt(None, i, workers).task_index(k) % 8 for k in range(64)}
            assert seen == set(range(8))
    assert owned_below(10, 0, 1) == 10
    assert [Dealt(None, 0, 1)(k) for k in range(5)] == [0, 1, 2, 3, 4]  # one worker: in order


def test_tasks_come_from_a_factory_or_a_cycled_sequence() -> None:
    assert Dealt(lambda i: i * 10, 0, 1)(3) == 30
    assert [Dealt(["a", "b", "c"], 0, 1)(k) for k in range(5)] == ["a", "b", "c", "a", "b"]
    assert check_tasks(None, 2) is None
    assert check_tasks([1], 2) == [1]
    with pytest.raises(LoadConfigError, match="iterator cannot be split"):
        check_tasks(iter([1, 2]), 2)


def test_open_loop_rates_add_up_and_constant_streams_interleave() -> None:
    plan = replace(closed_plan(600, 4), mode="open", rate=300.0, concurrency=None)
    shares = split(plan, None, 3, mock_seed=0)
    assert [s.plan.rate for s in shares] == pytest.approx([100.0] * 3)
    assert [s.delay for s in shares] == pytest.approx([0.0, 1 / 300, 2 / 300])
    assert all(s.plan.concurrency is None for s in shares)
    poisson = split(replace(plan, arrival="poisson"), None, 3, mock_seed=0)
    assert {s.delay for s in poisson} == {0.0}
    assert len({s.plan.seed for s in poisson}) == 3


def test_a_duration_run_splits_the_concurrency_and_keeps_the_warmup_time() -> None:
    shares = split(closed_plan(None, 7, warmup=0.5), None, 2, mock_seed=0)
    assert [(s.plan.n, s.plan.concurrency, s.warmup) for s in shares] == [
        (None, 4, 0.5),
        (None, 3, 0.5),
    ]


def test_seeds_worker_0_keeps_the_runs_the_others_are_distinct_and_stable() -> None:
    assert derive_seed(42, 0) == 42
    seeds = [derive_seed(42, i) for i in range(1, 50)]
    assert len(set(seeds)) == 49
    assert 42 not in seeds
    assert derive_seed(42, 1) == derive_seed(42, 1) != derive_seed(43, 1)
    assert all(0 <= s < 2**63 for s in seeds)


def test_a_split_needs_a_task_and_a_worker_per_process() -> None:
    with pytest.raises(LoadConfigError, match="concurrency >= 4"):
        split(closed_plan(100, 3), None, 4, mock_seed=0)
    with pytest.raises(LoadConfigError, match="n >= 4"):
        split(closed_plan(3, 8), None, 4, mock_seed=0)
    with pytest.raises(LoadConfigError, match="integer >= 1"):
        split(closed_plan(3, 8), None, 0, mock_seed=0)


def outcome_of(index: int, values: list[float], errors: int = 0) -> ShareOutcome:
    data = array("d", values).tobytes()
    result = merge_part(values, started_at=100.0 + index, errors=errors)
    return ShareOutcome(index=index, pid=1000 + index, result=result, latencies=data, services=data)


def test_combine_merges_every_tasks_latency_exactly() -> None:
    shares = split(closed_plan(6000, 8), None, 2, mock_seed=0)
    a = [(7 * i) % 3000 / 1000 for i in range(3000)]
    b = [(11 * i) % 3000 / 1000 + 0.5 for i in range(3000)]
    merged = combine(shares[0].plan, shares, [outcome_of(0, a), outcome_of(1, b, errors=3)], "f")
    exact = summarize(a + b)
    # more tasks than one result's sample (2000): exact only from every task's latency
    assert merged.latency.to_dict() == pytest.approx(exact.to_dict())
    assert (merged.total, merged.failed) == (6000, 3)
    assert [s["index"] for s in merged.extra["shares"]] == [0, 1]
    assert merged.extra["processes"] == 2
    assert LOST_SHARES not in merged.extra


def test_combine_lists_a_lost_share_and_warns() -> None:
    shares = split(closed_plan(200, 4), None, 2, mock_seed=0)
    lost = ShareOutcome(index=1, pid=77, error="killed by SIGKILL", stage="run", done=40)
    merged = combine(shares[0].plan, shares, [outcome_of(0, [0.1] * 100), lost], "make")
    (entry,) = merged.extra[LOST_SHARES]
    assert (entry["index"], entry["tasks_planned"], entry["tasks_done"]) == (1, 100, 40)
    assert "process 1 of 2 (pid 77)" in entry["text"]
    assert "after about 40 of its 100 tasks" in entry["text"]
    assert any("SIGKILL" in w for w in merged.warnings)
    assert merged.total == 100


def test_combine_without_any_result_raises_with_each_workers_story() -> None:
    shares = split(closed_plan(200, 4), None, 2, mock_seed=0)
    outcomes = [
        ShareOutcome(index=0, error="ValueError: x", stage="setup", traceback="Traceback...\n"),
        ShareOutcome(index=1, error="the worker process was killed by SIGKILL", stage="setup"),
    ]
    with pytest.raises(WorkerError, match=r"run\(make, processes=2\)") as info:
        combine(shares[0].plan, shares, outcomes, "make")
    assert "process 0 of 2 failed before its warm-up: ValueError: x" in str(info.value)
    assert "Traceback in process 0" in str(info.value)
