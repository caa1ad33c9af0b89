"""``run(factory, workers=N, backend="ray")``: the workload on N Ray actors.

The same split and merge as ``processes=N`` (``shares``, ``workers``): each actor is an
async Ray actor, a process of its own on some node of the cluster with its own event
loop, one CPU reserved for it. It unpickles its :class:`~.workers.Job`, builds its mock
and its target from the factory, warms up and waits; when every actor has warmed up the
driver says "go" and they run their measured phases together. Latencies are measured
where the tasks ran (no clock is compared between machines) and each actor's time series
counts from its own start; the driver merges the outcomes exactly
(:meth:`~.workers.Jobs.combine`).

The driver's event loop polls the actors a few times a second (ready? progress? done?),
so it costs the cluster nothing measurable. Faults: an actor that dies (killed, its
process gone, its node gone, or Ray's out-of-memory killer, which raises
``OutOfMemoryError`` rather than an actor error and may take every actor of the node) is
a lost share, reported with the tasks it had done; budgets fail on the partial result.
Nothing outlives the run: on any exit -- the end, a failure, a cancelled test, Ctrl-C --
running calls are cancelled (``ray.cancel``: a ``CancelledError`` inside the share, so
the agent closes) and every actor is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import sys
import time
import traceback
from dataclasses import replace
from types import ModuleType
from typing import Any

from pytest_agentperf.engine.plan import RunPlan
from pytest_agentperf.engine.ray_cluster import Cluster, connect, require_ray, reserve_cpus
from pytest_agentperf.engine.shares import Naming, ShareOutcome
from pytest_agentperf.engine.workers import Job, Jobs, make_jobs
from pytest_agentperf.errors import WorkerError
from pytest_agentperf.protocols import ProgressSink
from pytest_agentperf.result import PerfResult
from pytest_agentperf.spend import Prices

__all__ = ["RayGroup", "ShareActor", "lost_outcome", "ray_naming", "run_on_ray"]

#: How long the actors get to start (a worker process each, its imports) before the run
#: gives up on them.
START_TIMEOUT = 120.0
#: How long cancelled calls get to end (their agent closing) before the actors are killed.
CANCEL_GRACE = 2.0
POLL_EVERY = 0.25


def ray_naming(workers: int) -> Naming:
    return Naming(f"workers={workers}, backend='ray'", label="Ray actor", key="workers")


async def run_on_ray(
    factory: object,
    tasks: object,
    plan: RunPlan,
    workers: int,
    *,
    address: str | None = None,
    address_origin: str = "ray_address",
    mock: object = None,
    memory: object = None,
    progress: ProgressSink | None = None,
    max_records: int,
    freeze_gc: bool = True,
    prices: Prices | None = None,
) -> PerfResult:
    """Run ``plan`` split over ``workers`` Ray actors and return the merged result."""
    naming = ray_naming(workers)
    ray = require_ray(f"run({naming.spelled})")
    jobs = make_jobs(  # bad input is refused before the cluster is touched
        factory,
        tasks,
        plan,
        workers,
        naming,
        mock=mock,
        memory=memory,
        max_records=max_records,
        freeze_gc=freeze_gc,
        prices=prices,
    )
    jobs = replace(jobs, blobs=[_by_value(ray, blob) for blob in jobs.blobs])
    cluster = connect(address, address_origin)
    await reserve_cpus(ray, cluster, workers, naming.spelled)
    group = RayGroup(ray, jobs, cluster)
    try:
        outcomes = await group.run(progress, plan.name, plan.n)
    finally:
        group.close()
    result = jobs.combine(plan, outcomes, mock)
    extra = {**result.extra, "backend": "ray", "ray_cluster": cluster.describe()}
    return replace(result, extra=extra)


def _by_value(ray: ModuleType, blob: bytes) -> bytes:
    """A job pickled again with Ray's cloudpickle, which sends what a script defines
    (``__main__``: a Ray worker has another) by value; the rest by reference, as before."""
    return bytes(ray.cloudpickle.dumps(pickle.loads(blob)))


# -- the actor ------------------------------------------------------------------------------


class ShareActor:
    """One share, run on a Ray worker (``ray.remote(ShareActor)``: an async actor).

    ``run`` is the share; ``warmed``, ``go`` and ``progress`` are answered meanwhile on
    the same event loop (an async actor runs its calls concurrently).
    """

    def __init__(self) -> None:
        self._warmed = asyncio.Event()
        self._go = asyncio.Event()
        self._ready = False
        self._tally = _Tally()

    async def ping(self) -> tuple[int, str]:
        """This actor's process id and node address."""
        return os.getpid(), _node_address()

    async def run(self, index: int, blob: bytes, sys_path: list[str] | None) -> ShareOutcome:
        """Run the share pickled in ``blob``; never raises for the workload's failures."""
        try:
            if sys_path is not None:
                _mirror(sys_path)
            job: Job = pickle.loads(blob)
        except Exception as exc:
            self._warmed.set()
            return _unpickled(index, exc)
        try:
            outcome = await job.run(ready=self._ready_to_go, progress=self._tally)
        finally:
            self._warmed.set()  # a share that failed before its warm-up ended: not ready
        outcome.node = _node_address()
        return outcome

    async def _ready_to_go(self) -> None:
        self._ready = True
        self._warmed.set()
        await self._go.wait()

    async def warmed(self) -> bool:
        """Wait until the share has warmed up (True) or ended before that (False)."""
        await self._warmed.wait()
        return self._ready

    async def go(self) -> None:
        self._go.set()

    async def progress(self) -> tuple[int, float, float | None]:
        """Tasks done so far, the current rate and p95 (as the share last reported them)."""
        tally = self._tally
        return tally.done, tally.rate, tally.p95


