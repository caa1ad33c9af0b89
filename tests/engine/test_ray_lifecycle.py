"""Ctrl-C during a ``backend="ray"`` run: the shares are cancelled (each agent torn down
in its actor), the actors killed, the local cluster stopped; nothing keeps running.

A pytest session of its own (``--agentperf-backend ray``: its own local cluster, a few
seconds to start) runs a test on two actors with tasks that take a second each; the test
interrupts it once both actors have built their target. Skipped without the ``ray`` extra.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]

INNER = """
import functools
import os

import pytest

from pytest_agentperf import AgentPerf
from tests.engine import proc_targets


@pytest.mark.asyncio
async def test_long(agent_perf: AgentPerf) -> None:
    factory = functools.partial(proc_targets.slow_marked, os.environ["MARKS"])
    await agent_perf.run(factory, n=1000, concurrency=4, workers=2)
"""
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def test_ctrl_c_cancels_the_shares_and_leaves_nothing_running(tmp_path: Path) -> None:
    (tmp_path / "test_long.py").write_text(INNER)
    (tmp_path / "pytest.ini").write_text(INI)
    marks = tmp_path / "marks"
    marks.mkdir()
    command = ["-m", "pytest", "-p", "no:cacheprovider", "--agentperf-backend", "ray"]
    driver = subprocess.Popen(
        [sys.executable, *command, "test_long.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MARKS": str(marks)},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        starts = [marks / f"start-{i}" for i in (0, 1)]
        deadline = time.monotonic() + 90
        while not all(p.exists() for p in starts) and time.monotonic() < deadline:
            assert driver.poll() is None, driver.communicate()[0].decode()[-2000:]
            time.sleep(0.1)
        assert all(p.exists() for p in starts), "the actors did not start"
        time.sleep(0.5)  # the measured phase is under way
        cluster = psutil.Process(driver.pid).children(recursive=True)  # Ray's daemons, actors
        actors = [psutil.Process(int(p.read_text())) for p in starts]
        assert {a.pid for a in actors} <= {p.pid for p in cluster}
        driver.send_signal(signal.SIGINT)  # Ctrl-C
        output, _ = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert driver.returncode == pytest.ExitCode.INTERRUPTED, output.decode()[-2000:]
    # each share got the cancellation: its agent was torn down inside the actor
    assert sorted(p.name for p in marks.iterdir()) == ["start-0", "start-1", "stop-0", "stop-1"]
    _, alive = psutil.wait_procs(cluster, timeout=15)
    assert not alive, [(p.pid, p.name()) for p in alive]
