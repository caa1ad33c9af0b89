"""False alarms and misses of the baseline gate on a busy machine: saved baselines and A/B.

    python benchmarks/bench_busy.py saved [--burners 2] [--compares 20]
    python benchmarks/bench_busy.py ab [--burners 2] [--runs 10] [--rounds 10]
    python benchmarks/bench_busy.py record OUT.json [--burners 2] [--slowdown 1.2] [--cpu-us 0]

Every mode builds a small downstream project in a temporary git repository: one
performance test that drives ``ImprovedAgent`` (64 in flight, 2,000 tasks) against the mock
LLM (LogNormal, median 40 ms, p99 150 ms), with the mock's latency scaled by ``SLOWDOWN``
from ``agent_settings.py`` (committed as 1.0). "A true +20% latency change" is the working
tree's ``SLOWDOWN = 1.2``: every LLM call takes 20% longer. The load is ``--burners``
processes spinning on a CPU each (``python -c "while True: pass"``), started and stopped
around each measurement.

``saved``: a baseline saved with no burners, then ``--compares`` rounds of: an unchanged
compare under the burners (a false alarm is a ``REGRESSED`` test), a +20% compare with no
burners (caught when ``REGRESSED``) and a +20% compare under the burners (for the record: a
latency-only change on a busier machine is inconclusive by design). Each compare also says
what the verdict would have been without the machine contrast (``REGRESSED`` or
``INCONCLUSIVE``).

``ab``: with the burners running throughout, ``--runs`` rounds of an unchanged ``agentperf
ab --base HEAD`` (the working tree equals the base: a false alarm is exit 1) and a +20% one
(caught when exit 1), interleaved.

``record``: one run of the suite, written as a results document (how the recorded busy and
quiet pair in ``tests/verdict/data/`` was made). ``--cpu-us`` adds that much CPU work per
task to the agent (a regression CPU per task shows).

Every line printed says what the machine was doing (the run-queue wait of the run's loop
thread and the other processes' CPU), since the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEST = """\
import time

import pytest
from agent_settings import CPU_US, MEDIAN, P99, SLOWDOWN, TASKS
from pytest_agentperf import AgentPerf, LogNormal, MockLLM
from reference_agent import ImprovedAgent


def ticket(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"Ticket #{i}"}], "max_tokens": 32}


class Agent(ImprovedAgent):
    async def process_task(self, task):
        if CPU_US:  # extra work per task on the CPU
            end = time.thread_time() + CPU_US * 1e-6
            while time.thread_time() < end:
                pass
        return await super().process_task(task)


@pytest.mark.agentperf
async def test_support_agent(agent_perf: AgentPerf, mock_llm: MockLLM) -> None:
    mock_llm.configure(latency=LogNormal(median=MEDIAN * SLOWDOWN, p99=P99 * SLOWDOWN))
    async with Agent(
        base_url=mock_llm.base_url, transport=mock_llm.httpx_transport(), concurrency=64
    ) as agent:
        await agent_perf.run(agent, tasks=ticket, n=TASKS, concurrency=64, name="support")
"""


CLI = "import sys; from pytest_agentperf.cli import main; sys.exit(main())"


#: The mock LLM's latency (seconds): set by --median and --p99, the same at base and head.
LATENCY = {"median": 0.040, "p99": 0.150, "tasks": 2000}


def _settings(slowdown: float, cpu_us: float = 0.0) -> str:
    return (
        f"MEDIAN = {LATENCY['median']!r}\nP99 = {LATENCY['p99']!r}\nTASKS = {LATENCY['tasks']!r}\n"
        f"SLOWDOWN = {slowdown!r}\nCPU_US = {cpu_us!r}\n"
    )


INI = "[pytest]\naddopts = -p no:cacheprovider\nasyncio_default_fixture_loop_scope = function\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=bench@example.invalid", "-c", "user.name=bench", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def make_project(folder: Path) -> Path:
    """The downstream project, committed with SLOWDOWN = 1.0."""
    repo = folder / "project"
    repo.mkdir()
    (repo / "test_perf.py").write_text(TEST)
    (repo / "agent_settings.py").write_text(_settings(1.0))
    (repo / "pytest.ini").write_text(INI)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    return repo


def set_change(repo: Path, slowdown: float, cpu_us: float = 0.0) -> None:
    (repo / "agent_settings.py").write_text(_settings(slowdown, cpu_us))


@contextlib.contextmanager
def burners(count: int) -> Iterator[None]:
    """``count`` processes spinning on a CPU each, for the duration."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5 if procs else 0.0)  # let the scheduler see them
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def pytest_run(repo: Path, *args: str) -> int:
    command = [sys.executable, "-m", "pytest", "-q", "--agentperf", *args]
    return subprocess.run(command, cwd=repo, capture_output=True, check=False).returncode


