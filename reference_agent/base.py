"""``BaseAgent``: the execution core every agent inherits.

A subclass implements only ``async process_task(self, task)`` and gets:

1. **Priority queue** — lower ``priority`` first, FIFO within a priority (a heap keyed on
   ``(priority, sequence)``); bounded by ``max_pending``. A full queue is an explicit
   outcome: ``submit`` waits up to ``admission_timeout`` for room, then the task ends
   REJECTED with a ``TaskRejectedError`` saying why (also when the caller of ``submit`` is
   cancelled while it waits). Nothing is dropped silently.
2. **Workers** — ``concurrency`` workers; never more than ``concurrency`` tasks in flight.
3. **Timeouts** — a task's timeout (``Task.timeout`` or ``AgentConfig.task_timeout``)
   cancels its work; the task ends TIMED_OUT and no asyncio task is left behind (the work
   runs inside the worker, not in a task of its own).
4. **Graceful shutdown** — ``stop(drain=True, timeout=None)`` refuses new tasks, rejects the
   ones still waiting for admission, lets queued and running tasks finish for up to
   ``timeout`` seconds, then cancels what is left. Every accepted task ends in exactly one
   final status and the counts reconcile. ``stop()`` returns only once every worker it
   started has ended: a worker whose ``process_task`` swallows the cancellation is given
   ``cancel_grace`` seconds, then its task is marked CANCELLED, the worker is reported (a
   warning on the ``reference_agent`` logger) and cancelled again, until it ends.
   ``stop()`` is safe to call twice (or at once): the shutdown runs in a task of its own
   that every caller awaits, so a cancelled caller does not abort it and a later caller
   waits for it to end.
5. **Metrics** — ``statistics()`` (a frozen snapshot) and ``health_check()``; a psutil
   CPU/RSS sampler runs in the background, never per task.
6. **Context propagation** — a task's work runs with the context variables of the code
   that submitted it (``contextvars.copy_context()`` at ``submit``, applied in the worker
   for the task's duration and undone after), the way ``asyncio.to_thread`` and
   OpenTelemetry carry context across an execution boundary: a trace span, a logging
   context or a load tester's per-task accounting set by the submitter reaches
   ``process_task``, although the workers were started before.

The per-task path is O(1) apart from the heap (O(log n)) and does no logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import itertools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from reference_agent.config import AgentConfig, config_from
from reference_agent.errors import (
    AgentStateError,
    TaskCancelledError,
    TaskRejectedError,
    TaskTimeoutError,
)
from reference_agent.metrics import (
    AgentStatistics,
    HealthReport,
    LatencyReservoir,
    ResourceSampler,
)
from reference_agent.task import (
    FINAL_STATUSES,
    Task,
    TaskHandle,
    TaskRecord,
    TaskResult,
    TaskStatus,
    TaskTimings,
)

__all__ = ["AgentState", "BaseAgent"]

_CURRENT: contextvars.ContextVar[TaskRecord | None] = contextvars.ContextVar(
    "reference_agent_current_task", default=None
)
_Entry = tuple[int, int, TaskRecord]
_log = logging.getLogger("reference_agent")


def _apply(
    context: contextvars.Context | None,
) -> list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]]:
    """Set, in the worker's own context, every variable of ``context`` whose value differs;
    the tokens undo it after the task. (Running the work in a task created with
    ``context=`` would do the same at the price of a task per task, and lose the worker's
    timeout scope.)"""
    if context is None:
        return []
    return [
        (var, var.set(value))
        for var, value in context.items()
        if var is not _CURRENT and var.get(_MISSING) is not value
    ]


_MISSING = object()


class AgentState(enum.Enum):
    """Lifecycle: CREATED -> RUNNING -> STOPPING -> STOPPED (stopped agents do not restart)."""

    CREATED = "created"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class BaseAgent(ABC):
    """The contract the harness drives and the improved execution core (see module doc).

    Build it as ``Agent(config=None, **overrides)``: ``config`` is an ``AgentConfig`` (or a
    mapping of its fields) and ``overrides`` replace single fields, e.g.
    ``MyAgent(concurrency=32)``.
    """

    def __init__(
        self, config: AgentConfig | Mapping[str, Any] | None = None, **overrides: Any
    ) -> None:
        self.config: AgentConfig = config_from(config, overrides)
        self._state = AgentState.CREATED
        self._queue: asyncio.PriorityQueue[_Entry] = asyncio.PriorityQueue(
            maxsize=self.config.max_pending
        )
        self._seq = itertools.count()
        self._workers: list[asyncio.Task[None]] = []
        self._running_records: set[TaskRecord] = set()
        self._admission_scopes: set[asyncio.Timeout] = set()
        self._stopper: asyncio.Task[None] | None = None
        self._closing = False
        """Set when shutdown cancels the workers: a worker ends after its current task."""
        self._stop_event = asyncio.Event()
        """Set as soon as ``stop()`` begins: long waits (e.g. a retry backoff) end on it."""
        self._counts: dict[TaskStatus, int] = dict.fromkeys(FINAL_STATUSES, 0)
        self._submitted = self._accepted = self._pending = self._running = 0
        self._queue_wait = LatencyReservoir(self.config.latency_reservoir)
        self._service = LatencyReservoir(self.config.latency_reservoir)
        interval = self.config.resource_sample_interval
        self._sampler = ResourceSampler(interval) if interval else None
        self._started_at: float | None = None

    # -- the work --------------------------------------------------------------------------
    @abstractmethod
    async def process_task(self, task: Task) -> Any:
        """Do the task's work and return its value (the ``TaskResult.value``).

        Raising makes the task FAILED with that error; exceeding its timeout cancels this
        coroutine and makes it TIMED_OUT.
        """

    async def on_start(self) -> None:  # noqa: B027 (an optional hook)
        """Hook: open resources (clients, pools) before workers start. Default: nothing."""

    async def on_stop(self) -> None:  # noqa: B027 (an optional hook)
        """Hook: close resources after the last task ended. Default: nothing."""

    def mark_first_token(self, when: float | None = None) -> None:
        """Record, for the task being processed, when its first streamed token arrived
        (``time.monotonic()``; now when omitted). The first mark of a task wins."""
        record = _CURRENT.get()
        if record is not None and record.first_token is None:
            record.first_token = time.monotonic() if when is None else when

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def state(self) -> AgentState:
        return self._state

    async def start(self) -> None:
        """Open resources (``on_start``) and start the workers. Starting a running agent
        does nothing; a stopped agent cannot be started again."""
        if self._state is AgentState.RUNNING:
            return
        if self._state is not AgentState.CREATED:
            raise AgentStateError(
                f"Cannot start {type(self).__name__}: it is {self._state.value}; "
                "a stopped agent does not restart, create a new one."
            )
        await self.on_start()
        loop = asyncio.get_running_loop()
        name = type(self).__name__
        self._workers = [
            loop.create_task(self._worker(), name=f"{name}-worker-{i}")
            for i in range(self.config.concurrency)
        ]
        if self._sampler is not None:
            self._sampler.start()
        self._started_at = time.monotonic()
        self._state = AgentState.RUNNING

    async def stop(
        self,
        *,
        drain: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109 (the public contract's name)
    ) -> None:
        """Stop admission, drain (when ``drain``) for up to ``timeout`` seconds, cancel what
        is left, then close resources (``on_stop``). Safe to call twice or concurrently:
        the first call's arguments apply and every call waits for that one shutdown to end.
        The shutdown runs in its own task: cancelling a caller stops its wait, not the
        shutdown (the agent stays STOPPING until it ends)."""
        if self._stopper is None:
            self._stop_event.set()
            if self._state is not AgentState.RUNNING:  # never started: nothing to shut down
                self._state = AgentState.STOPPED
                return
            self._state = AgentState.STOPPING
            self._stopper = asyncio.get_running_loop().create_task(
                self._stop_in_background(drain, timeout), name=f"{type(self).__name__}-stop"
            )
        await asyncio.shield(self._stopper)

    async def _stop_in_background(self, drain: bool, drain_for: float | None) -> None:
        try:
            await self._shutdown(drain, drain_for)
        finally:
            self._state = AgentState.STOPPED

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- submitting ------------------------------------------------------------------------
    async def submit(self, task: Task | Any) -> TaskHandle:
        """Queue a task (a plain payload is wrapped in a ``Task``) and return its handle.

        When the queue is full this waits up to ``admission_timeout`` for room; a task not
        admitted by then gets a handle already resolved to REJECTED. Raises
        ``AgentStateError`` when the agent is not running.
        """
        if self._state is not AgentState.RUNNING:
            raise AgentStateError(self._refusal())
        if not isinstance(task, Task):
            task = Task(task)
        loop = asyncio.get_running_loop()
        record = TaskRecord(task, loop.create_future(), time.monotonic(), self._cancel_pending)
        record.context = contextvars.copy_context()  # O(1): contexts are immutable maps
        self._submitted += 1
        entry = (task.priority, next(self._seq), record)
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            try:
                admitted = await self._wait_for_room(entry)
            except asyncio.CancelledError:
                # Counted as submitted, never queued: end it REJECTED so counts reconcile.
                self._reject(record, "the caller was cancelled while it waited for room")
                raise
            if not admitted:
                self._reject(record)
                return TaskHandle(record)
        self._accepted += 1
        self._pending += 1
        return TaskHandle(record)

    async def run(self, task: Task | Any) -> TaskResult:
        """Submit a task and wait for its result. Cancelling the caller does not cancel
        the task (it still ends in one final status, counted in ``statistics()``)."""
        handle = await self.submit(task)
        # The handle never escapes, so the future is awaited directly (a shield would cost
        # one more event-loop iteration per task); a cancelled future is never resolved.
        return await handle._record.future

    def _refusal(self) -> str:
        if self._state is AgentState.CREATED:
            return (
                f"Cannot submit a task: {type(self).__name__} has not been started; "
                "use 'async with agent:' or 'await agent.start()' first."
            )
        return f"Cannot submit a task: {type(self).__name__} has been stopped."

    async def _wait_for_room(self, entry: _Entry) -> bool:
        delay = self.config.admission_timeout
        if delay == 0:
            return False
        scope = asyncio.timeout(delay)
        self._admission_scopes.add(scope)
        try:
            async with scope:
                await self._queue.put(entry)
            return True
        except TimeoutError:
            return False
        finally:
            self._admission_scopes.discard(scope)

    def _reject(self, record: TaskRecord, why: str | None = None) -> None:
        if why is None and self._state is AgentState.RUNNING:
            why = (
                f"the queue stayed full (max_pending={self.config.max_pending}) for the "
                f"admission timeout ({self.config.admission_timeout}s)"
            )
        elif why is None:
            why = "the agent began stopping while the task waited for room in the queue"
        error = TaskRejectedError(f"Task {record.task.task_id} was rejected: {why}.")
        self._finish(record, TaskStatus.REJECTED, error=error)

    # -- running ---------------------------------------------------------------------------
    async def _worker(self) -> None:
        queue = self._queue
        while not self._closing:  # a process_task that swallowed cancellation ends here
            entry = await queue.get()
            try:
                if entry[2].status is TaskStatus.PENDING:
                    await self._execute(entry[2])
            finally:
                queue.task_done()

    async def _execute(self, record: TaskRecord) -> None:
        record.status = TaskStatus.RUNNING
        record.started = now = time.monotonic()
        self._pending -= 1
        self._running += 1
        self._running_records.add(record)
        self._queue_wait.add(now - record.queued)
        limit = record.task.timeout
        if limit is None:
            limit = self.config.task_timeout
        applied = _apply(record.context)
        token = _CURRENT.set(record)
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                record.scope = scope
                value = await self.process_task(record.task)
        except TimeoutError as exc:
            self._finish_timeout(record, scope, limit, exc)
        except asyncio.CancelledError:
            self._finish(record, TaskStatus.CANCELLED, error=self._cancelled(record, True))
            raise
        except Exception as exc:
            self._finish(record, TaskStatus.FAILED, error=exc)
        except BaseException as exc:
            self._finish(record, TaskStatus.FAILED, error=exc)
            raise
        else:
            self._finish(record, TaskStatus.COMPLETED, value)
        finally:
            _CURRENT.reset(token)
            for var, previous in reversed(applied):
                var.reset(previous)

    def _finish_timeout(
        self, record: TaskRecord, scope: asyncio.Timeout, limit: float | None, exc: TimeoutError
    ) -> None:
        if record.cancel_requested:
            self._finish(record, TaskStatus.CANCELLED, error=self._cancelled(record, True))
        elif scope.expired():
            error = TaskTimeoutError(
                f"Task {record.task.task_id} timed out after {limit}s; its work was cancelled."
            )
            error.__cause__ = exc
            self._finish(record, TaskStatus.TIMED_OUT, error=error)
        else:  # a TimeoutError raised by process_task itself
            self._finish(record, TaskStatus.FAILED, error=exc)

    @staticmethod
    def _cancelled(record: TaskRecord, started: bool) -> TaskCancelledError:
        when = "while it ran" if started else "before it started"
        return TaskCancelledError(f"Task {record.task.task_id} was cancelled {when}.")

    def _cancel_pending(self, record: TaskRecord) -> None:
        # Its heap entry stays; the worker that pops it skips it (status is final).
        self._finish(record, TaskStatus.CANCELLED, error=self._cancelled(record, False))

    def _finish(
        self,
        record: TaskRecord,
        status: TaskStatus,
        value: Any = None,
        error: BaseException | None = None,
    ) -> None:
        """Give a task its one final status; later calls for the same task do nothing."""
        previous = record.status
        if previous.is_final:
            return
        record.status = status
        now = time.monotonic()
        if previous is TaskStatus.RUNNING:
            self._running -= 1
            self._running_records.discard(record)
            self._service.add(now - record.started)  # type: ignore[operator]
        elif status is not TaskStatus.REJECTED:
            self._pending -= 1
        self._counts[status] += 1
        record.scope = None
        timings = TaskTimings(record.queued, record.started, now, record.first_token)
        result = TaskResult(record.task.task_id, status, value, error, timings)
        if not record.future.done():
            record.future.set_result(result)

    # -- shutdown --------------------------------------------------------------------------
    async def _shutdown(self, drain: bool, drain_for: float | None) -> None:
        loop = asyncio.get_running_loop()
        for scope in list(self._admission_scopes):
            scope.reschedule(loop.time())
        while self._admission_scopes:  # noqa: ASYNC110 (each expires at once: REJECTED)
            await asyncio.sleep(0)
        if drain:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_for):
                    await self._queue.join()
        self._cancel_queued()
        await self._cancel_workers()
        self._cancel_queued()
        if self._sampler is not None:
            await self._sampler.stop()
        await self.on_stop()

    def _cancel_queued(self) -> None:
        while True:
            try:
                _, _, record = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            self._cancel_pending(record)
            self._queue.task_done()

    async def _cancel_workers(self) -> None:
        """Cancel the workers and wait until every one has ended: one that swallowed its
        cancellation has its task marked CANCELLED, is reported, and is cancelled again
        each ``cancel_grace`` seconds."""
        self._closing = True
        grace = self.config.cancel_grace
        alive = [worker for worker in self._workers if not worker.done()]
        rounds = 0
        while alive:
            for worker in alive:
                worker.cancel()
            await asyncio.wait(alive, timeout=grace)
            for record in list(self._running_records):  # workers that ignored cancellation
                self._finish(record, TaskStatus.CANCELLED, error=self._cancelled(record, True))
            alive = [worker for worker in alive if not worker.done()]
            if alive:
                rounds += 1
                self._report_refusals(alive, rounds * grace)

    def _report_refusals(self, alive: list[asyncio.Task[None]], waited: float) -> None:
        names = ", ".join(worker.get_name() for worker in alive)
        _log.warning(
            "%s.stop(): %d worker(s) still running %.3gs after being cancelled (%s): their "
            "process_task swallowed the cancellation; their tasks are CANCELLED and they "
            "are cancelled again (stop() returns once they end).",
            type(self).__name__,
            len(alive),
            waited,
            names,
        )

    # -- observing -------------------------------------------------------------------------
    def _statistics_extras(self) -> dict[str, Any]:
        """Hook for subclasses: extra ``AgentStatistics`` fields (retries, breaker, cache)."""
        return {}

    def _breaker_state(self) -> str | None:
        """Hook for subclasses with a circuit breaker: its state name."""
        return None

    def statistics(self) -> AgentStatistics:
        """A frozen snapshot of counts, queue depth, in-flight tasks, latencies (queue wait
        and service time), resources, and the subclass's retry/breaker/cache figures."""
        counts = self._counts
        sampler = self._sampler
        return AgentStatistics(
            state=self._state.value,
            concurrency=self.config.concurrency,
            max_pending=self.config.max_pending,
            submitted=self._submitted,
            accepted=self._accepted,
            completed=counts[TaskStatus.COMPLETED],
            failed=counts[TaskStatus.FAILED],
            cancelled=counts[TaskStatus.CANCELLED],
            timed_out=counts[TaskStatus.TIMED_OUT],
            rejected=counts[TaskStatus.REJECTED],
            queue_depth=self._pending,
            in_flight=self._running,
            workers_alive=self._workers_alive(),
            uptime=None if self._started_at is None else time.monotonic() - self._started_at,
            queue_wait=self._queue_wait.summary(),
            service_time=self._service.summary(),
            cpu_percent=sampler.cpu_percent if sampler else None,
            rss_bytes=sampler.rss_bytes if sampler else None,
            peak_rss_bytes=sampler.peak_rss_bytes if sampler else None,
            **self._statistics_extras(),
        )

    def _workers_alive(self) -> int:
        return sum(not worker.done() for worker in self._workers)

    def health_check(self) -> HealthReport:
        """ "ok", "degraded" or "unhealthy", from lifecycle state, worker liveness, queue
        saturation (>= 90% of ``max_pending`` is degraded) and the breaker's state."""
        alive = self._workers_alive()
        saturation = self._pending / self.config.max_pending
        breaker = self._breaker_state()
        bad: list[str] = []
        degraded: list[str] = []
        if self._state is not AgentState.RUNNING:
            bad.append(f"agent is {self._state.value}")
        elif alive < self.config.concurrency:
            bad.append(f"{self.config.concurrency - alive} worker(s) died")
        if breaker == "open":
            bad.append("circuit breaker is open")
        elif breaker == "half_open":
            degraded.append("circuit breaker is half-open")
        if saturation >= 0.9:
            degraded.append(f"queue is {saturation:.0%} full")
        status = "unhealthy" if bad else "degraded" if degraded else "ok"
        return HealthReport(
            status=status,
            reasons=tuple(bad + degraded),
            state=self._state.value,
            workers_alive=alive,
            concurrency=self.config.concurrency,
            saturation=saturation,
            breaker_state=breaker,
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._state.value} concurrency={self.config.concurrency}"
            f" in_flight={self._running} queued={self._pending}"
            f" done={sum(self._counts.values())}>"
        )
