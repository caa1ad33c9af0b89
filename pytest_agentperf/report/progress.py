"""Live progress of long runs on a terminal: done/total, current rate and p95.

``make_progress(config_or_stream)`` returns a :class:`ProgressSink` (the protocol the load
engine calls) or ``None`` when nothing should be drawn: output is not a terminal, or the
``CI`` environment variable is set. Redraws are rate-limited (at most every
``min_interval`` seconds), overwrite one line with ``\\r``, and end with a summary line.

Under pytest, the sink writes through the terminal reporter with output capturing
suspended for the moment of the write (as pytest's live logging does), so the line
reaches the terminal even while the test's output is being captured.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from pytest_agentperf.protocols import ProgressSink
from pytest_agentperf.units import format_duration, format_rate

if TYPE_CHECKING:
    import pytest

__all__ = ["TerminalProgress", "in_ci", "make_progress"]

MIN_INTERVAL = 0.2  # seconds between redraws
_FALSEY = {"", "0", "false", "no", "off"}


def in_ci(environ: dict[str, str] | None = None) -> bool:
    """Whether we run in CI (``CI`` set to anything but an empty/false value)."""
    value = (os.environ if environ is None else environ).get("CI")
    return value is not None and value.strip().lower() not in _FALSEY


class TerminalProgress:
    """Draws one self-overwriting progress line.

    ``write`` receives the text to print (already with ``\\r`` / newline); ``clock`` is
    injectable so tests need not sleep.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        min_interval: float = MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._min_interval = min_interval
        self._clock = clock
        self._name = ""
        self._total: int | None = None
        self._started = 0.0
        self._last_draw = -float("inf")
        self._last: tuple[int, float, float | None] = (0, 0.0, None)
        self._width = 0
        self._active = False

    def start(self, name: str, total: int | None) -> None:
        self._name, self._total = name, total
        self._started = self._clock()
        self._last_draw = -float("inf")
        self._last = (0, 0.0, None)
        self._width = 0
        self._active = True
        self._write("\n")  # leave the line pytest is writing on

    def update(self, done: int, rate: float, p95: float | None) -> None:
        if not self._active:
            return
        self._last = (done, rate, p95)
        now = self._clock()
        if now - self._last_draw < self._min_interval:
            return
        self._last_draw = now
        self._draw(self.line(done, rate, p95))

    def finish(self) -> None:
        if not self._active:
            return
        self._active = False
        done, rate, p95 = self._last
        elapsed = self._clock() - self._started
        self._draw(f"{self.line(done, rate, p95)} in {elapsed:.1f}s")
        self._write("\n")

    def line(self, done: int, rate: float, p95: float | None) -> str:
        """The progress text: ``name: 1,200/2,000 (60%) 412/s p95 48.2ms``."""
        if self._total:
            share = min(1.0, done / self._total)
            count = f"{done:,}/{self._total:,} ({share:.0%})"
        else:
            count = f"{done:,} done"
        p95_text = f" p95 {format_duration(p95)}" if p95 is not None else ""
        return f"agentperf {self._name}: {count} {format_rate(rate)}{p95_text}"

    def _draw(self, text: str) -> None:
        pad = " " * max(0, self._width - len(text))
        self._width = len(text)
        self._write(f"\r{text}{pad}")


def _stream_writer(stream: IO[str]) -> Callable[[str], None]:
    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    return write


def _pytest_writer(config: pytest.Config) -> Callable[[str], None] | None:
    reporter: Any = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not getattr(reporter, "isatty", False):
        return None
    capman: Any = config.pluginmanager.get_plugin("capturemanager")

    def write(text: str) -> None:
        with _uncaptured(capman):
            reporter.write(text, flush=True)

    return write


@contextlib.contextmanager
def _uncaptured(capman: Any) -> Iterator[None]:
    if capman is None:
        yield
    else:
        with capman.global_and_fixture_disabled():
            yield


def make_progress(
    config_or_stream: pytest.Config | IO[str] | None,
    *,
    min_interval: float = MIN_INTERVAL,
) -> ProgressSink | None:
    """A progress sink for a pytest ``Config`` or a text stream, or None when silent.

    Silent (None) when the ``CI`` environment variable is set, when the stream (or
    pytest's terminal) is not a TTY, under an xdist worker, or for ``None``.
    """
    if config_or_stream is None or in_ci():
        return None
    if hasattr(config_or_stream, "pluginmanager"):
        config: Any = config_or_stream
        if hasattr(config, "workerinput"):  # xdist worker: no terminal of its own
            return None
        writer = _pytest_writer(config)
        return None if writer is None else TerminalProgress(writer, min_interval=min_interval)
    stream: Any = config_or_stream
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return None
    return TerminalProgress(_stream_writer(stream), min_interval=min_interval)
