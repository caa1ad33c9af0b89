"""The exact spend gate end to end: no false alarm on unchanged code, busy or quiet.

    .venv/bin/python benchmarks/bench_spend.py [--repeat 20] [--tasks 200]

Writes a downstream suite into a temporary folder: an agent whose every task makes two
LLM calls through the official openai SDK (one tool round), under ``mock_llm``. It saves
a baseline (``pytest --agentperf --agentperf-save main``), then compares the same code with
it ``--repeat`` times (``--agentperf-compare main --agentperf-compare-fail exact``), half
of them with every CPU kept busy by spinning processes; then it adds a third call and
compares once quiet and once busy. Expected: every unchanged compare passes, both changed
ones fail as REGRESSED on ``llm_calls_per_task``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AGENT = """
import openai
import pytest
from pytest_agentperf import Script, ToolCall

CALLS = {calls}
CLIENT = []


async def handle(ticket):
    if not CLIENT:
        CLIENT.append(openai.AsyncOpenAI(max_retries=0))
    messages = [{{"role": "user", "content": f"where is order {{ticket}}?"}}]
    for _ in range(CALLS):
        reply = await CLIENT[0].chat.completions.create(model="gpt-4o-mini", messages=messages)
        message = reply.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls or ():
            messages.append({{"role": "tool", "tool_call_id": call.id, "content": "shipped"}})


@pytest.mark.agentperf
async def test_agent(agent_perf, mock_llm):
    mock_llm.configure(
        latency="2ms",
        output_tokens=12,
        replies=[Script(lambda r: r.last_role == "tool", "It has shipped."),
                 Script("order", ToolCall("lookup_order", {{"id": 1}}))],
    )
    await agent_perf.run(handle, n={tasks}, concurrency=16)
    await CLIENT.pop().close()
"""
PYPROJECT = """
[tool.agentperf.prices]
currency = "USD"
"gpt-4o-mini" = { input = 0.15, output = 0.60 }
"""


def _spin() -> None:  # pragma: no cover - runs in a child process
    while True:
        pass


def _pytest(folder: Path, *args: str) -> tuple[int, str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--agentperf", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout, time.perf_counter() - started


def _compare(folder: Path, busy: bool) -> tuple[bool, float, str]:
    spinners = [
        multiprocessing.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() or 2)
    ]
    for spinner in spinners if busy else ():
        spinner.start()
    try:
        code, out, seconds = _pytest(
            folder, "--agentperf-compare=main", "--agentperf-compare-fail=exact"
        )
    finally:
        for spinner in spinners if busy else ():
            spinner.terminate()
            spinner.join()
    line = next((x for x in out.splitlines() if x.startswith("REGRESSED against")), "")
    return code != 0, seconds, line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "pyproject.toml").write_text(PYPROJECT)
        test = folder / "test_agent.py"
        test.write_text(AGENT.format(calls=2, tasks=args.tasks))
        code, out, _ = _pytest(folder, "--agentperf-save=main")
        if code != 0:
            print(out)
            return 1
        failed = []
        for i in range(args.repeat):
            busy = i % 2 == 1
            regressed, seconds, line = _compare(folder, busy)
            print(f"unchanged #{i + 1:2d} ({'busy' if busy else 'quiet'}): "
                  f"{'REGRESSED' if regressed else 'passed'} in {seconds:.1f}s {line}")  # fmt: skip
            if regressed:
                failed.append(i)
        test.write_text(AGENT.format(calls=3, tasks=args.tasks))
        caught = []
        for busy in (False, True):
            regressed, seconds, line = _compare(folder, busy)
            print(f"3 calls ({'busy' if busy else 'quiet'}): {line or 'passed'} ({seconds:.1f}s)")
            caught.append(regressed and "llm_calls_per_task 2 -> 3" in line)
    print(
        f"\nunchanged code: {args.repeat - len(failed)}/{args.repeat} compares passed "
        f"({args.repeat // 2} of them with {os.cpu_count()} spinning processes); "
        f"a third call: caught {sum(caught)}/2 (quiet, busy)."
    )
    return 0 if not failed and all(caught) else 1


if __name__ == "__main__":
    sys.exit(main())
