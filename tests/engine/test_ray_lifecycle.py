"""Ctrl-C during a ``backend="ray"`` run: the shares are cancelled (each agent torn down
in its actor), the actors killed, the local cluster stopped; nothing keeps running.

A script of its own (its own local cluster: a few seconds to start) runs two actors on
tasks that take a second each; the test interrupts it once both have built their target.
Skipped without the ``ray`` extra.
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

SCRIPT = """
import functools
import sys

from pytest_agentperf import AgentPerf
from tests.engine import proc_targets

factory = functools.partial(proc_targets.slow_marked, sys.argv[1])
AgentPerf().run_sync(factory, n=1000, concurrency=4, workers=2, backend="ray")
"""


def test_ctrl_c_cancels_the_shares_and_leaves_nothing_running(tmp_path: Path) -> None:
    script = tmp_path / "load.py"
    script.write_text(SCRIPT)
    marks = tmp_path / "marks"
    marks.mkdir()
    driver = subprocess.Popen(
        [sys.executable, str(script), str(marks)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        starts = [marks / f"start-{i}" for i in (0, 1)]
        deadline = time.monotonic() + 90
        while not all(p.exists() for p in starts) and time.monotonic() < deadline:
            assert driver.poll() is None, driver.communicate()[1].decode()[-2000:]
            time.sleep(0.1)
        assert all(p.exists() for p in starts), "the actors did not start"
        time.sleep(0.5)  # the measured phase is under way
        cluster = psutil.Process(driver.pid).children(recursive=True)  # Ray's daemons, actors
        actors = [psutil.Process(int(p.read_text())) for p in starts]
        assert {a.pid for a in actors} <= {p.pid for p in cluster}
        driver.send_signal(signal.SIGINT)  # Ctrl-C
        _, stderr = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert b"KeyboardInterrupt" in stderr
    # each share got the cancellation: its agent was torn down inside the actor
    assert sorted(p.name for p in marks.iterdir()) == ["start-0", "start-1", "stop-0", "stop-1"]
    _, alive = psutil.wait_procs(cluster, timeout=15)
    assert not alive, [p.info for p in alive]
