"""ImprovedAgent on one core and on two: ``processes=1`` vs ``processes=2`` (and over sockets).

    python benchmarks/bench_processes.py [--n 20000] [--concurrency 100] [--latency 0.05]
                                         [--rounds 3] [--modes inproc,p1,p2,socket]

The agent runs at ``--concurrency`` (default 100) against the mock LLM with a fixed
latency (default 50 ms), in these modes, interleaved round by round so that a busy
neighbour hits them alike:

* ``inproc``: one process, this one (the agent on the mock's in-process httpx transport,
  the mock started as the ``mock_llm`` fixture starts it);
* ``p1``: ``processes=1``, the same in one fresh worker process;
* ``p2``: ``processes=2``, the concurrency and the tasks split over two worker processes,
  each with its own agent and mock (transport mode);
* ``socket``: one process, the agent over real loopback sockets to the mock's server in
  another process (``mock.serve(process=True)``), so its HTTP client's pool, sockets and
  parsing are measured and the server's CPU is not charged to it.

Per mode: tasks/s, efficiency, CPU microseconds per task (the agent processes' CPU over
the measured phase: it survives a shared machine better than tasks/s), p50/p99, and the
CPU the machine's other processes used meanwhile (a second core only helps when it is
free). Then the ratios of ``p2`` to ``p1`` measured in the same round (the median over the
rounds): how much a second core buys. ``--concurrency 400 --latency 0.01`` is a
CPU-bound point (the ideal, 40,000/s, is far beyond one core), where that ratio shows.
Issue 13's targets: efficiency >= 0.95 with ``processes=2``, >= 0.8 over sockets.
Machine and Python version are printed first.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from pytest_agentperf import AgentPerf, Fixed, MockLLM, PerfResult, WorkerContext
from reference_agent import ImprovedAgent

MODES = ("inproc", "p1", "p2", "socket")


def is_server(process: psutil.Process) -> bool:
    """The mock's server process (spawned; not multiprocessing's resource tracker)."""
    return "spawn_main" in " ".join(process.cmdline())


def prompt(i: int) -> str:
    """A unique prompt per task, so the agent's cache never answers."""
    return f"question {i}"


def make_agent(ctx: WorkerContext) -> ImprovedAgent:
    """The worker's agent, on its own mock's transport, sized to its share."""
    return ImprovedAgent(
        base_url=ctx.mock.base_url,
        transport=ctx.mock.httpx_transport(),
        concurrency=ctx.concurrency or 1,
    )


@dataclass(frozen=True, slots=True)
class Row:
    mode: str
    throughput: float
    efficiency: float
    cpu_us: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_us: float = float("nan")  # socket mode: the server process's CPU per request
    others: float = float("nan")  # other processes' CPU meanwhile, % of one core


def row(mode: str, result: PerfResult, cpu_seconds: float, server: float = math.nan) -> Row:
    return Row(
        mode=mode,
        throughput=result.throughput,
        efficiency=result.efficiency or float("nan"),
        cpu_us=cpu_seconds / result.total * 1e6 if result.total else float("nan"),
        p50_ms=result.latency.p50 * 1e3,
        p99_ms=result.latency.p99 * 1e3,
        errors=result.failed,
        server_us=server,
    )


async def inproc(n: int, concurrency: int, latency: float) -> Row:
    mock = MockLLM(latency=Fixed(latency), seed=1)
    async with (
        mock,  # started, as the mock_llm fixture and each worker's replica are
        ImprovedAgent(
            base_url=mock.base_url, transport=mock.httpx_transport(), concurrency=concurrency
        ) as agent,
    ):
        cpu0 = time.process_time()
        result = await AgentPerf(mock=mock).run(
            agent, tasks=prompt, n=n, concurrency=concurrency, warmup=concurrency
        )
        cpu = time.process_time() - cpu0
    return row("inproc", result, cpu)


async def processes(mode: str, count: int, n: int, concurrency: int, latency: float) -> Row:
    mock = MockLLM(latency=Fixed(latency), seed=1)
    result = await AgentPerf(mock=mock).run(
        make_agent,
        tasks=prompt,
        n=n,
        concurrency=concurrency,
        warmup=concurrency,
        processes=count,
    )
    cpu = sum(share["cpu_seconds"] for share in result.extra["shares"])
    return row(mode, result, cpu)


