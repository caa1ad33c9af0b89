"""Nothing outlives a multi-process run: Ctrl-C, and a parent that is killed outright.

A script runs ``processes=2`` on tasks that take a second each (or holds the mock's server
process open), in its own session (a terminal's process group); the test waits until its
children are up, then interrupts or kills it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio
from pytest_agentperf import AgentPerf
from tests.engine import proc_targets

async def main() -> None:
    await AgentPerf().run(proc_targets.slow, n=1000, concurrency=4, processes=2)

if __name__ == "__main__":
    asyncio.run(main())
"""


def is_worker(process: psutil.Process) -> bool:
    """A spawned worker (not multiprocessing's resource tracker, which exits with its
    parent)."""
    try:
        return "spawn_main" in " ".join(process.cmdline())
    except psutil.Error:
        return False


def start(
    tmp_path: Path, source: str = SCRIPT, count: int = 2
) -> tuple[subprocess.Popen[bytes], list[psutil.Process]]:
    """Run ``source`` as a script; return it and its ``count`` spawned children, once up."""
    script = tmp_path / "load.py"
    script.write_text(source)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group, as a terminal gives a command
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < count:
        time.sleep(0.1)
        children = psutil.Process(parent.pid).children()
        workers = [c for c in children if is_worker(c)]
    assert len(workers) == count, "the child processes did not start"
    time.sleep(1.0)  # past their start-up: they are running tasks
    return parent, workers


def gone(workers: list[psutil.Process], within: float) -> bool:
    _, alive = psutil.wait_procs(workers, timeout=within)
    return not alive


def test_ctrl_c_stops_the_workers_and_the_run(tmp_path: Path) -> None:
    parent, workers = start(tmp_path)
    os.killpg(parent.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    try:
        _, stderr = parent.communicate(timeout=30)
    finally:
        parent.kill()
    assert b"KeyboardInterrupt" in stderr
    assert gone(workers, within=10)


def test_workers_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    parent, workers = start(tmp_path)
    parent.kill()  # SIGKILL: no clean-up code runs in the parent
    parent.communicate(timeout=10)
    assert gone(workers, within=15)


@pytest.fixture(autouse=True)
def _no_stray_workers() -> Iterator[None]:
    yield
    assert not [p for p in psutil.Process().children(recursive=True) if is_worker(p)]


SERVER_SCRIPT = """
import asyncio
from pytest_agentperf import MockLLM

async def main() -> None:
    async with MockLLM().serve(process=True):
        await asyncio.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_the_mock_server_process_stops_when_its_test_process_is_killed(tmp_path: Path) -> None:
    parent, servers = start(tmp_path, SERVER_SCRIPT, count=1)
    parent.kill()
    parent.communicate(timeout=10)
    assert gone(servers, within=15)
