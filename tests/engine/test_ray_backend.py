"""``run(factory, workers=N, backend="ray")`` on a real local Ray cluster.

One cluster for the module (starting one takes 3-10 s here), two CPUs, the workers as
real Ray actors; skipped when the ``ray`` extra is not installed. Counts and behaviour
only: the split and the exact merge against one process, a killed actor, a cancelled
run, a bad address, budgets under the plugin. ``test_ray_options.py`` checks the options
and the usage error without Ray.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pytest_agentperf import Fixed, MemoryTracker, MockLLM, WorkerContext
from pytest_agentperf.engine import ray_cluster
from pytest_agentperf.engine.ray_backend import lost_outcome
from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.engine.shares import LOST_SHARES
from pytest_agentperf.errors import LoadConfigError
from pytest_agentperf.spend import ModelPrice, Prices
from pytest_agentperf.verdict.budgets import evaluate_budgets, parse_budget
from tests.engine import proc_targets as pt

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
PRICES = Prices("USD", {"gpt-4o-mini": ModelPrice(0.15, 0.60)})


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[ray_cluster.Cluster]:
    if ray.is_initialized():  # pragma: no cover - someone else's connection
        pytest.skip("this process is already connected to a Ray cluster")
    started = ray_cluster.connect(None, "tests")
    assert started.kind == "started"
    yield started
    ray_cluster.shutdown()
    assert not ray.is_initialized()


@pytest.mark.asyncio
async def test_two_actors_run_the_tasks_of_one_process_and_merge_exactly(
    cluster: ray_cluster.Cluster,
) -> None:
    perf = AgentPerf(seed=7)
    ctx = WorkerContext(index=0, workers=1, mock=None, concurrency=9, rate=None, seed=7)
    one = await perf.run(pt.failing_every_7th(ctx), n=701, concurrency=9, warmup=15)
    two = await perf.run(
        pt.failing_every_7th, n=701, concurrency=9, warmup=15, workers=2, backend="ray"
    )
    # the same measured tasks (indices 15 .. 715): same count, same errors
    assert one.total == two.total == 701
    assert one.failed == two.failed == sum(1 for i in range(15, 716) if i % 7 == 3)
    assert two.errors == one.errors
    # the merged counts are the sum of the shares', each run by its own actor
    shares = two.extra["shares"]
    assert [s["concurrency"] for s in shares] == [5, 4]
    assert sum(s["completed"] for s in shares) == two.completed
    assert sum(s["failed"] for s in shares) == two.failed
    assert two.latency.count == 701
    assert len({s["pid"] for s in shares}) == 2
    assert os.getpid() not in {s["pid"] for s in shares}
    assert all(s["node"] for s in shares)
    assert two.extra["workers"] == 2
    assert two.extra["backend"] == "ray"
    assert two.extra["ray_cluster"] == cluster.describe()
    assert LOST_SHARES not in two.extra


@pytest.mark.asyncio
async def test_an_agent_on_each_actors_mock_adds_up_to_one_process_exactly() -> None:
    settings = {"latency": Fixed("2ms"), "seed": 3}
    async with MockLLM(**settings) as alone:  # type: ignore[arg-type]
        ctx = WorkerContext(index=0, workers=1, mock=alone, concurrency=8, rate=None, seed=0)
        one = await AgentPerf(mock=alone, prices=PRICES).run(
            pt.agent_on_mock_transport(ctx), tasks=pt.prompt, n=300, concurrency=8, warmup=0
        )
        expected = alone.stats()
    mock = MockLLM(**settings)  # type: ignore[arg-type]
    two = await AgentPerf(mock=mock, prices=PRICES).run(
        pt.agent_on_mock_transport,
        tasks=pt.prompt,
        n=300,
        concurrency=8,
        warmup=0,
        workers=2,
        backend="ray",
    )
    assert one.total == two.total == 300
    assert one.completed == two.completed
    stats = mock.stats()  # the actors' mocks' counters, added to the test's mock
    assert [s["mock_calls"] for s in two.extra["shares"]] == [150, 150]
    assert stats.calls == expected.calls == 300
    assert (stats.tokens_in, stats.tokens_out) == (expected.tokens_in, expected.tokens_out)
    assert stats.injected_latency_total == pytest.approx(expected.injected_latency_total)
    # per-task spend (tokens and cost) merges exactly too
    spend, alone_spend = two.llm, one.llm
    assert spend is not None
    assert alone_spend is not None
    assert spend.calls.total == alone_spend.calls.total == 300
    assert spend.tokens.total == alone_spend.tokens.total
    assert spend.cost is not None
    assert alone_spend.cost is not None
    assert spend.cost.total == pytest.approx(alone_spend.cost.total, rel=1e-9)


@pytest.mark.asyncio
async def test_memory_is_measured_in_each_actor_and_says_which_grew() -> None:
    perf = AgentPerf(memory=MemoryTracker(diagnose=False))
    result = await perf.run(pt.leaking_in_worker_1, n=600, concurrency=2, workers=2, backend="ray")
    memory = result.memory
    assert memory is not None
    assert memory.leak
    assert "Ray actor 1: grows" in memory.reason
    assert "Ray actor 0: no leak" in memory.reason
    assert [s["memory_leak"] for s in result.extra["shares"]] == [False, True]
    assert all(s["memory_per_task_bytes"] is not None for s in result.extra["shares"])


@pytest.mark.asyncio
async def test_open_loop_splits_the_rate_into_streams_that_add_up() -> None:
    result = await AgentPerf().run(
        pt.async_factory, rate=200, duration=0.5, arrival="poisson", workers=2, backend="ray"
    )
    assert result.mode == "open"
    assert result.offered_rate == pytest.approx(200)
    assert [s["rate"] for s in result.extra["shares"]] == [100, 100]
    assert result.total > 0


@pytest.mark.asyncio
async def test_a_killed_actor_is_a_lost_share_named_in_the_failed_budgets() -> None:
    result = await AgentPerf().run(
        pt.killed_after_a_while_in_worker_1, n=4000, concurrency=4, workers=2, backend="ray"
    )
    (lost,) = result.extra[LOST_SHARES]
    assert (lost["index"], lost["stage"], lost["error_type"]) == (1, "run", "ActorDiedError")
    assert lost["tasks_planned"] == 2000
    assert 0 < lost["tasks_done"] < 2000  # its last progress before it died
    assert "worker process has died" in lost["error"]
    assert result.total == 2000  # actor 0's share, whole
    text = lost["text"]
    assert text.startswith(f"Ray actor 1 of 2 (pid {lost['pid']} on {lost['node']}) failed")
    assert f"after about {lost['tasks_done']:,} of its 2,000 tasks" in text
    budget = parse_budget("error_rate", "<= 100%", "test")
    verdict = evaluate_budgets([budget], [result])
    assert verdict.outcome == "budget-failed"
    assert "Ray actor 1 of 2" in verdict.problem


@pytest.mark.asyncio
async def test_a_cancelled_run_cancels_the_shares_and_kills_the_actors(tmp_path: Path) -> None:
    factory = functools.partial(pt.slow_marked, str(tmp_path))
    run = asyncio.create_task(
        AgentPerf().run(factory, n=200, concurrency=4, workers=2, backend="ray")
    )
    starts = [tmp_path / f"start-{i}" for i in (0, 1)]
    deadline = time.monotonic() + 60
    while not all(p.exists() for p in starts) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    pids = [int(p.read_text()) for p in starts]
    await asyncio.sleep(0.5)  # the measured phase is under way (each task takes 1 s)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    # the cancellation reached the shares: each agent was torn down in its actor
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # noqa: ASYNC240
        "start-0",
        "start-1",
        "stop-0",
        "stop-1",
    ]
    # and the actors' processes are gone
    _gone, alive = psutil.wait_procs(
        [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)], 10
    )
    assert not alive, alive


def _script_factory(ctx: WorkerContext) -> pt.Target:
    return pt.failing_every_7th(ctx)


@pytest.mark.asyncio
async def test_a_factory_defined_in_a_script_is_sent_by_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # as if defined in the script being run: a Ray worker's __main__ is another module
    monkeypatch.setattr(_script_factory, "__module__", "__main__")
    monkeypatch.setattr(sys.modules["__main__"], "_script_factory", _script_factory, raising=False)
    result = await AgentPerf().run(_script_factory, n=60, concurrency=2, workers=2, backend="ray")
    assert result.total == 60
    assert LOST_SHARES not in result.extra


def test_an_address_that_is_not_a_ray_cluster_fails_in_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ray's retries bounded tighter than the probe's own bounds (12 s on this port; the
    # user's settings win): the same path, in a third of the time
    monkeypatch.setenv("RAY_gcs_server_port_wait_time_s", "1")
    monkeypatch.setenv("RAY_py_gcs_connect_timeout_s", "1")
    with socket.create_server(("0.0.0.0", 0)) as server:  # listens, but is not Ray
        port = server.getsockname()[1]
        threading.Thread(target=_accept_forever, args=(server,), daemon=True).start()
        started = time.monotonic()
        with pytest.raises(LoadConfigError) as info:
            ray_cluster.probe(f"127.0.0.1:{port}", "--agentperf-ray-address")
        took = time.monotonic() - started
    assert str(info.value).startswith(
        f"--agentperf-ray-address='127.0.0.1:{port}': could not connect to a Ray cluster there"
    )
    assert took < ray_cluster.PROBE_TIMEOUT  # Ray alone would retry for ~14 minutes


def _accept_forever(server: socket.socket) -> None:
    kept = []
    try:
        while True:
            kept.append(server.accept()[0])
    except OSError:  # the server closed
        for conn in kept:
            conn.close()


def test_an_out_of_memory_kill_is_a_lost_share_that_says_so() -> None:
    # Ray's OOM killer raises OutOfMemoryError, not an actor error (and may kill every
    # actor of the node): still a lost share, not a crash of the run.
    error = ray.exceptions.OutOfMemoryError(
        "Task was killed due to the node running low on memory.\nMemory on the node was 22GB"
    )
    outcome = lost_outcome(ray, 1, error, None, ready=True)
    assert outcome.error == (
        "killed by Ray's out-of-memory killer (its node ran low on memory; Ray may kill every "
        "worker on that node): Task was killed due to the node running low on memory."
    )
    assert (outcome.index, outcome.stage, outcome.error_type) == (1, "run", "OutOfMemoryError")
    cancelled = lost_outcome(ray, 0, ray.exceptions.TaskCancelledError(), None, ready=True)
    assert (cancelled.stage, cancelled.error) == ("cancelled", "cancelled")


@pytest.mark.asyncio
async def test_more_workers_than_the_cluster_has_cpus_is_refused_at_once(
    cluster: ray_cluster.Cluster,
) -> None:
    workers = int(cluster.cpus) + 1  # each actor takes a CPU: one would wait forever
    with pytest.raises(LoadConfigError) as info:
        await AgentPerf().run(pt.failing_every_7th, n=100, workers=workers, backend="ray")
    assert str(info.value) == (
        f"run(workers={workers}, backend='ray'): the Ray cluster at {cluster.address} (started "
        f"here) has {cluster.cpus:g} CPUs and each worker takes one, so it runs at most "
        f"{workers - 1} workers; use fewer, or add nodes."
    )


def test_an_unreachable_address_stops_the_session_before_any_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    started = time.monotonic()
    result = pytester.runpytest(
        "--agentperf-backend", "ray", "--agentperf-ray-address", "127.0.0.1:1"
    )
    assert time.monotonic() - started < 30  # Ray alone: ~14 minutes
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "--agentperf-ray-address='127.0.0.1:1': no Ray cluster there, the connection failed"
        in result.stderr.str()
    )


def test_another_address_while_connected_is_refused() -> None:
    with pytest.raises(LoadConfigError, match="already works with the Ray cluster at"):
        ray_cluster.connect("auto", "--agentperf-ray-address")


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
    result = await agent_perf.run(make, n=200, concurrency=4, workers=2)
    assert result.extra["backend"] == "ray"
    assert result.total == 200


@budget(error_rate="<= 1%")
async def test_partial(agent_perf: AgentPerf) -> None:
    await agent_perf.run(make_but_not_in_worker_1, n=200, concurrency=4, workers=2)
"""


def test_the_backend_option_runs_workers_on_ray_and_budgets_fail_on_a_lost_share(
    pytester: pytest.Pytester, cluster: ray_cluster.Cluster
) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest(
        "--agentperf", "-p", "no:cacheprovider", "--agentperf-backend", "ray"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_partial*",
            "*the run is partial, budgets cannot pass on it*",
            "*Ray actor 1 of 2 (pid * on *) failed before its warm-up: RuntimeError: worker 1 *",
        ]
    )
    assert ray_cluster.current() is cluster  # the inner session left the outer's cluster
