"""``run(factory, processes=N)``: the workload on N worker processes, one per core.

One Python process drives an agent on one core; past that, the load itself must be split.
The workers are started with ``multiprocessing``'s *spawn* method: a fresh interpreter
that imports what it needs, so nothing of the test process (its event loop, threads,
respx patches, open sockets, pytest's state) is inherited. Each worker builds its own mock
(a replica of the test's) and its own target from the factory, warms up, and reports
ready; when every worker is ready the parent says "go" and they run their measured
phases together. Each sends back its result, every task's latencies, its mock's
statistics and its CPU time, and the parent merges them (``shares.combine``).

The parent's event loop only waits on the workers' pipes and exit sentinels (a few
wake-ups a second for the progress line), so it takes no CPU from them. A worker that
fails or dies is reported; nothing outlives the run: on any exit, including Ctrl-C (the
workers ignore SIGINT; the parent decides) and a cancelled test, the parent asks the
workers to stop, then terminates and finally kills those still alive, and a worker whose
parent disappears (its pipe closes) stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import pickle
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from pytest_agentperf.engine.plan import RunPlan
from pytest_agentperf.engine.shares import Naming, ShareOutcome
from pytest_agentperf.engine.workers import Job, make_jobs
from pytest_agentperf.protocols import ProgressSink
from pytest_agentperf.result import PerfResult
from pytest_agentperf.spend import Prices

__all__ = ["ProcessGroup", "run_in_processes", "worker_main"]

#: How long the workers get to stop on their own before they are terminated, then killed.
STOP_GRACE = 3.0
KILL_GRACE = 2.0
PROGRESS_EVERY = 0.25


async def run_in_processes(
    factory: object,
    tasks: object,
    plan: RunPlan,
    processes: int,
    *,
    mock: object = None,
    memory: object = None,
    progress: ProgressSink | None = None,
    max_records: int,
    freeze_gc: bool = True,
    prices: Prices | None = None,
    naming: Naming | None = None,
) -> PerfResult:
    """Run ``plan`` split over ``processes`` workers and return the merged result."""
    jobs = make_jobs(
        factory,
        tasks,
        plan,
        processes,
        naming or Naming.processes(processes),
        mock=mock,
        memory=memory,
        max_records=max_records,
        freeze_gc=freeze_gc,
        prices=prices,
    )
    group = ProcessGroup(jobs.blobs)
    try:
        group.start()
        outcomes = await group.run(progress, plan.name, plan.n)
    finally:
        group.close()
    return jobs.combine(plan, outcomes, mock)


# -- the parent's side ----------------------------------------------------------------------


class _Worker:
    """One worker process as the parent sees it."""

    __slots__ = ("conn", "done", "index", "outcome", "p95", "process", "rate", "ready")

    def __init__(self, index: int, process: BaseProcess, conn: Connection) -> None:
        self.index = index
        self.process = process
        self.conn = conn
        self.ready = False
        self.outcome: ShareOutcome | None = None
        self.done = 0
        self.rate = 0.0
        self.p95: float | None = None


class ProcessGroup:
    """Worker processes, their pipes, and what they reported."""

    def __init__(self, jobs: Sequence[bytes]) -> None:
        self._jobs = list(jobs)
        self._workers: list[_Worker] = []
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._progress: ProgressSink | None = None
        self._closed = False

    def start(self) -> None:
        """Spawn the workers and watch their pipes and exits from the running loop."""
        context = multiprocessing.get_context("spawn")
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        for index, blob in enumerate(self._jobs):
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=worker_main,
                args=(child_end, index, blob),
                name=f"agentperf-worker-{index}",
                daemon=True,
            )
            process.start()
            child_end.close()
            worker = _Worker(index, process, parent_end)
            self._workers.append(worker)
            self._loop.add_reader(parent_end.fileno(), self._on_message, worker)
            self._loop.add_reader(process.sentinel, self._on_exit, worker)

    async def run(
        self, progress: ProgressSink | None, name: str, total: int | None
    ) -> list[ShareOutcome]:
        """Wait until every worker is ready (or gone), start them together, collect."""
        await self._until(lambda w: w.ready or w.outcome is not None)
        for worker in self._workers:
            if worker.outcome is None:
                _send(worker.conn, "go")
        self._progress = progress
        if progress is not None:
            progress.start(name, total)
        try:
            await self._until(lambda w: w.outcome is not None)
        finally:
            if progress is not None:
                self._report_progress()
                progress.finish()
            self._progress = None
        return [w.outcome for w in self._workers if w.outcome is not None]

    async def _until(self, ended: Callable[[_Worker], bool]) -> None:
        assert self._changed is not None
        while not all(ended(w) for w in self._workers):
            self._changed.clear()
            await self._changed.wait()

    def _on_message(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._handle(worker, worker.conn.recv())
        except (EOFError, OSError):
            self._unwatch(worker.conn.fileno())  # the exit sentinel reports the rest
        assert self._changed is not None
        self._changed.set()

    def _handle(self, worker: _Worker, message: Any) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
        elif kind == "progress":
            worker.done, worker.rate, worker.p95 = message[1:4]
            self._report_progress()
        elif kind == "outcome":
            worker.outcome = message[1]
            if worker.outcome.result is not None:
                worker.done = worker.outcome.result.total

    def _on_exit(self, worker: _Worker) -> None:
        self._unwatch(worker.process.sentinel)
        if not worker.conn.closed:
            self._on_message(worker)  # what it sent just before exiting
        worker.process.join(1.0)  # its pipes close a moment before it can be reaped
        if worker.outcome is None:
            worker.outcome = ShareOutcome(
                index=worker.index,
                pid=worker.process.pid or 0,
                error=_exit_text(worker.process.exitcode),
                error_type="WorkerLost",
                stage="run" if worker.ready else "setup",
                done=worker.done,
            )
        assert self._changed is not None
        self._changed.set()

    def _report_progress(self) -> None:
        if self._progress is None:
            return
        workers = self._workers
        p95s = [w.p95 for w in workers if w.p95 is not None]
        self._progress.update(
            sum(w.done for w in workers), sum(w.rate for w in workers), max(p95s, default=None)
        )

    def _unwatch(self, fd: int) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(fd)

    def close(self) -> None:
        """Stop every worker still alive: ask, then terminate, then kill; close the pipes.

        Synchronous, so that it also runs when the loop is being torn down (Ctrl-C).
        """
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            self._unwatch(worker.conn.fileno())
            self._unwatch(worker.process.sentinel)
            if worker.process.is_alive():
                _send(worker.conn, "stop")
        _join_all(self._workers, STOP_GRACE, None)
        _join_all(self._workers, KILL_GRACE, "terminate")
        _join_all(self._workers, KILL_GRACE, "kill")
        for worker in self._workers:
            worker.conn.close()
            if worker.process.exitcode is not None:
                worker.process.close()


def _join_all(workers: Sequence[_Worker], grace: float, action: str | None) -> None:
    alive = [w.process for w in workers if w.process.is_alive()]
    if action is not None:
        for process in alive:
            getattr(process, action)()
    deadline = time.monotonic() + grace
    for process in alive:
        process.join(max(0.0, deadline - time.monotonic()))


def _send(conn: Connection, message: object) -> None:
    with contextlib.suppress(OSError, ValueError):  # the other end is gone (or closed)
        conn.send(message)


def _exit_text(code: int | None) -> str:
    if code is None:
        return "the worker process did not exit"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker process was killed by {name} before it sent its result"
    return f"the worker process exited with code {code} before it sent its result"


# -- the worker's side ----------------------------------------------------------------------


def worker_main(conn: Connection, index: int, blob: bytes) -> None:
    """A worker process's entry point: unpickle the job, run the share, send the outcome."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        job: Job = pickle.loads(blob)
    except Exception as exc:
        import traceback

        outcome = ShareOutcome(
            index=index,
            error=f"could not rebuild the job in the worker ({type(exc).__name__}: {exc}); "
            "is the factory's module importable there (on sys.path)?",
            error_type=type(exc).__name__,
            stage="setup",
            traceback="".join(traceback.format_exception(exc)),
        )
    else:
        outcome = asyncio.run(_serve(conn, job))
    _send(conn, ("outcome", outcome))
    conn.close()


async def _serve(conn: Connection, job: Job) -> ShareOutcome:
    loop = asyncio.get_running_loop()
    go: asyncio.Future[None] = loop.create_future()
    main = asyncio.current_task()
    assert main is not None

    def on_message() -> None:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = "stop"  # the parent is gone
        if message == "go" and not go.done():
            go.set_result(None)
        elif message == "stop":
            loop.remove_reader(conn.fileno())
            main.cancel()

    async def ready() -> None:
        _send(conn, ("ready",))
        await go

    loop.add_reader(conn.fileno(), on_message)
    try:
        return await job.run(ready=ready, progress=_PipeProgress(conn))
    except asyncio.CancelledError:
        return ShareOutcome(index=job.share.index, error="stopped by the parent", stage="cancelled")
    finally:
        if not conn.closed:
            loop.remove_reader(conn.fileno())


class _PipeProgress:
    """A worker's progress, sent to the parent at most every ``PROGRESS_EVERY`` seconds."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._last = 0.0

    def start(self, name: str, total: int | None) -> None:
        self._last = 0.0

    def update(self, done: int, rate: float, p95: float | None) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY:
            self._last = now
            _send(self._conn, ("progress", done, rate, p95))

    def finish(self) -> None:
        self._last = 0.0