class _Tally:
    """The ``ProgressSink`` a share reports to; the driver reads it through ``progress``."""

    def __init__(self) -> None:
        self.done = 0
        self.rate = 0.0
        self.p95: float | None = None

    def start(self, name: str, total: int | None) -> None:
        self.done = 0

    def update(self, done: int, rate: float, p95: float | None) -> None:
        self.done, self.rate, self.p95 = done, rate, p95

    def finish(self) -> None:
        pass


def _node_address() -> str:
    try:
        import ray.util

        return str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]
    except Exception:  # not on a Ray worker (the actor class used directly)
        return socket.gethostname()


def _mirror(sys_path: list[str]) -> None:
    """The driver's import path first, as a process spawned by it would have it (a local
    cluster only: the same machine, the same files), so that a factory defined in a test
    module imports here as it does in the driver."""
    sys.path[:] = [*sys_path, *(p for p in sys.path if p not in sys_path)]


def _unpickled(index: int, exc: Exception) -> ShareOutcome:
    return ShareOutcome(
        index=index,
        pid=os.getpid(),
        error=f"could not rebuild the job on the Ray worker ({type(exc).__name__}: {exc}); "
        "is the factory's module importable there (installed on the cluster's nodes, or "
        "shipped with a runtime_env)?",
        error_type=type(exc).__name__,
        stage="setup",
        traceback="".join(traceback.format_exception(exc)),
        node=_node_address(),
    )


# -- the driver's side ----------------------------------------------------------------------


_ACTOR_CLASS: dict[str, Any] = {}


def _actor_class(ray: ModuleType) -> Any:
    if "cls" not in _ACTOR_CLASS:
        _ACTOR_CLASS["cls"] = ray.remote(ShareActor)
    return _ACTOR_CLASS["cls"]


class _Actor:
    """One actor as the driver sees it."""

    __slots__ = ("done", "handle", "index", "node", "outcome", "p95", "pid", "poll", "rate")

    def __init__(self, index: int, handle: Any) -> None:
        self.index = index
        self.handle = handle
        self.pid = 0
        self.node = ""
        self.done = 0
        self.rate = 0.0
        self.p95: float | None = None
        self.poll: Any = None  # the progress call in flight
        self.outcome: ShareOutcome | None = None


