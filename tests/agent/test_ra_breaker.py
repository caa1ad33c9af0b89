"""Circuit breaker: failure rate over a window, fail fast, exactly K half-open probes."""

from __future__ import annotations

import asyncio

import pytest
from ra_support import FakeClock

from reference_agent import BreakerState, CircuitBreaker, CircuitOpenError


def breaker(clock: FakeClock, **kwargs: object) -> CircuitBreaker:
    settings: dict[str, object] = {
        "window": 10,
        "min_calls": 4,
        "failure_rate": 0.5,
        "break_duration": 5.0,
        "probe_timeout": 2.0,
        "clock": clock,
    }
    settings.update(kwargs)
    return CircuitBreaker(**settings)  # type: ignore[arg-type]


def state_of(b: CircuitBreaker) -> BreakerState:
    """The state, read through a call (so type checkers do not narrow it)."""
    return b.state


def trip(b: CircuitBreaker, failures: int = 4) -> None:
    for _ in range(failures):
        b.acquire().failure()


def test_opens_on_failure_rate_only_after_min_calls() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(3):
        b.acquire().failure()
    assert state_of(b) is BreakerState.CLOSED  # 3 calls < min_calls
    b.acquire().failure()
    assert state_of(b) is BreakerState.OPEN
    with pytest.raises(CircuitOpenError, match=r"open; calls fail fast for another 5\.000s"):
        b.acquire()


def test_rate_below_threshold_stays_closed_and_window_slides() -> None:
    clock = FakeClock()
    b = breaker(clock, window=4, min_calls=4)
    states = []
    for ok in [True, True, True, False, True, False]:
        permit = b.acquire()
        permit.success() if ok else permit.failure()
        states.append(state_of(b))
    # 4th call: T T T F (25%) and 5th: T T F T (25%) stay closed; 6th: T F T F (50%) opens.
    assert states[3] is BreakerState.CLOSED
    assert states[4] is BreakerState.CLOSED
    assert states[5] is BreakerState.OPEN
    assert b.transitions == {"closed->open": 1}


def test_half_open_after_break_then_success_closes() -> None:
    clock = FakeClock()
    b = breaker(clock)
    trip(b)
    clock.advance(5.0)
    probe = b.acquire()
    assert probe.probe
    assert state_of(b) is BreakerState.HALF_OPEN
    probe.success()
    assert state_of(b) is BreakerState.CLOSED
    assert b.transitions == {"closed->open": 1, "open->half_open": 1, "half_open->closed": 1}


def test_probe_failure_reopens() -> None:
    clock = FakeClock()
    b = breaker(clock)
    trip(b)
    clock.advance(5.0)
    b.acquire().failure()
    assert state_of(b) is BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        b.acquire()


@pytest.mark.asyncio
@pytest.mark.parametrize("probes", [1, 3])
async def test_half_open_admits_exactly_k_probes_with_100_concurrent_callers(probes: int) -> None:
    clock = FakeClock()
    b = breaker(clock, half_open_probes=probes)
    trip(b)
    clock.advance(5.0)
    barrier = asyncio.Event()
    upstream_calls = 0

    async def caller() -> str:
        nonlocal upstream_calls
        await barrier.wait()  # all 100 arrive at once
        try:
            permit = b.acquire()
        except CircuitOpenError:
            return "rejected"
        upstream_calls += 1
        await asyncio.sleep(0)
        permit.success()
        return "probe"

    tasks = [asyncio.ensure_future(caller()) for _ in range(100)]
    await asyncio.sleep(0)
    barrier.set()
    outcomes = await asyncio.gather(*tasks)
    assert outcomes.count("probe") == probes
    assert upstream_calls == probes
    assert state_of(b) is BreakerState.CLOSED
    assert b.transitions["open->half_open"] == 1
    assert b.transitions["half_open->closed"] == 1


def test_a_probe_that_never_returns_does_not_wedge_the_breaker() -> None:
    clock = FakeClock()
    b = breaker(clock)
    trip(b)
    clock.advance(5.0)
    lost = b.acquire()  # never reports
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError, match="probe slots are taken"):
        b.acquire()
    clock.advance(1.0)  # probe_timeout reached: counted as failed, breaker reopens
    with pytest.raises(CircuitOpenError, match="open"):
        b.acquire()
    assert state_of(b) is BreakerState.OPEN
    clock.advance(5.0)
    b.acquire().success()
    assert state_of(b) is BreakerState.CLOSED
    lost.failure()  # a late report from an older state is ignored
    assert state_of(b) is BreakerState.CLOSED
    assert b.transitions["half_open->open"] == 1


def test_each_state_change_happens_once_despite_late_reports() -> None:
    clock = FakeClock()
    b = breaker(clock)
    permits = [b.acquire() for _ in range(8)]  # all admitted while closed
    for permit in permits:
        permit.failure()
    assert b.transitions == {"closed->open": 1}
    assert state_of(b) is BreakerState.OPEN


def test_a_released_probe_frees_its_slot() -> None:
    clock = FakeClock()
    b = breaker(clock)
    trip(b)
    clock.advance(5.0)
    b.acquire().release()  # e.g. the caller was cancelled
    assert state_of(b) is BreakerState.HALF_OPEN
    b.acquire().success()
    assert state_of(b) is BreakerState.CLOSED


def test_a_half_open_episode_admits_exactly_k_probes_in_total() -> None:
    clock = FakeClock()
    b = breaker(clock, half_open_probes=2)
    trip(b)
    clock.advance(5.0)
    first = b.acquire()
    second = b.acquire()
    first.success()  # a succeeded probe keeps its slot: no third probe in this episode
    assert state_of(b) is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError, match="probe slots are taken"):
        b.acquire()
    second.success()
    assert state_of(b) is BreakerState.CLOSED
    assert b.transitions["half_open->closed"] == 1


def test_sequential_probes_close_after_exactly_k_successes() -> None:
    clock = FakeClock()
    b = breaker(clock, half_open_probes=2)
    trip(b)
    clock.advance(5.0)
    b.acquire().success()
    second = b.acquire()  # one success and one probe in flight: both slots are used
    assert second.probe
    with pytest.raises(CircuitOpenError, match="probe slots are taken"):
        b.acquire()
    second.success()
    assert state_of(b) is BreakerState.CLOSED
    assert not b.acquire().probe
    assert b.transitions == {"closed->open": 1, "open->half_open": 1, "half_open->closed": 1}


def test_a_released_probe_frees_its_slot_but_a_succeeded_one_does_not() -> None:
    clock = FakeClock()
    b = breaker(clock, half_open_probes=2)
    trip(b)
    clock.advance(5.0)
    done = b.acquire()
    done.success()
    b.acquire().release()  # never reached the upstream: its slot is free again
    last = b.acquire()
    with pytest.raises(CircuitOpenError, match="probe slots are taken"):
        b.acquire()
    last.success()
    assert state_of(b) is BreakerState.CLOSED