async def socket(n: int, concurrency: int, latency: float) -> Row:
    mock = MockLLM(latency=Fixed(latency), seed=1)
    async with (
        mock.serve(process=True) as url,
        ImprovedAgent(base_url=url, concurrency=concurrency) as agent,
    ):
        (server,) = [p for p in psutil.Process().children() if is_server(p)]
        calls0, server0 = mock.stats().calls, sum(server.cpu_times()[:2])
        cpu0 = time.process_time()
        result = await AgentPerf(mock=mock).run(
            agent, tasks=prompt, n=n, concurrency=concurrency, warmup=concurrency
        )
        cpu = time.process_time() - cpu0
        requests = mock.stats().calls - calls0
        server_cpu = sum(server.cpu_times()[:2]) - server0
    return row("socket", result, cpu, server_cpu / requests * 1e6 if requests else math.nan)


def runner(mode: str, args: argparse.Namespace) -> Callable[[], Any]:
    n, c, lat = args.n, args.concurrency, args.latency
    if mode == "inproc":
        return lambda: inproc(n, c, lat)
    if mode == "socket":
        return lambda: socket(args.socket_n, c, lat)
    return lambda: processes(mode, int(mode[1:]), n, c, lat)


def show(r: Row) -> None:
    print(
        f"  {r.mode:<7} {r.throughput:>8,.0f}/s  efficiency {r.efficiency:5.3f}  "
        f"CPU {r.cpu_us:>6,.0f} us/task  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms"
        + (f"  server {r.server_us:,.0f} us/request" if not math.isnan(r.server_us) else "")
        + (f"  errors {r.errors}" if r.errors else "")
        + (f"  [others {r.others:.0f}% of a core]" if not math.isnan(r.others) else "")
    )


def measured(mode: str, args: argparse.Namespace) -> Row:
    """Run one mode; note how much CPU the rest of the machine used meanwhile."""
    machine0, ours0, wall0 = _busy(), _ours(), time.perf_counter()
    result: Row = asyncio.run(runner(mode, args)())
    wall = time.perf_counter() - wall0
    others = (_busy() - machine0) - (_ours() - ours0)
    return dataclasses.replace(result, others=max(0.0, others) / wall * 100)


def _busy() -> float:
    """CPU seconds the whole machine spent busy so far."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _ours() -> float:
    """CPU seconds of this process and of its children that have exited (the workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--socket-n", type=int, default=4_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; use {', '.join(MODES)}")
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; ImprovedAgent at "
        f"concurrency {args.concurrency}, mock Fixed({args.latency * 1e3:g} ms)"
    )
    rows: dict[str, list[Row]] = {m: [] for m in modes}
    for k in range(args.rounds):
        order = modes[k % len(modes) :] + modes[: k % len(modes)]  # rotate the order
        print(f"round {k + 1} (order {', '.join(order)})")
        for mode in order:
            result = measured(mode, args)
            rows[mode].append(result)
            show(result)
    summary(rows)


def summary(rows: dict[str, list[Row]]) -> None:
    print("median over the rounds:")
    for mode, found in rows.items():
        if found:
            show(
                Row(
                    mode,
                    *(
                        statistics.median(getattr(r, f) for r in found)
                        for f in ("throughput", "efficiency", "cpu_us", "p50_ms", "p99_ms")
                    ),
                    errors=sum(r.errors for r in found),
                    server_us=statistics.median(r.server_us for r in found),
                    others=statistics.median(r.others for r in found),
                )
            )
    if rows.get("p1") and rows.get("p2"):
        pairs = list(zip(rows["p1"], rows["p2"], strict=True))
        ratio = statistics.median(b.throughput / a.throughput for a, b in pairs)
        print(
            f"processes=2 / processes=1 throughput, same round: {ratio:.2f}x (median of "
            f"{', '.join(f'{b.throughput / a.throughput:.2f}' for a, b in pairs)})"
        )


if __name__ == "__main__":
    main()
