"""ImprovedAgent in one process vs on two Ray actors (``workers=2, backend="ray"``).

    python benchmarks/bench_ray.py [--n 30000] [--concurrency 1200] [--latency 0.05]
                                   [--rounds 5] [--modes one,ray2,p2]

Needs the ``ray`` extra (``pip install 'pytest-agentperf[ray]'``). A local Ray cluster is
started once, with one CPU per core (as ``--agentperf-backend ray`` starts it), and shut
down at the end. The agent runs at ``--concurrency`` against the mock LLM with a fixed
latency, in these modes, interleaved round by round (the order rotates) so that a busy
neighbour hits them alike:

* ``one``: one process, this one (the agent on the mock's in-process transport);
* ``ray1``, ``ray2``, ...: ``workers=N, backend="ray"``: the concurrency and the tasks
  split over N Ray actors, each with its own agent and mock;
* ``p1``, ``p2``, ...: ``processes=N``, the same on worker processes of this machine.

The default point is CPU-bound: at concurrency 1,200 on 50 ms the ideal is 24,000
tasks/s, several times what one core drives, so a second core shows as throughput (at
concurrency 100 one process already reaches ~95% of the ideal 2,000/s and no split can
add more than ~5%). Per mode: tasks/s, CPU microseconds per task (the agent processes'
CPU over the measured phase), p50/p99, and the CPU the machine's other processes used
meanwhile (``one`` and ``pN`` exactly; ``rayN`` counts the actors' start-up as others,
so it overstates them a little). Before each round the machine's load is sampled for a
second while nothing of ours runs: a second core only helps when it is free. Then each
multi-worker mode's throughput as a ratio to ``one`` in the same round (median and every
round), the figure docs/distributed.md quotes.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import statistics
import time
from typing import Any

import psutil
from bench_processes import Row, _busy, _ours, inproc, prompt, row, show

from pytest_agentperf import AgentPerf, Fixed, MockLLM, WorkerContext
from pytest_agentperf.engine import ray_cluster
from reference_agent import ImprovedAgent


def make_agent(ctx: WorkerContext) -> ImprovedAgent:
    """The worker's agent, on its own mock's transport, sized to its share."""
    return ImprovedAgent(
        base_url=ctx.mock.base_url,
        transport=ctx.mock.httpx_transport(),
        concurrency=ctx.concurrency or 1,
    )


async def spread(mode: str, n: int, concurrency: int, latency: float) -> tuple[Row, float]:
    """``mode`` run once; its row and the workers' CPU seconds over the measured phase."""
    count = int(mode.lstrip("rayp"))
    how: dict[str, Any] = (
        {"workers": count, "backend": "ray"} if mode.startswith("ray") else {"processes": count}
    )
    mock = MockLLM(latency=Fixed(latency), seed=1)
    result = await AgentPerf(mock=mock).run(
        make_agent, tasks=prompt, n=n, concurrency=concurrency, warmup=concurrency, **how
    )
    lost = result.extra.get("lost_shares")
    if lost:
        raise SystemExit(f"{mode}: a share was lost: {lost[0]['text']}")
    cpu = sum(share["cpu_seconds"] for share in result.extra["shares"])
    return row(mode, result, cpu), cpu


def measured(mode: str, args: argparse.Namespace) -> Row:
    """Run one mode; note how much CPU the rest of the machine used meanwhile."""
    tree0 = _tree_cpu()
    machine0, ours0, wall0 = _busy(), _ours(), time.perf_counter()
    if mode == "one":
        result = dataclasses.replace(
            asyncio.run(inproc(args.n, args.concurrency, args.latency)), mode="one"
        )
        actors = 0.0
    else:
        result, cpu = asyncio.run(spread(mode, args.n, args.concurrency, args.latency))
        actors = cpu if mode.startswith("ray") else 0.0  # p: reaped children, in _ours()
    wall = time.perf_counter() - wall0
    ours = (_ours() - ours0) + (_tree_cpu() - tree0) + actors
    others = (_busy() - machine0) - ours
    return dataclasses.replace(result, others=max(0.0, others) / wall * 100)


def _tree_cpu() -> float:
    """CPU seconds of this process's live descendants (the Ray cluster's daemons)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def idle_load(seconds: float = 1.0) -> float:
    """The machine's busy CPU over ``seconds`` while nothing of ours runs, % of a core."""
    busy0, ours0, tree0 = _busy(), _ours(), _tree_cpu()
    time.sleep(seconds)
    others = (_busy() - busy0) - (_ours() - ours0) - (_tree_cpu() - tree0)
    return max(0.0, others) / seconds * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=1_200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modes", default="one,ray2,p2")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m != "one" and not (m[:3] == "ray" or m[:1] == "p")]
    if bad or any(m != "one" and not m.lstrip("rayp").isdigit() for m in modes):
        parser.error(f"modes are one, rayN and pN (N workers): got {args.modes!r}")
    started = time.perf_counter()
    cluster = ray_cluster.connect(None, "bench_ray.py")
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; Ray cluster "
        f"{cluster.kind} with {cluster.cpus:g} CPUs in {time.perf_counter() - started:.1f}s; "
        f"ImprovedAgent at concurrency {args.concurrency}, mock Fixed({args.latency * 1e3:g} "
        f"ms), {args.n:,} tasks per run"
    )
    rows: dict[str, list[Row]] = {m: [] for m in modes}
    try:
        for k in range(args.rounds):
            order = modes[k % len(modes) :] + modes[: k % len(modes)]
            print(f"round {k + 1} (order {', '.join(order)}; others {idle_load():.0f}% of a core)")
            for mode in order:
                result = measured(mode, args)
                rows[mode].append(result)
                show(result)
    finally:
        ray_cluster.shutdown()
    summary(rows)


def summary(rows: dict[str, list[Row]]) -> None:
    print("median over the rounds:")
    for mode, found in rows.items():
        fields = ("throughput", "efficiency", "cpu_us", "p50_ms", "p99_ms")
        medians = (statistics.median(getattr(r, f) for r in found) for f in fields)
        others = statistics.median(r.others for r in found)
        show(Row(mode, *medians, errors=sum(r.errors for r in found), others=others))
    base = rows.get("one")
    if not base:
        return
    for mode, found in rows.items():
        if mode == "one":
            continue
        ratios = [b.throughput / a.throughput for a, b in zip(base, found, strict=True)]
        print(
            f"{mode} / one throughput, same round: {statistics.median(ratios):.2f}x "
            f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
