"""CPU clocks for attributing a run's CPU: the process's, and the loop thread's wait.

(The harness's own work is timed on the thread CPU clock, sampled: ``pytest_agentperf.clocks``,
shared with the mock.)

* **The process's CPU** (``time.process_time``: every thread, exact on Linux) is read at
  each phase's ends, and every monitor tick into a :class:`CpuTimeline` from which the CPU
  of any time window is interpolated (per-window CPU for baseline comparisons).
* **The loop thread's run-queue wait** (Linux ``/proc/thread-self/schedstat``): the time
  the thread was ready to run but another process had the CPU. It tells "other processes
  slowed this run down" apart from "this process is CPU-bound" exactly, where the machine's
  total CPU use can only hint at it.
"""

from __future__ import annotations

import bisect
import math
from array import array

__all__ = ["CpuTimeline", "SchedStat", "read_schedstat"]

_SCHEDSTAT = "/proc/thread-self/schedstat"


class SchedStat:
    """CPU time and run-queue wait of the calling thread, in seconds (Linux)."""

    __slots__ = ("cpu", "wait")

    def __init__(self, cpu: float, wait: float) -> None:
        self.cpu = cpu
        self.wait = wait


def read_schedstat() -> SchedStat | None:
    """The calling thread's schedstat, or ``None`` where the kernel does not provide it."""
    try:
        with open(_SCHEDSTAT, "rb") as f:
            fields = f.read().split()
        return SchedStat(int(fields[0]) * 1e-9, int(fields[1]) * 1e-9)
    except (OSError, ValueError, IndexError):
        return None


class CpuTimeline:
    """``(perf_counter, process_time)`` samples at a bounded, decimating density.

    Preallocated; when full, every other sample is dropped in place and from then on only
    every second ``add`` is kept (then every fourth, ...), so a run of any length keeps at
    most ``size`` samples spread over all of it and a sample allocates nothing that lasts
    (the monitor also runs during memory rounds). :meth:`cpu_between` interpolates.
    """

    __slots__ = ("_cpu", "_n", "_seen", "_stride", "_t")

    def __init__(self, size: int = 2048) -> None:
        self._t = array("d", bytes(8 * size))
        self._cpu = array("d", bytes(8 * size))
        self._n = array("q", [0, 0, 1])  # kept, seen, stride

    def add(self, now: float, cpu: float) -> None:
        """Record the process's CPU ``cpu`` at ``now`` (both in seconds)."""
        n = self._n
        seen = n[1]
        n[1] = seen + 1
        if seen % n[2]:
            return
        k = n[0]
        if k == len(self._t):
            self._halve()
            k = n[0]
        self._t[k] = now
        self._cpu[k] = cpu
        n[0] = k + 1

    def force(self, now: float, cpu: float) -> None:
        """Record a sample whatever the stride (a phase's exact ends)."""
        n = self._n
        n[1] = 0  # the next add() is kept too: harmless
        self.add(now, cpu)

    def _halve(self) -> None:
        n = self._n
        kept = n[0]
        for i in range(0, kept, 2):
            self._t[i // 2] = self._t[i]
            self._cpu[i // 2] = self._cpu[i]
        n[0] = (kept + 1) // 2
        n[2] *= 2

    @property
    def count(self) -> int:
        return int(self._n[0])

    def cpu_at(self, t: float) -> float:
        """The process's CPU at ``t``, interpolated (NaN outside the samples)."""
        k = self._n[0]
        if k < 2 or t < self._t[0] or t > self._t[k - 1]:
            return math.nan
        i = bisect.bisect_left(self._t, t, 0, k)
        if self._t[i] == t or i == 0:
            return self._cpu[i]
        t0, t1 = self._t[i - 1], self._t[i]
        c0, c1 = self._cpu[i - 1], self._cpu[i]
        return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1

    def cpu_between(self, lo: float, hi: float) -> float:
        """Process CPU seconds spent between ``lo`` and ``hi`` (NaN outside the samples)."""
        return self.cpu_at(hi) - self.cpu_at(lo)
