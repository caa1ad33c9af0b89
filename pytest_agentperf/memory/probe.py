"""Reading the process's memory: RSS, private anonymous bytes, USS and allocated blocks.

Never tracemalloc here: these are cheap reads of the operating system's counters
(``/proc/self/statm`` and ``/proc/self/smaps_rollup`` on Linux, through psutil) and of the
interpreter's block counter. The object holds no state that breaks across processes:
the psutil handle is re-created when the process id changes (fork, xdist workers).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import psutil

__all__ = ["Metric", "Probe", "Reading", "peak_rss"]

Metric = Literal["anon", "uss", "rss"]
_PLATFORM: str = sys.platform
_LINUX = _PLATFORM.startswith("linux")


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or ``None`` where there is no such function (musl, macOS)."""
    if not _LINUX:
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


@dataclass(frozen=True, slots=True)
class Reading:
    """One set of counters, in bytes (``blocks`` is a count; 0 means "not available")."""

    rss: int
    anon: int
    uss: int
    blocks: int


class Probe:
    """Reads the memory of the current process.

    ``anon`` is resident private anonymous memory (Linux: RSS minus resident file-backed and
    shared pages): the heap and arenas where a leak lands, and nothing else. Unlike USS it does
    not jump when *another* process maps the same shared libraries, and unlike RSS it does not
    grow when new library code is paged in. USS costs a parse of ``/proc/self/smaps``
    (0.1-1 ms, growing with the process) against 0.01 ms for the rest.

    Before reading, glibc's ``malloc_trim(0)`` hands free heap pages back to the system
    (about 0.05 ms). Without it a leak that refills memory freed earlier in the process (by
    a previous test) does not move RSS at all: measured 0 B/task for a 1 KiB/task leak after
    a 20 MB hole was freed; with it, 1,065-1,080 B/task.
    """

    def __init__(self, *, uss: bool = True, trim: bool = True) -> None:
        self.uss_enabled = uss  # whether USS can be read at all (see ``read(uss=...)``)
        self._trim = _malloc_trim() if trim else None
        self._pid = -1
        self._process: psutil.Process | None = None

    @property
    def process(self) -> psutil.Process:
        pid = os.getpid()
        if self._process is None or pid != self._pid:
            self._process = psutil.Process(pid)
            self._pid = pid
        return self._process

    @property
    def metric(self) -> Metric:
        """The series that measures growth in bytes on this platform."""
        if _LINUX:
            return "anon"
        if _PLATFORM == "win32" and self.uss_enabled:
            return "uss"  # the private working set
        return "rss"

    def read(self, *, uss: bool = True) -> Reading:
        """Trim the heap (glibc), then read the counters; call after ``gc.collect()``.

        ``uss=False`` skips USS for this reading (it is then 0).
        """
        # Blocks first: the psutil reads below allocate objects that are still alive when
        # they return, and with USS read only at the ends they would step the last sample.
        blocks = sys.getallocatedblocks()
        if self._trim is not None:
            self._trim()
        info = self.process.memory_info()
        shared = int(getattr(info, "shared", 0))
        anon = info.rss - shared if _LINUX else 0
        uss_bytes = 0
        if uss and self.uss_enabled:
            try:
                uss_bytes = int(getattr(self.process.memory_full_info(), "uss", 0))
            except (psutil.AccessDenied, NotImplementedError):  # pragma: no cover - platform
                uss_bytes = 0
        return Reading(rss=info.rss, anon=anon, uss=uss_bytes, blocks=blocks)


def peak_rss(process: psutil.Process) -> int:
    """The process's peak RSS so far, in bytes (0 where the platform cannot tell)."""
    if sys.platform == "win32":
        return int(getattr(process.memory_info(), "peak_wset", 0))
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; bytes on macOS
    return int(maxrss if sys.platform == "darwin" else maxrss * 1024)
