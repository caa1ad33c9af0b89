"""Garbage collection around a measured phase: the harness's heap frozen, pauses timed.

A pytest process holds 50-150 k long-lived objects (pytest, httpx, an SDK, the test
modules). A full (generation 2) collection walks all of them: ~1 µs each on a small VM,
so 100-180 ms during which the event loop, and every task in flight, stands still. Those
objects are the harness's, not the agent's, so before each warm-up and measured phase the
engine collects the young generations and calls ``gc.freeze()`` (everything alive moves
to the permanent generation, which collections skip), and ``gc.unfreeze()`` after the run,
as the memory tracker does for its rounds. Objects created during the run are collected
as usual. Only the young generations are collected first: a full collection would cost
the same 100-180 ms per ``run()`` that the freeze saves; old garbage stays frozen (in
memory, not walked) until the thaw.

:class:`GcWatch` (a ``gc.callbacks`` entry) counts the collections of the measured phase
and times each one on the thread CPU clock, per generation, so that a process waiting for
a CPU does not inflate the pauses; it allocates nothing that outlives a call.
"""

from __future__ import annotations

import contextlib
import gc
import time
from array import array
from collections.abc import Iterator
from typing import Any

from pytest_agentperf.clocks import GC_CPU

__all__ = ["FrozenHeap", "GcWatch", "frozen_heap"]


class GcWatch:
    """Collections and their pauses per generation while installed and not paused."""

    __slots__ = ("_t0", "active", "count", "longest", "total")

    def __init__(self) -> None:
        self._t0 = array("d", [0.0])
        self.count = array("q", [0, 0, 0])
        self.longest = array("d", [0.0, 0.0, 0.0])
        self.total = array("d", [0.0, 0.0, 0.0])
        self.active = True

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0[0] = time.thread_time()
            return
        pause = time.thread_time() - self._t0[0]
        GC_CPU[0] += pause  # left out of the harness's timed regions (clocks.py)
        if not self.active:
            return
        gen = info.get("generation", 2)
        gen = 2 if not 0 <= gen <= 2 else gen
        self.count[gen] += 1
        self.total[gen] += pause
        if pause > self.longest[gen]:
            self.longest[gen] = pause

    def figures(self) -> tuple[tuple[int, int, int], tuple[float, float, float], tuple[float, ...]]:
        """``(collections, longest pause, total pause)``, each per generation 0, 1, 2."""
        c, m, t = self.count, self.longest, self.total
        return (c[0], c[1], c[2]), (m[0], m[1], m[2]), (t[0], t[1], t[2])


class FrozenHeap:
    """What :func:`frozen_heap` did: ``enabled`` false means the heap was left as it was.

    (``gc.get_freeze_count()`` walks the frozen objects, ~7 ms per 50 k: not called.)
    """

    __slots__ = ("enabled",)

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def refreeze(self) -> None:
        """Collect the young garbage the warm-up left and freeze its survivors too, before
        the measured phase."""
        if self.enabled:
            gc.collect(1)
            gc.freeze()


@contextlib.contextmanager
def frozen_heap(enabled: bool = True) -> Iterator[FrozenHeap]:
    """``gc.collect(1); gc.freeze()`` on entry, ``gc.unfreeze()`` on exit.

    Does nothing when ``enabled`` is false or when something else has frozen objects
    already (the memory tracker, or the application itself): unfreezing would thaw theirs.
    """
    heap = FrozenHeap(enabled and gc.get_freeze_count() == 0)
    if not heap.enabled:
        yield heap
        return
    gc.collect(1)
    gc.freeze()
    try:
        yield heap
    finally:
        gc.unfreeze()