@dataclass(frozen=True)
class Verdict:
    outcome: str  # the test's outcome: passed / regressed
    inconclusive: bool
    p95: float  # change
    wait: float | None  # run-queue wait of the current run
    other: float | None

    @property
    def without_machine(self) -> bool:
        """Whether the verdict before the machine contrast was a failure."""
        return self.outcome == "regressed" or self.inconclusive

    def __str__(self) -> str:
        word = "INCONCLUSIVE" if self.inconclusive else self.outcome.upper()
        wait = "-" if self.wait is None else f"{self.wait:.0%}"
        other = "-" if self.other is None else f"{self.other:.1f}"
        return f"{word:<12} p95 {self.p95:+6.1%}  run-queue wait {wait:>4}  other CPU {other}"


def read_verdict(path: Path) -> Verdict:
    test = json.loads(path.read_text())["tests"][0]
    comparison = test["comparison"]
    rows = {r["metric"]: r for r in comparison["rows"]}
    check = test["results"][0]["selfcheck"]
    return Verdict(
        outcome=test["outcome"],
        inconclusive=bool(comparison.get("inconclusive")),
        p95=rows["p95"]["change"] or 0.0,
        wait=check.get("run_queue_wait"),
        other=check.get("other_cpu"),
    )


def compare(repo: Path, out: Path) -> Verdict:
    pytest_run(repo, "--agentperf-compare", "quiet", f"--agentperf-json={out}")
    return read_verdict(out)


def saved(args: argparse.Namespace, work: Path) -> int:
    repo = make_project(work)
    if pytest_run(repo, "--agentperf-save", "quiet", f"--agentperf-json={work / 'q.json'}"):
        raise SystemExit("the baseline run failed")
    base = json.loads((work / "q.json").read_text())["tests"][0]["results"][0]
    print(
        f"baseline, no burners: p95 {base['latency']['p95'] * 1e3:.1f}ms, run-queue wait "
        f"{base['selfcheck']['run_queue_wait']:.0%}, other CPU {base['selfcheck']['other_cpu']:.1f}"
    )
    tally = {"same busy": [], "+20% quiet": [], "+20% busy": []}
    for i in range(args.compares):
        for label, slowdown, load in (
            ("same busy", 1.0, args.burners),
            ("+20% quiet", 1.2, 0),
            ("+20% busy", 1.2, args.burners),
        ):
            set_change(repo, slowdown)
            with burners(load):
                verdict = compare(repo, work / f"{i}.json")
            tally[label].append(verdict)
            print(f"{i + 1:>2} {label:<10} {verdict}", flush=True)
    same, quiet, busy = tally["same busy"], tally["+20% quiet"], tally["+20% busy"]
    n, load = args.compares, f"{args.burners} burners"
    alarms = sum(v.outcome == "regressed" for v in same)
    naive = sum(v.without_machine for v in same)
    print(f"\nunchanged, {load}: {alarms}/{n} false alarms (without the machine contrast: {naive})")
    print(f"+20% latency, no burners: {sum(v.outcome == 'regressed' for v in quiet)}/{n} caught")
    caught, unsure = sum(v.outcome == "regressed" for v in busy), sum(v.inconclusive for v in busy)
    print(f"+20% latency, {load}: {caught}/{n} caught, {unsure}/{n} inconclusive")
    return 0


