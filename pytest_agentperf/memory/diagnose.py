"""The diagnostic pass: one extra round under tracemalloc that says where memory grows.

Only ever run *after* the measured rounds, when a leak was found: tracemalloc slows the
code it traces several times over, so it never touches the figures the verdict is made of.
"""

from __future__ import annotations

import gc
import linecache
import os
import sysconfig
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pytest_agentperf.units import format_bytes

__all__ = ["HARNESS_FILES", "Diagnosis", "Site", "attribute", "render"]

_PACKAGE = Path(__file__).resolve().parent.parent
# Frames of the harness itself: its bookkeeping is not the agent's growth.
HARNESS_FILES: tuple[str, ...] = (
    str(_PACKAGE / "memory") + os.sep,
    str(_PACKAGE / "load.py"),
    str(_PACKAGE / "phase.py"),
    str(_PACKAGE / "targets.py"),
    str(_PACKAGE / "stats.py"),
    str(_PACKAGE / "selfcheck.py"),
    str(_PACKAGE / "asyncbench.py"),
    tracemalloc.__file__,
    "<frozen importlib._bootstrap",
    "<unknown>",
)
_STDLIB = tuple(
    {str(Path(sysconfig.get_paths()[key]).resolve()) + os.sep for key in ("stdlib", "platstdlib")}
)


@dataclass(frozen=True, slots=True)
class Site:
    """A source line where memory that outlived the diagnostic round was allocated."""

    filename: str
    lineno: int
    size: int  # bytes still allocated at the end of the round
    count: int  # blocks still allocated
    via: tuple[str, int] | None = None  # the nearest user frame when the line is stdlib


def _is_stdlib(filename: str) -> bool:
    return filename.startswith(_STDLIB) and "site-packages" not in filename


def attribute(
    diffs: Sequence[tracemalloc.StatisticDiff], exclude: Sequence[str] = HARNESS_FILES
) -> list[Site]:
    """Group grown traces by the most recent frame outside the harness, largest first.

    Traces made only of harness frames are dropped. When that frame is in the standard
    library (a leaked ``asyncio.Task`` is allocated in ``asyncio``), the nearest frame
    outside it is named too, as ``via``.
    """
    totals: dict[tuple[str, int, tuple[str, int] | None], list[int]] = {}
    for diff in diffs:
        if diff.size_diff <= 0:
            continue
        frames = [f for f in reversed(diff.traceback) if not f.filename.startswith(tuple(exclude))]
        if not frames:
            continue
        top = frames[0]
        via = None
        if _is_stdlib(top.filename):
            outside = next((f for f in frames if not _is_stdlib(f.filename)), None)
            via = (outside.filename, outside.lineno) if outside else None
        key = (top.filename, top.lineno, via)
        entry = totals.setdefault(key, [0, 0])
        entry[0] += diff.size_diff
        entry[1] += max(diff.count_diff, 0)
    sites = [Site(f, n, size, count, via) for (f, n, via), (size, count) in totals.items()]
    return sorted(sites, key=lambda s: s.size, reverse=True)


def _where(filename: str, lineno: int) -> str:
    try:
        shown = os.path.relpath(filename)
    except ValueError:  # pragma: no cover - another drive on Windows
        shown = filename
    if shown.startswith(".."):
        shown = filename
    return f"{shown}:{lineno}"


def render(sites: Sequence[Site], tasks: int, top: int = 5) -> str:
    """The diagnosis text for a failure message."""
    head = f"diagnosis (tracemalloc, one extra round of {tasks:,} tasks after the measured run):"
    if not sites:
        return (
            f"{head} no Python allocation outlived the round; the growth is outside "
            "Python's allocator (a C extension or native library) or did not recur."
        )
    lines = [f"{head} top allocation sites by growth"]
    # Sites under 2% of the largest are the round's own leftovers (its last task objects).
    shown = [site for site in sites[:top] if site.size >= 0.02 * sites[0].size]
    for rank, site in enumerate(shown, start=1):
        per_task = f", ~{site.size / tasks:,.0f} B/task" if tasks else ""
        lines.append(
            f"  {rank}. {_where(site.filename, site.lineno)}: +{format_bytes(site.size)} "
            f"in {site.count:,} blocks{per_task}"
        )
        source = linecache.getline(site.filename, site.lineno).strip()
        if source:
            lines.append(f"       {source}")
        if site.via is not None:
            lines.append(f"       via {_where(*site.via)}")
    return "\n".join(lines)


class Diagnosis:
    """Context manager around one round: traces allocations and renders the growth on exit.

    If tracemalloc was already tracing (``PYTHONTRACEMALLOC``), it is left running.
    """

    def __init__(
        self,
        *,
        tasks: int,
        reset: Sequence[Callable[[], object]] = (),
        on_done: Callable[[str], None] | None = None,
        frames: int = 16,
        top: int = 5,
        exclude: Sequence[str] = HARNESS_FILES,
    ) -> None:
        self.tasks = tasks
        self.text: str | None = None
        self._reset = tuple(reset)
        self._on_done = on_done
        self._frames = frames
        self._top = top
        self._exclude = tuple(exclude)
        self._started = False
        self._before: tracemalloc.Snapshot | None = None

    def _settle(self) -> None:
        for hook in self._reset:
            hook()
        gc.collect()

    def __enter__(self) -> None:
        self._settle()
        self._started = not tracemalloc.is_tracing()
        if self._started:
            tracemalloc.start(self._frames)
        self._before = tracemalloc.take_snapshot()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._settle()
            after = tracemalloc.take_snapshot()
        finally:
            if self._started:
                tracemalloc.stop()
        assert self._before is not None
        diffs = after.compare_to(self._before, "traceback")
        self._before = None
        self.text = render(attribute(diffs, self._exclude), self.tasks, self._top)
        if self._on_done is not None:
            self._on_done(self.text)
