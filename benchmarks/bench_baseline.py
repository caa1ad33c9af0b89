"""Validation of baseline comparison: no false alarms on the same code, +20% always caught.

    /tmp/venv/bin/python benchmarks/bench_baseline.py            # through the load engine
    /tmp/venv/bin/python benchmarks/bench_baseline.py --synthetic # seeded lognormal samples

Engine mode drives an async target whose latency is a seeded lognormal (median 20 ms,
p99 ~ 60 ms) through ``AgentPerf.run`` (closed loop), so the figures carry the real
harness's timer overshoot and scheduling noise. For each of ``--repeat`` rounds it measures
a baseline run, a run of the same code, and a run with the latency raised by 20%, and
compares both with the baseline under the default rules (p95:10%, throughput:-10%) plus
p50:10%.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import time
from typing import Any

from pytest_agentperf.engine.stats import summarize
from pytest_agentperf.report.text import render_comparison
from pytest_agentperf.result import PerfResult, WindowStats
from pytest_agentperf.verdict.baseline import compare, parse_fail_expr

RULES = parse_fail_expr("p50:10%,p95:10%,throughput:-10%")
MEDIAN, SIGMA = 0.020, 0.45  # lognormal: p99 = median * exp(2.326 * sigma) ~ 57 ms


def _target(seed: int, factor: float) -> Any:
    rng = random.Random(seed)

    async def call(task: object) -> None:
        await asyncio.sleep(rng.lognormvariate(math.log(MEDIAN), SIGMA) * factor)

    return call


async def _engine_run(seed: int, factor: float, n: int, concurrency: int) -> PerfResult:
    from pytest_agentperf.engine.runner import AgentPerf

    perf = AgentPerf(seed=seed)
    return await perf.run(_target(seed, factor), n=n, concurrency=concurrency, name="bench")


def _synthetic_run(seed: int, factor: float, n: int, concurrency: int) -> PerfResult:
    rng = random.Random(seed)
    xs = [rng.lognormvariate(math.log(MEDIAN), SIGMA) * factor for _ in range(n)]
    lat = summarize(xs)
    rate = concurrency / lat.mean
    windows = tuple(
        WindowStats(i, i + 1, 0, 0, rng.gauss(rate, rate * 0.03), lat.p50, lat.p95)
        for i in range(10)
    )
    return PerfResult(
        "bench",
        "closed",
        n / rate,
        n,
        0,
        rate,
        lat,
        lat,
        concurrency,
        timeseries=windows,
        samples=tuple(xs[:2000]),
    )


def _run(mode: str, seed: int, factor: float, n: int, concurrency: int) -> PerfResult:
    if mode == "engine":
        return asyncio.run(_engine_run(seed, factor, n, concurrency))
    return _synthetic_run(seed, factor, n, concurrency)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="skip the load engine")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("-n", type=int, default=1500, help="tasks per run")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    mode = "synthetic" if args.synthetic else "engine"
    false_alarms = caught = 0
    same_changes: dict[str, list[float]] = {r.metric: [] for r in RULES}
    slow_changes: dict[str, list[float]] = {r.metric: [] for r in RULES}
    started = time.perf_counter()
    for i in range(args.repeat):
        base = _run(mode, 1000 + i, 1.0, args.n, args.concurrency)
        same = _run(mode, 2000 + i, 1.0, args.n, args.concurrency)
        slow = _run(mode, 3000 + i, 1.2, args.n, args.concurrency)
        c_same, c_slow = compare(base, same, RULES), compare(base, slow, RULES)
        false_alarms += c_same.regressed
        caught += c_slow.regressed
        for row in c_same.rows:
            same_changes[row.metric].append(row.change or 0.0)
        for row in c_slow.rows:
            slow_changes[row.metric].append(row.change or 0.0)
        if c_same.regressed:
            print(render_comparison(c_same), file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(
        f"mode={mode} repeat={args.repeat} n={args.n} concurrency={args.concurrency} "
        f"windows/run={len(base.timeseries)} samples/run={len(base.samples)} "
        f"({elapsed:.1f}s)"
    )
    print(f"same code vs own baseline: {false_alarms}/{args.repeat} failed (want 0)")
    print(f"latency +20%:              {caught}/{args.repeat} caught (want {args.repeat})")
    for label, changes in (("same", same_changes), ("+20%", slow_changes)):
        for metric, values in changes.items():
            print(
                f"  {label:>4} {metric:<10} change: min {min(values):+.1%} "
                f"median {statistics.median(values):+.1%} max {max(values):+.1%}"
            )
    return 0 if false_alarms == 0 and caught == args.repeat else 1


if __name__ == "__main__":
    raise SystemExit(main())