def ab_run(repo: Path, out: Path, rounds: int, seed: int) -> dict[str, Any]:
    command = [sys.executable, "-c", CLI, "ab", "--base", "HEAD",
               "--rounds", str(rounds), "--seed", str(seed), "--json", str(out)]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"agentperf ab failed ({proc.returncode}):\n{proc.stderr}")
    data: dict[str, Any] = json.loads(out.read_text())
    data["exit"], data["seconds"] = proc.returncode, time.perf_counter() - started
    data["machine"] = next(
        (line for line in proc.stdout.splitlines() if line.startswith("machine")), ""
    )
    return data


def _ab_line(data: dict[str, Any]) -> str:
    rows = {r["metric"]: r for r in data["comparisons"][0]["rows"]}
    p95 = rows["p95"]
    low, high = p95["spread"] or (0.0, 0.0)
    word = "REGRESSED" if data["exit"] else "ok"
    return (
        f"{word:<9} p95 {p95['change']:+6.1%} (rounds {low:+.1%}..{high:+.1%}) "
        f"{data['seconds']:.0f}s; {data['machine'].removeprefix('machine during the rounds: ')}"
    )


def ab(args: argparse.Namespace, work: Path) -> int:
    repo = make_project(work)
    same: list[bool] = []
    slow: list[bool] = []
    with burners(args.burners):
        for i in range(args.runs):
            for label, slowdown, into in (("same", 1.0, same), ("+20%", 1.2, slow)):
                set_change(repo, slowdown)
                data = ab_run(repo, work / f"ab{i}.json", args.rounds, seed=1000 + i)
                into.append(bool(data["exit"]))
                print(f"{i + 1:>2} {label:<5} {_ab_line(data)}", flush=True)
    n = args.runs
    print(f"\nA/B, {args.burners} burners, {args.rounds} rounds: unchanged {sum(same)}/{n} false "
          f"alarms; +20% latency {sum(slow)}/{n} caught")  # fmt: skip
    return 0


def record(args: argparse.Namespace, work: Path) -> int:
    repo = make_project(work)
    set_change(repo, args.slowdown, args.cpu_us)
    with burners(args.burners):
        pytest_run(repo, f"--agentperf-json={args.out.resolve()}")
    for extra in args.out.parent.glob(args.out.stem + ".gab-*.json"):
        extra.unlink()  # the github-action-benchmark files: not needed here
    result = json.loads(args.out.read_text())["tests"][0]["results"][0]
    check = result["selfcheck"]
    print(f"{args.out}: p95 {result['latency']['p95'] * 1e3:.1f}ms, cpu/task "
          f"{result['cpu_per_task'] * 1e6:.0f}us, run-queue wait {check['run_queue_wait']:.0%}, "
          f"other CPU {check['other_cpu']:.1f}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    s = modes.add_parser("saved", help="saved baseline: false alarms and misses")
    s.add_argument("--burners", type=int, default=2)
    s.add_argument("--compares", type=int, default=20)
    a = modes.add_parser("ab", help="agentperf ab: false alarms and misses")
    a.add_argument("--burners", type=int, default=2)
    a.add_argument("--runs", type=int, default=10)
    a.add_argument("--rounds", type=int, default=10)
    r = modes.add_parser("record", help="one run of the suite, as a results document")
    r.add_argument("out", type=Path)
    r.add_argument("--burners", type=int, default=0)
    r.add_argument("--slowdown", type=float, default=1.0)
    r.add_argument("--cpu-us", type=float, default=0.0)
    for mode in (s, a, r):
        mode.add_argument("--median", type=float, default=40.0, help="LLM latency median, ms")
        mode.add_argument("--p99", type=float, default=150.0, help="LLM latency p99, ms")
        mode.add_argument("--tasks", type=int, default=2000, help="tasks per run")
    args = parser.parse_args(argv)
    LATENCY.update(median=args.median / 1e3, p99=args.p99 / 1e3, tasks=args.tasks)
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, mode {args.mode}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-busy-") as folder:
        run = {"saved": saved, "ab": ab, "record": record}[args.mode]
        return run(args, Path(folder))


if __name__ == "__main__":
    raise SystemExit(main())
