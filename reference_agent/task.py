"""Tasks, their statuses, results and handles.

Guarantee: every task the agent accepts ends in exactly one final status (COMPLETED,
FAILED, CANCELLED or TIMED_OUT); a task that is never accepted ends REJECTED. The
handle resolves once, to that one ``TaskResult``, and never changes afterwards.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import itertools
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Task", "TaskHandle", "TaskResult", "TaskStatus", "TaskTimings"]

_ids = itertools.count(1)


def _next_id() -> str:
    return f"task-{next(_ids)}"


class TaskStatus(enum.Enum):
    """Where a task is in its life. The last five are final: a task reaches one of them
    exactly once and never leaves it."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        """True for COMPLETED, FAILED, CANCELLED, TIMED_OUT and REJECTED."""
        return self not in (TaskStatus.PENDING, TaskStatus.RUNNING)


FINAL_STATUSES = tuple(s for s in TaskStatus if s.is_final)


@dataclass(slots=True)
class Task:
    """A unit of work: ``payload`` for ``process_task``, a ``priority`` (lower runs first,
    FIFO within a priority), a ``task_id`` (unique in the process when not given) and an
    optional ``timeout`` in seconds (overrides ``AgentConfig.task_timeout``)."""

    payload: Any
    priority: int = 0
    task_id: str = field(default_factory=_next_id)
    timeout: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise ValueError(f"Task.priority = {self.priority!r} is not accepted; expected an int")
        if self.timeout is not None and not (
            isinstance(self.timeout, int | float) and self.timeout > 0
        ):
            raise ValueError(
                f"Task.timeout = {self.timeout!r} is not accepted; expected seconds > 0 or None"
            )


@dataclass(frozen=True, slots=True)
class TaskTimings:
    """``time.monotonic()`` instants of a task's life: ``queued`` when submitted,
    ``started`` when a worker picked it up (None if it never ran), ``finished`` when it
    reached its final status, ``first_token`` when a streamed reply's first token arrived
    (None unless the agent streamed)."""

    queued: float
    started: float | None
    finished: float
    first_token: float | None = None

    @property
    def queue_wait(self) -> float | None:
        """Seconds between submission and start (None if it never started)."""
        return None if self.started is None else self.started - self.queued

    @property
    def service_time(self) -> float | None:
        """Seconds between start and finish (None if it never started)."""
        return None if self.started is None else self.finished - self.started

    @property
    def total(self) -> float:
        """Seconds between submission and finish."""
        return self.finished - self.queued

    @property
    def ttft(self) -> float | None:
        """Seconds from start to the first streamed token (None if not streamed)."""
        if self.first_token is None or self.started is None:
            return None
        return self.first_token - self.started


@dataclass(frozen=True, slots=True)
class TaskResult:
    """The outcome of one task: its final ``status``, the ``value`` returned by
    ``process_task`` (COMPLETED only), the ``error`` otherwise, and its ``timings``."""

    task_id: str
    status: TaskStatus
    value: Any = None
    error: BaseException | None = None
    timings: TaskTimings | None = None

    @property
    def ok(self) -> bool:
        """True when the task COMPLETED."""
        return self.status is TaskStatus.COMPLETED


class TaskHandle:
    """What ``submit`` returns: await it for the task's ``TaskResult``.

    Awaiting is safe to cancel (the task goes on) and to repeat (same result each time).
    ``cancel()`` asks for the task to end CANCELLED: at once when it waits in the queue,
    by cancelling its work when it runs; it returns False when the task already ended.
    """

    __slots__ = ("_record",)

    def __init__(self, record: TaskRecord) -> None:
        self._record = record

    @property
    def task(self) -> Task:
        return self._record.task

    @property
    def task_id(self) -> str:
        return self._record.task.task_id

    @property
    def status(self) -> TaskStatus:
        """The task's current status."""
        return self._record.status

    def done(self) -> bool:
        """True once the task has its final status."""
        return self._record.status.is_final

    def result(self) -> TaskResult:
        """The result; raises ``asyncio.InvalidStateError`` while the task is not done."""
        return self._record.future.result()

    def cancel(self) -> bool:
        """Ask for the task to end CANCELLED; False when it already has a final status."""
        return self._record.request_cancel()

    def __await__(self) -> Generator[Any, None, TaskResult]:
        future = self._record.future
        if future.done():
            return future.result()
        return (yield from asyncio.shield(future).__await__())

    def __repr__(self) -> str:
        return f"<TaskHandle {self.task_id} {self._record.status.value}>"


class TaskRecord:
    """The agent's private, mutable bookkeeping of one task (one per ``submit``)."""

    __slots__ = (
        "cancel_requested",
        "context",
        "first_token",
        "future",
        "on_cancel",
        "queued",
        "scope",
        "started",
        "status",
        "task",
    )

    def __init__(
        self,
        task: Task,
        future: asyncio.Future[TaskResult],
        queued: float,
        on_cancel: Callable[[TaskRecord], None],
    ) -> None:
        self.task = task
        self.on_cancel = on_cancel
        self.future = future
        self.queued = queued
        self.status = TaskStatus.PENDING
        self.started: float | None = None
        self.first_token: float | None = None
        self.scope: asyncio.Timeout | None = None
        self.cancel_requested = False
        # the submitter's context: the task's work runs with its context variables (tracing,
        # logging, a load tester's per-task accounting), though in a worker started earlier
        self.context: contextvars.Context | None = None

    def request_cancel(self) -> bool:
        if self.status.is_final:
            return False
        self.cancel_requested = True
        if self.status is TaskStatus.PENDING:
            self.on_cancel(self)
        elif self.status is TaskStatus.RUNNING and self.scope is not None:
            # Expire the task's timeout scope now: its work is cancelled at its next await
            # and the worker records CANCELLED (not TIMED_OUT) because of the flag.
            self.scope.reschedule(asyncio.get_running_loop().time())
        return True

    def __lt__(self, other: TaskRecord) -> bool:  # never reached: (priority, seq) are unique
        return False
