"""Retry with capped exponential backoff and full jitter, and a circuit breaker.

Both take an injectable clock (and the retry an injectable sleep and RNG), so their
timing logic is tested with a fake clock, never by sleeping.

Why hand-written: tenacity's ``AsyncRetrying`` is sound, but the guarantees here need a
custom stop (the deadline must cover the next wait *and* cap the next attempt's timeout,
and no retry may start once shutdown began) and a custom wait (``Retry-After``), which
leaves little for the library to do; pybreaker and aiobreaker count consecutive failures
(not a failure rate over a window) and do not bound a half-open episode to exactly K
probes.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

from reference_agent.errors import CircuitOpenError

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "Permit",
    "RetryPolicy",
    "call_with_retry",
    "parse_retry_after",
]

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


# -- retry ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` in total (the first included); waits of ``uniform(0, min(cap, base *
    2**n))`` (full jitter) or the server's ``Retry-After`` when given, capped at
    ``retry_after_cap`` (so a huge header cannot stall a call, even with no deadline);
    everything within ``deadline`` seconds of the first attempt (None: no deadline)."""

    attempts: int = 3
    base: float = 0.1
    cap: float = 5.0
    deadline: float | None = 60.0
    attempt_timeout: float | None = None
    retry_after_cap: float = 60.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """The jittered wait before retry number ``retry`` (1 for the first retry)."""
        return rng.uniform(0.0, min(self.cap, self.base * 2.0 ** (retry - 1)))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date
    (relative to ``now``, epoch seconds, default ``time.time()``). None when absent or
    unparseable; never negative."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def call_with_retry(
    attempt: Callable[[float | None], Awaitable[T]],
    policy: RetryPolicy,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    stop_event: asyncio.Event | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Run ``attempt(timeout)`` until it succeeds, a non-retryable error is raised, the
    attempts are used up, the deadline would be overshot, or ``should_stop()`` is true
    (or ``stop_event`` is set).

    Guarantees: an attempt's ``timeout`` is at most the time left before the deadline; a
    wait is only started when it ends before the deadline and lasts at most
    ``policy.retry_after_cap`` (a longer ``Retry-After`` is cut to it); a wait ends early,
    and the call gives up, as soon as ``stop_event`` is set (shutdown does not sit out a
    backoff only to give up after it); the last error is raised as is (with a note saying
    why it was not retried); ``CancelledError`` and errors without a true ``retryable``
    attribute are never retried; all state is local to this call.
    """
    rng = rng or random.Random()
    start = clock()
    end = None if policy.deadline is None else start + policy.deadline
    retry = 0
    while True:
        timeout = _attempt_timeout(policy.attempt_timeout, end, clock())
        try:
            return await attempt(timeout)
        except Exception as exc:
            if not getattr(exc, "retryable", False):
                raise
            retry += 1
            delay = _next_delay(exc, policy, retry, rng)
            reason = _give_up_reason(policy, retry, delay, end, clock(), should_stop, stop_event)
            if reason:
                exc.add_note(f"reference_agent: not retried: {reason}")
                raise
            if on_retry is not None:
                on_retry(retry, exc, delay)
            last = exc
        await _wait(delay, sleep, stop_event)
        if should_stop() or (stop_event is not None and stop_event.is_set()):
            last.add_note("reference_agent: not retried: the agent is shutting down")
            raise last


async def _wait(delay: float, sleep: Sleep, stop_event: asyncio.Event | None) -> None:
    """``sleep(delay)``, cut short when ``stop_event`` is set; leaves no task behind."""
    if stop_event is None:
        await sleep(delay)
        return
    if stop_event.is_set():
        return
    sleeper = asyncio.ensure_future(sleep(delay))
    stopper = asyncio.ensure_future(stop_event.wait())
    try:
        await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        stopper.cancel()
        await asyncio.wait((sleeper, stopper))
    if not sleeper.cancelled():
        sleeper.result()  # an error of the sleep itself is raised


def _attempt_timeout(per_attempt: float | None, end: float | None, now: float) -> float | None:
    if end is None:
        return per_attempt
    left = max(end - now, 0.0)
    return left if per_attempt is None else min(per_attempt, left)


def _next_delay(exc: Exception, policy: RetryPolicy, retry: int, rng: random.Random) -> float:
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after >= 0:
        return min(float(retry_after), policy.retry_after_cap)
    return policy.backoff(retry, rng)


def _give_up_reason(
    policy: RetryPolicy,
    retry: int,
    delay: float,
    end: float | None,
    now: float,
    should_stop: Callable[[], bool],
    stop_event: asyncio.Event | None,
) -> str | None:
    if retry >= policy.attempts:
        return f"{policy.attempts} attempt(s) used"
    if should_stop() or (stop_event is not None and stop_event.is_set()):
        return "the agent is shutting down"
    if end is not None and now + delay >= end:
        return f"waiting {delay:.3f}s would overshoot the {policy.deadline}s deadline"
    return None


# -- circuit breaker -----------------------------------------------------------------------
class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Permit:
    """Leave to make one call through the breaker; report its outcome exactly once with
    ``success()`` (the upstream answered), ``failure()`` (it is unhealthy) or ``release()``
    (neither: the call never reached it, e.g. cancelled or no pooled connection)."""

    __slots__ = ("_breaker", "_done", "deadline", "generation", "probe")

    def __init__(
        self, breaker: CircuitBreaker, generation: int, probe: bool, deadline: float | None
    ) -> None:
        self._breaker = breaker
        self.generation = generation
        self.probe = probe
        self.deadline = deadline
        self._done = False

    def success(self) -> None:
        self._report(True)

    def failure(self) -> None:
        self._report(False)

    def release(self) -> None:
        self._report(None)

    def _report(self, ok: bool | None) -> None:
        if not self._done:
            self._done = True
            self._breaker._on_outcome(self, ok)


class CircuitBreaker:
    """Opens when, over the last ``window`` calls and once ``min_calls`` were seen, the
    failure rate reaches ``failure_rate``; while open every ``acquire()`` fails fast with
    ``CircuitOpenError``; after ``break_duration`` it turns half-open and admits exactly
    ``half_open_probes`` (K) probe calls in total for that half-open episode, however many
    callers arrive at once or one after another (``acquire`` is synchronous, so admission
    cannot interleave; a probe that succeeds keeps its slot). All K probes succeeding
    closes it; one failing reopens it. A probe ``release()``d without an outcome (it never
    reached the upstream: cancelled, no pooled connection) frees its slot for another
    caller. A probe not reported within ``probe_timeout`` counts as failed, so a probe that
    never returns cannot wedge the breaker. Each transition happens once: outcomes of
    permits from an earlier state (an older generation) are ignored.
    """

    def __init__(
        self,
        *,
        window: int = 20,
        min_calls: int = 10,
        failure_rate: float = 0.5,
        break_duration: float = 5.0,
        half_open_probes: int = 1,
        probe_timeout: float = 10.0,
        clock: Clock = time.monotonic,
        on_transition: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.window = window
        self.min_calls = min(min_calls, window)
        self.failure_rate = failure_rate
        self.break_duration = break_duration
        self.half_open_probes = half_open_probes
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._on_transition = on_transition
        self.state = BreakerState.CLOSED
        self.generation = 0
        self.transitions: dict[str, int] = {}
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._failures = 0
        self._opened_at = 0.0
        self._probes: list[Permit] = []
        self._probe_successes = 0

    def acquire(self) -> Permit:
        """A permit for one call, or ``CircuitOpenError`` at once."""
        if self.state is BreakerState.CLOSED:
            return Permit(self, self.generation, False, None)
        now = self._clock()
        if self.state is BreakerState.OPEN:
            retry_in = self._opened_at + self.break_duration - now
            if retry_in > 0:
                raise CircuitOpenError(
                    f"Circuit breaker is open; calls fail fast for another {retry_in:.3f}s.",
                    retry_in=retry_in,
                )
            self._transition(BreakerState.HALF_OPEN, now)
        elif any(p.deadline is not None and now >= p.deadline for p in self._probes):
            self._transition(BreakerState.OPEN, now)  # a probe never came back
            return self.acquire()
        # Succeeded probes keep their slot: an episode admits K probes in total, not K at
        # a time (a released probe, which never reached the upstream, frees its slot).
        if len(self._probes) + self._probe_successes >= self.half_open_probes:
            raise CircuitOpenError(
                "Circuit breaker is half-open and its probe slots are taken; failing fast."
            )
        permit = Permit(self, self.generation, True, now + self.probe_timeout)
        self._probes.append(permit)
        return permit

    def _on_outcome(self, permit: Permit, ok: bool | None) -> None:
        if permit.generation != self.generation:
            return
        if permit.probe:
            self._on_probe_outcome(permit, ok)
        elif ok is not None:
            self._record(ok)

    def _record(self, ok: bool) -> None:
        if len(self._outcomes) == self.window and not self._outcomes[0]:
            self._failures -= 1
        self._outcomes.append(ok)
        if not ok:
            self._failures += 1
            seen = len(self._outcomes)
            if seen >= self.min_calls and self._failures >= self.failure_rate * seen:
                self._transition(BreakerState.OPEN, self._clock())

    def _on_probe_outcome(self, permit: Permit, ok: bool | None) -> None:
        self._probes.remove(permit)
        if ok is None:
            return  # released (e.g. cancelled): the slot is free for another probe
        if not ok:
            self._transition(BreakerState.OPEN, self._clock())
            return
        self._probe_successes += 1
        if self._probe_successes >= self.half_open_probes:
            self._transition(BreakerState.CLOSED, self._clock())

    def _transition(self, new: BreakerState, now: float) -> None:
        old = self.state
        self.state = new
        self.generation += 1
        key = f"{old.value}->{new.value}"
        self.transitions[key] = self.transitions.get(key, 0) + 1
        self._probes.clear()
        self._probe_successes = 0
        if new is BreakerState.OPEN:
            self._opened_at = now
        elif new is BreakerState.CLOSED:
            self._outcomes.clear()
            self._failures = 0
        if self._on_transition is not None:
            self._on_transition(old, new)
