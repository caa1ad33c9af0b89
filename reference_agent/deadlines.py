"""Per-attempt deadlines on one event-loop timer.

Every LLM attempt has a hard timeout. With ``asyncio.timeout`` that is one ``TimerHandle``
per attempt, pushed onto the loop's heap and cancelled ~50 ms later: 7-11 us of CPU per
attempt on a small VM, for a timer that almost never fires. Attempts of one agent nearly
always share the same limit (``request_timeout``), so their deadlines arrive in order:
``Deadlines`` keeps them in a FIFO and schedules a single timer for the oldest one still
armed. Arming and disarming are O(1) (amortised); the timer wakes at the oldest queued deadline
and moves on to the next, so an armed deadline fires exactly when its own timer would
have, and the timer wakes about once per limit when none fires.
A deadline earlier than the last one queued (a shorter limit: the retry deadline's
remainder, a half-open probe) gets a timer of its own.

``Expiry`` gives ``asyncio.timeout``'s semantics to its user: when it fires it cancels the
task; ``undo()`` withdraws that cancellation (``Task.uncancel``) and returns the count
left, so a caller tells its own timeout from a cancellation by someone else.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

__all__ = ["Deadlines", "Expiry"]


class Expiry:
    """One armed deadline: ``fired`` once it cancelled its task."""

    __slots__ = ("armed", "fired", "handle", "task", "when")

    def __init__(self, task: asyncio.Task[Any], when: float) -> None:
        self.task = task
        self.when = when
        self.armed = True
        self.fired = False
        self.handle: asyncio.TimerHandle | None = None

    def fire(self) -> None:
        if self.armed and not self.fired:
            self.fired = True
            self.task.cancel()

    def undo(self) -> int:
        """Withdraw this deadline's cancellation request; the task's remaining count."""
        self.fired = False
        return self.task.uncancel()


class Deadlines:
    """Deadlines for tasks of one event loop (see the module doc)."""

    def __init__(self) -> None:
        self._queue: deque[Expiry] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        """Deadlines queued (armed, or disarmed behind an armed one)."""
        return len(self._queue)

    def arm(self, task: asyncio.Task[Any], delay: float) -> Expiry:
        """Cancel ``task`` in ``delay`` seconds unless disarmed first."""
        loop = task.get_loop()
        expiry = Expiry(task, loop.time() + delay)
        queue = self._queue
        if queue and expiry.when < queue[-1].when:  # out of order: a timer of its own
            expiry.handle = loop.call_at(expiry.when, expiry.fire)
            return expiry
        queue.append(expiry)
        if self._timer is None:
            self._timer = loop.call_at(expiry.when, self._expire, loop)
        return expiry

    def disarm(self, expiry: Expiry) -> None:
        """The deadline is no longer needed (the work ended, one way or another)."""
        expiry.armed = False
        if expiry.handle is not None:
            expiry.handle.cancel()
            expiry.handle = None
        queue = self._queue
        while queue and not queue[0].armed:
            queue.popleft()
        # The timer stays: when it fires for a deadline gone by, it moves on to the next.

    def close(self) -> None:
        """Cancel the timer (the deadlines' user is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        queue = self._queue
        now = loop.time()
        while queue and (queue[0].when <= now or not queue[0].armed):
            queue.popleft().fire()
        if queue:
            self._timer = loop.call_at(queue[0].when, self._expire, loop)
