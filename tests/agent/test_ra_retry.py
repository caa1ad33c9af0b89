"""Retry: backoff with full jitter, Retry-After, the deadline, what is retried."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ra_support import FakeClock

from reference_agent import (
    LLMRateLimitError,
    LLMServerError,
    LLMStatusError,
    LLMTimeoutError,
    RetryPolicy,
)
from reference_agent.resilience import call_with_retry, parse_retry_after


class Upstream:
    """Fails with the given errors in turn, then answers "ok"; records attempt timeouts."""

    def __init__(self, clock: FakeClock, errors: list[BaseException], cost: float = 0.0) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.cost = cost
        self.timeouts: list[float | None] = []
        self.started: list[float] = []

    async def __call__(self, limit: float | None) -> str:
        self.timeouts.append(limit)
        self.started.append(self.clock.now)
        spent = self.cost if limit is None else min(self.cost, limit)
        self.clock.advance(spent)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def server_error(retry_after: float | None = None) -> LLMServerError:
    return LLMServerError("503", status_code=503, retry_after=retry_after)


async def _delays(seed: int, failures: int = 7) -> list[float]:
    clock = FakeClock()
    upstream = Upstream(clock, [server_error() for _ in range(failures)])
    policy = RetryPolicy(attempts=failures + 1, base=0.1, cap=0.5, deadline=None)
    rng = random.Random(seed)
    result = await call_with_retry(upstream, policy, clock=clock, sleep=clock.sleep, rng=rng)
    assert result == "ok"
    return clock.sleeps


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", range(20))
async def test_delays_are_capped_exponential_with_full_jitter(seed: int) -> None:
    delays = await _delays(seed)
    assert len(delays) == 7
    for k, delay in enumerate(delays):  # retry k+1 waits uniform(0, min(cap, base * 2**k))
        assert 0 <= delay <= min(0.5, 0.1 * 2**k)
    assert len(set(delays)) > 1  # jittered, not one fixed delay


@pytest.mark.asyncio
async def test_the_jitter_range_grows_up_to_the_cap() -> None:
    runs = [await _delays(seed) for seed in range(20)]
    # The first wait is drawn from [0, 0.1]; once base * 2**k reaches the cap (from the
    # 4th wait on) they spread over [0, 0.5]: some of those 80 seeded draws pass 0.4.
    assert max(run[0] for run in runs) <= 0.1
    assert max(delay for run in runs for delay in run[3:]) > 0.4


@pytest.mark.asyncio
async def test_jitter_is_reproducible_with_a_seed() -> None:
    assert await _delays(11) == await _delays(11)
    assert await _delays(11) != await _delays(12)


@pytest.mark.asyncio
async def test_retry_after_is_honoured() -> None:
    clock = FakeClock()
    errors: list[BaseException] = [
        LLMRateLimitError("429", status_code=429, retry_after=2.0),
        server_error(retry_after=0.0),
    ]
    upstream = Upstream(clock, errors)
    policy = RetryPolicy(attempts=3, base=10.0, cap=10.0, deadline=30.0)
    assert await call_with_retry(upstream, policy, clock=clock, sleep=clock.sleep) == "ok"
    assert clock.sleeps == [2.0, 0.0]


@pytest.mark.asyncio
async def test_retry_after_beyond_the_deadline_is_not_waited_for() -> None:
    clock = FakeClock()
    upstream = Upstream(clock, [LLMRateLimitError("429", status_code=429, retry_after=60.0)])
    policy = RetryPolicy(attempts=5, deadline=10.0)
    with pytest.raises(LLMRateLimitError) as info:
        await call_with_retry(upstream, policy, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []
    assert any("overshoot the 10.0s deadline" in note for note in info.value.__notes__)


@pytest.mark.asyncio
async def test_retry_after_is_capped_when_there_is_no_deadline() -> None:
    clock = FakeClock()
    huge: list[BaseException] = [server_error(retry_after=3600.0) for _ in range(2)]
    default = RetryPolicy(attempts=3, deadline=None)
    assert default.retry_after_cap == 60.0
    assert await call_with_retry(Upstream(clock, huge), default, sleep=clock.sleep) == "ok"
    assert clock.sleeps == [60.0, 60.0]
    clock.sleeps.clear()
    policy = RetryPolicy(attempts=2, deadline=None, retry_after_cap=2.5)
    upstream = Upstream(clock, [server_error(retry_after=1.0e9)])
    assert await call_with_retry(upstream, policy, clock=clock, sleep=clock.sleep) == "ok"
    assert clock.sleeps == [2.5]


@pytest.mark.asyncio
async def test_a_stop_event_cuts_the_backoff_wait_short_and_gives_up() -> None:
    clock = FakeClock()
    upstream = Upstream(clock, [server_error(retry_after=30.0) for _ in range(3)])
    stop = asyncio.Event()
    waiting = asyncio.Event()

    async def endless_sleep(delay: float) -> None:
        clock.sleeps.append(delay)
        waiting.set()
        await asyncio.Event().wait()  # never ends by itself

    before = asyncio.all_tasks()
    call = asyncio.ensure_future(
        call_with_retry(
            upstream,
            RetryPolicy(attempts=5, deadline=None),
            clock=clock,
            sleep=endless_sleep,
            stop_event=stop,
        )
    )
    await waiting.wait()
    assert not call.done()
    stop.set()
    with pytest.raises(LLMServerError) as info:
        await call
    assert clock.sleeps == [30.0]
    assert len(upstream.timeouts) == 1  # no retry after the stop
    assert "the agent is shutting down" in info.value.__notes__[-1]
    assert asyncio.all_tasks() - before == set()  # the sleep and the event wait are gone


@pytest.mark.asyncio
async def test_an_unset_stop_event_lets_the_wait_run_its_course() -> None:
    clock = FakeClock()
    upstream = Upstream(clock, [server_error(retry_after=1.5)])
    stop = asyncio.Event()
    policy = RetryPolicy(attempts=2, deadline=None)
    result = await call_with_retry(
        upstream, policy, clock=clock, sleep=clock.sleep, stop_event=stop
    )
    assert result == "ok"
    assert clock.sleeps == [1.5]


@settings(max_examples=150, deadline=None)
@given(
    failures=st.lists(
        st.tuples(st.booleans(), st.floats(min_value=0, max_value=5)), min_size=0, max_size=12
    ),
    cost=st.floats(min_value=0, max_value=3),
    deadline=st.floats(min_value=0.5, max_value=8),
    per_attempt=st.one_of(st.none(), st.floats(min_value=0.1, max_value=4)),
    seed=st.integers(0, 2**16),
)
def test_deadline_is_never_overshot(
    failures: list[tuple[bool, float]],
    cost: float,
    deadline: float,
    per_attempt: float | None,
    seed: int,
) -> None:
    clock = FakeClock()
    errors: list[BaseException] = [
        server_error(retry_after=delay if has_header else None) for has_header, delay in failures
    ]
    upstream = Upstream(clock, errors, cost=cost)
    policy = RetryPolicy(
        attempts=20, base=0.2, cap=2.0, deadline=deadline, attempt_timeout=per_attempt
    )
    start = clock.now

    async def go() -> None:
        rng = random.Random(seed)
        with contextlib.suppress(LLMServerError):
            await call_with_retry(upstream, policy, clock=clock, sleep=clock.sleep, rng=rng)

    asyncio.run(go())
    assert clock.now - start <= deadline + 1e-9
    for started, timeout in zip(upstream.started, upstream.timeouts, strict=True):
        assert timeout is not None
        assert started + timeout <= start + deadline + 1e-9
        if per_attempt is not None:
            assert timeout <= per_attempt


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "error",
    [
        LLMStatusError("400", status_code=400),
        LLMTimeoutError("pool timeout"),  # not retryable (e.g. PoolTimeout)
        ValueError("a bug"),
    ],
)
async def test_only_retryable_errors_are_retried(error: Exception) -> None:
    clock = FakeClock()
    upstream = Upstream(clock, [error])
    with pytest.raises(type(error)):
        await call_with_retry(upstream, RetryPolicy(attempts=5), clock=clock, sleep=clock.sleep)
    assert len(upstream.timeouts) == 1


@pytest.mark.asyncio
async def test_timeouts_and_connect_failures_are_retried() -> None:
    clock = FakeClock()
    errors: list[BaseException] = [LLMTimeoutError("read timeout", retryable=True)]
    upstream = Upstream(clock, errors)
    assert await call_with_retry(upstream, RetryPolicy(), clock=clock, sleep=clock.sleep) == "ok"
    assert len(upstream.timeouts) == 2


@pytest.mark.asyncio
async def test_cancellation_is_never_retried() -> None:
    clock = FakeClock()
    upstream = Upstream(clock, [asyncio.CancelledError()])
    with pytest.raises(asyncio.CancelledError):
        await call_with_retry(upstream, RetryPolicy(attempts=5), clock=clock, sleep=clock.sleep)
    assert len(upstream.timeouts) == 1


@pytest.mark.asyncio
async def test_attempts_are_bounded_and_the_last_error_says_why() -> None:
    clock = FakeClock()
    upstream = Upstream(clock, [server_error() for _ in range(10)])
    retries: list[int] = []
    with pytest.raises(LLMServerError) as info:
        await call_with_retry(
            upstream,
            RetryPolicy(attempts=3, deadline=None),
            clock=clock,
            sleep=clock.sleep,
            on_retry=lambda n, exc, delay: retries.append(n),
        )
    assert len(upstream.timeouts) == 3
    assert retries == [1, 2]
    assert "3 attempt(s) used" in info.value.__notes__[-1]


@pytest.mark.asyncio
async def test_no_retry_starts_after_shutdown_begins() -> None:
    clock = FakeClock()
    upstream = Upstream(clock, [server_error() for _ in range(10)])
    stopping = False

    async def sleep_then_stop(delay: float) -> None:
        nonlocal stopping
        await clock.sleep(delay)
        stopping = True  # shutdown begins during the backoff wait

    with pytest.raises(LLMServerError) as info:
        await call_with_retry(
            upstream,
            RetryPolicy(attempts=5),
            clock=clock,
            sleep=sleep_then_stop,
            should_stop=lambda: stopping,
        )
    assert len(upstream.timeouts) == 1
    assert "shutting down" in info.value.__notes__[-1]


@pytest.mark.asyncio
async def test_no_state_is_shared_between_calls() -> None:
    clock = FakeClock()
    policy = RetryPolicy(attempts=2, deadline=5.0)
    first = Upstream(clock, [server_error(), server_error()])
    with pytest.raises(LLMServerError):
        await call_with_retry(first, policy, clock=clock, sleep=clock.sleep)
    second = Upstream(clock, [server_error()])
    assert await call_with_retry(second, policy, clock=clock, sleep=clock.sleep) == "ok"
    assert second.timeouts == [5.0, pytest.approx(5.0 - clock.sleeps[-1])]


def test_parse_retry_after_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    header = format_datetime(later, usegmt=True)
    assert parse_retry_after(header, now=now.timestamp()) == pytest.approx(30.0)
    assert parse_retry_after(header, now=later.timestamp() + 5) == 0.0