class RayGroup:
    """The actors of one run, their calls, and what they reported."""

    def __init__(self, ray: ModuleType, jobs: Jobs, cluster: Cluster) -> None:
        self._ray = ray
        self._jobs = jobs
        self._cluster = cluster
        self._actors: list[_Actor] = []
        self._refs: list[Any] = []  # every call made, settled on close
        self._runs: dict[Any, _Actor] = {}
        self._ready: set[int] = set()
        self._closed = False

    def _call(self, actor: _Actor, method: str, *args: Any) -> Any:
        ref = getattr(actor.handle, method).remote(*args)
        self._refs.append(ref)
        return ref

    async def run(
        self, progress: ProgressSink | None, name: str, total: int | None
    ) -> list[ShareOutcome]:
        """Start the actors, run the shares (all measured phases start together), collect."""
        await self._start()
        sys_path = list(sys.path) if self._cluster.kind == "started" else None
        for actor, blob in zip(self._actors, self._jobs.blobs, strict=True):
            self._runs[self._call(actor, "run", actor.index, blob, sys_path)] = actor
        await self._until_warmed()
        for actor in self._actors:
            if actor.index in self._ready:
                self._call(actor, "go")
        if progress is not None:
            progress.start(name, total)
        try:
            await self._until_done(progress)
        finally:
            if progress is not None:
                progress.finish()
        return [a.outcome for a in self._actors if a.outcome is not None]

    async def _start(self) -> None:
        cls = _actor_class(self._ray)
        options = {"num_cpus": 1, "max_restarts": 0, "max_task_retries": 0}
        for index in range(len(self._jobs.blobs)):
            handle = cls.options(scheduling_strategy="SPREAD", **options).remote()
            self._actors.append(_Actor(index, handle))
        pings = {self._call(a, "ping"): a for a in self._actors}
        deadline = time.monotonic() + START_TIMEOUT
        while pings and time.monotonic() < deadline:
            ready, _ = self._ray.wait(list(pings), num_returns=len(pings), timeout=0)
            for ref in ready:
                actor = pings.pop(ref)
                try:
                    actor.pid, actor.node = self._ray.get(ref)
                except self._ray.exceptions.RayError as exc:
                    raise WorkerError(self._start_failure(f"{actor.index} failed: {exc}")) from exc
            if pings:
                await asyncio.sleep(0.05)
        if pings:
            raise WorkerError(
                self._start_failure(f"{len(pings)} did not start within {START_TIMEOUT:g}s")
            )

    def _start_failure(self, what: str) -> str:
        cluster = self._cluster
        return (
            f"run({self._jobs.naming.spelled}): the Ray actors could not start on the cluster "
            f"at {cluster.address} ({cluster.origin}): actor {what}."
        )

    async def _until_warmed(self) -> None:
        waits = {self._call(a, "warmed"): a for a in self._actors}
        while waits:
            ready, _ = self._ray.wait(list(waits), num_returns=len(waits), timeout=0)
            for ref in ready:
                actor = waits.pop(ref)
                try:
                    if self._ray.get(ref):
                        self._ready.add(actor.index)
                except self._ray.exceptions.RayError:
                    pass  # its run call says what happened
            if waits:
                await asyncio.sleep(0.02)

    async def _until_done(self, progress: ProgressSink | None) -> None:
        while self._runs:
            ready, _ = self._ray.wait(list(self._runs), num_returns=len(self._runs), timeout=0)
            for ref in ready:
                actor = self._runs.pop(ref)
                actor.outcome = self._outcome(actor, ref)
            if self._runs:
                self._poll_progress(progress)
                await asyncio.sleep(POLL_EVERY)

    def _outcome(self, actor: _Actor, ref: Any) -> ShareOutcome:
        try:
            outcome: ShareOutcome = self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:
            return lost_outcome(self._ray, actor.index, exc, actor, actor.index in self._ready)
        return outcome

    def _poll_progress(self, progress: ProgressSink | None) -> None:
        for actor in self._actors:
            if actor.outcome is not None or actor.index not in self._ready:
                continue
            if actor.poll is not None:
                ready, _ = self._ray.wait([actor.poll], timeout=0)
                if not ready:
                    continue
                with contextlib.suppress(self._ray.exceptions.RayError):  # dead: see its run
                    actor.done, actor.rate, actor.p95 = self._ray.get(actor.poll)
            actor.poll = self._call(actor, "progress")
        if progress is not None:
            p95s = [a.p95 for a in self._actors if a.p95 is not None]
            done = sum(a.done for a in self._actors)
            progress.update(done, sum(a.rate for a in self._actors), max(p95s, default=None))

    def close(self) -> None:
        """Cancel the calls still running, give them :data:`CANCEL_GRACE` to end, kill
        every actor, and settle every call (so that Ray reports no unhandled error).

        Synchronous, so that it also runs while the loop is being torn down (Ctrl-C).
        """
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        running = list(self._runs)
        for ref in running:
            ray.cancel(ref)
        if running:
            ray.wait(running, num_returns=len(running), timeout=CANCEL_GRACE)
        for actor in self._actors:
            ray.kill(actor.handle, no_restart=True)
        refs, self._refs = self._refs, []
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE) if refs else ([], [])
        for ref in ready:
            with contextlib.suppress(Exception):  # cancelled, killed, or read already
                ray.get(ref, timeout=0)


def lost_outcome(
    ray: ModuleType, index: int, exc: BaseException, actor: _Actor | None, ready: bool
) -> ShareOutcome:
    """What a share whose actor died (or whose call failed in Ray) tells the result."""
    errors = ray.exceptions
    if isinstance(exc, errors.OutOfMemoryError):
        error = (
            "killed by Ray's out-of-memory killer (its node ran low on memory; Ray may kill "
            f"every worker on that node): {_first_line(str(exc))}"
        )
    elif isinstance(exc, errors.TaskCancelledError):
        return ShareOutcome(index=index, error="cancelled", stage="cancelled")
    elif isinstance(exc, errors.RayActorError):
        error = f"the actor died: {_death(str(exc))}"
    else:
        error = f"{type(exc).__name__}: {_first_line(str(exc))}"
    return ShareOutcome(
        index=index,
        pid=actor.pid if actor is not None else 0,
        error=error,
        error_type=type(exc).__name__,
        stage="run" if ready else "setup",
        done=actor.done if actor is not None else 0,
        node=actor.node if actor is not None else "",
        traceback=str(exc)[-4000:],
    )


def _death(text: str) -> str:
    """The reason in an ``ActorDiedError``'s text (its other lines are ids and addresses)."""
    lines = text.splitlines()
    reasons = [line.strip() for line in lines[1:] if line.strip() and not line.startswith("\t")]
    reason = " ".join(reasons) or text
    return _first_line(reason.split(" Some common causes")[0])  # Ray's advice, not the cause


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
