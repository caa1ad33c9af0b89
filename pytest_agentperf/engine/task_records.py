"""Per-task timestamps of one measured phase, in flat preallocated arrays (the hot path)."""

from __future__ import annotations

import bisect
import math
import random
from array import array

__all__ = ["DEFAULT_MAX_RECORDS", "TaskRecords"]

#: Per-run bound on kept task records (34 bytes each: ~34 MB). Beyond it the records become
#: a uniform sample of all tasks (Algorithm R); counts stay exact.
DEFAULT_MAX_RECORDS = 1_000_000
_CHUNK = 8192
_NAN = math.nan


class TaskRecords:
    """Compact per-task timestamps (``perf_counter`` seconds) of one measured phase.

    Five flat arrays (intended start, actual start, first token or NaN, finish, outcome
    code: 0 = success, k = ``error_names[k - 1]``) indexed by completion order. With
    ``expected`` known they are allocated once up front, so recording a task allocates
    nothing; otherwise they grow in chunks of 8192. At most ``max_records`` are kept;
    after that each new task replaces a random kept one (a uniform sample of all tasks).

    ``harness_cpu`` holds ``[CPU seconds, tasks timed]`` of the engine's own per-task
    bookkeeping, timed on one task in ``clocks.SAMPLE_EVERY`` (see :meth:`bookkeeping`).
    """

    __slots__ = (
        "_capacity",
        "_error_index",
        "_rng",
        "code",
        "completed",
        "count",
        "error_counts",
        "error_names",
        "failed",
        "finished",
        "first",
        "harness_cpu",
        "intended",
        "kept",
        "max_records",
        "started",
    )

    def __init__(
        self, expected: int | None = None, *, max_records: int = DEFAULT_MAX_RECORDS
    ) -> None:
        self.max_records = max(1, max_records)
        size = min(expected, self.max_records) if expected else 0
        self.intended = _doubles(size)
        self.started = _doubles(size)
        self.first = array("d", [_NAN]) * size
        self.finished = _doubles(size)
        self.code = array("H", bytes(2 * size))
        self._capacity = size
        self.count = 0  # tasks recorded (exact)
        self.kept = 0  # records held (<= max_records)
        self.completed = 0
        self.failed = 0
        self.error_names: list[str] = []
        self.error_counts: list[int] = []
        self._error_index: dict[str, int] = {}
        self._rng = random.Random(0x5EED)
        self.harness_cpu = array("d", [0.0, 0.0])

    def add(self, intended: float, started: float, first: float, finished: float, err: int) -> None:
        """Record one task (``err`` from :meth:`error_code`, 0 for success)."""
        k = self.count
        self.count = k + 1
        if err:
            self.failed += 1
            self.error_counts[err - 1] += 1
        else:
            self.completed += 1
        if k >= self._capacity:
            if k >= self.max_records:
                k = self._rng.randrange(k + 1)
                if k >= self.max_records:
                    return
            else:
                self._grow()
        if k >= self.kept:
            self.kept = k + 1
        self.intended[k] = intended
        self.started[k] = started
        self.first[k] = first
        self.finished[k] = finished
        self.code[k] = err

    def reset(self) -> None:
        """Forget every record, keeping the allocated arrays (for reused scratch records)."""
        self.count = self.kept = self.completed = self.failed = 0
        self.error_counts = [0] * len(self.error_names)
        self.harness_cpu[0] = self.harness_cpu[1] = 0.0

    def bookkeeping(self) -> float | None:
        """The engine's CPU seconds per task (mean of the timed tasks), ``None`` if none."""
        cpu, timed = self.harness_cpu
        return max(0.0, cpu / timed) if timed else None

    def error_code(self, name: str) -> int:
        """The outcome code of error type ``name`` (allocated on first sight)."""
        code = self._error_index.get(name)
        if code is None:
            if len(self.error_names) >= 65534:
                return self.error_code("other")
            self.error_names.append(name)
            self.error_counts.append(0)
            code = self._error_index[name] = len(self.error_names)
        return code

    def _grow(self) -> None:
        step = min(_CHUNK, self.max_records - self._capacity)
        self.intended.extend(_doubles(step))
        self.started.extend(_doubles(step))
        self.first.extend(array("d", [_NAN]) * step)
        self.finished.extend(_doubles(step))
        self.code.extend(array("H", bytes(2 * step)))
        self._capacity += step

    @property
    def sampled(self) -> bool:
        """Whether the records are a sample (more tasks than ``max_records``)."""
        return self.count > self.kept

    def errors(self) -> dict[str, int]:
        return {n: c for n, c in zip(self.error_names, self.error_counts, strict=True) if c}

    def latencies(self) -> list[float]:
        """Finish minus intended start, per kept record."""
        return [
            f - i
            for i, f in zip(self.intended[: self.kept], self.finished[: self.kept], strict=True)
        ]

    def service_latencies(self) -> list[float]:
        """Finish minus actual start, per kept record."""
        return [
            f - s
            for s, f in zip(self.started[: self.kept], self.finished[: self.kept], strict=True)
        ]

    def ttfts(self) -> list[float]:
        """First token minus intended start, for records that marked one."""
        pairs = zip(self.intended[: self.kept], self.first[: self.kept], strict=True)
        return [t - i for i, t in pairs if t == t]

    def start_delays(self) -> list[float]:
        """Actual minus intended start, per kept record (open loop: dispatch lateness)."""
        pairs = zip(self.intended[: self.kept], self.started[: self.kept], strict=True)
        return [s - i for i, s in pairs]

    def completed_by(self, first: int, moment: float) -> int | None:
        """Successes among records ``first`` onward that finished by ``moment``.

        ``None`` when the records are a sample (their order then no longer follows
        completion, so a phase's slice cannot be told apart).
        """
        if self.sampled:
            return None
        # Records are kept in completion order, so their finish times are sorted.
        end = bisect.bisect_right(self.finished, moment, first, self.kept)
        return self.code[first:end].count(0)

    def scaled(self, kept_count: int) -> int:
        """A count among the kept records scaled to all tasks (records may be a sample)."""
        return round(kept_count * self.count / self.kept) if self.kept else 0


def _doubles(n: int) -> array[float]:
    return array("d", bytes(8 * n))
