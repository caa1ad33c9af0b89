"""Factories and task sources for the multi-process tests (importable in worker processes).

A worker process imports this module by name (``tests.engine.proc_targets``), so
everything a test hands to ``run(..., processes=N)`` lives here, at module level.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from pytest_agentperf import WorkerContext

Target = Callable[[Any], Awaitable[Any]]


class Boom(Exception):
    """A task failure decided by the task's index: the same tasks fail in any split."""


def failing_every_7th(ctx: WorkerContext) -> Target:
    """Sleeps 2 ms; the task whose payload is ``i`` with ``i % 7 == 3`` raises ``Boom``."""

    async def target(payload: int) -> int:
        await asyncio.sleep(0.002)
        if payload % 7 == 3:
            raise Boom(payload)
        return payload

    return target


class Worker:
    """A target object (``process_task``): fine in one process, not a factory."""

    async def process_task(self, task: Any) -> Any:
        return task


def payload_square(i: int) -> int:
    """A task factory ``f(i)``: the payload the target checks."""
    return i * i


def prompt(i: int) -> str:
    """A unique prompt per task (for agents)."""
    return f"question {i}"


def failing_on_odd_square(ctx: WorkerContext) -> Target:
    async def target(payload: int) -> int:
        await asyncio.sleep(0.001)
        if payload % 2:
            raise Boom(payload)
        return payload

    return target


def raising_in_worker_1(ctx: WorkerContext) -> Target:
    """Worker 1's factory raises; worker 0 runs normally."""
    if ctx.index == 1:
        raise RuntimeError("no agent for worker 1")
    return failing_every_7th(ctx)


def raising_everywhere(ctx: WorkerContext) -> Target:
    raise ValueError(f"bad configuration in worker {ctx.index}")


def killed_in_worker_1(ctx: WorkerContext) -> Target:
    """Worker 1 is killed (SIGKILL, like the OOM killer) at its 50th task."""
    done = [0]

    async def target(payload: int) -> int:
        await asyncio.sleep(0.002)
        done[0] += 1
        if ctx.index == 1 and done[0] == 50:
            os.kill(os.getpid(), signal.SIGKILL)
        return payload

    return target


def slow(ctx: WorkerContext) -> Target:
    """Each task sleeps 1 s: a run that is still going when the test cancels it."""

    async def target(payload: int) -> int:
        await asyncio.sleep(1.0)
        return payload

    return target


async def async_factory(ctx: WorkerContext) -> Target:
    """A coroutine function as the factory."""
    await asyncio.sleep(0)
    return failing_every_7th(ctx)


def _mark(marker_dir: str, name: str) -> None:
    Path(marker_dir, name).write_text(str(os.getpid()))


async def with_teardown(marker_dir: str, ctx: WorkerContext) -> AsyncIterator[Target]:
    """An async generator factory: writes ``start-<i>`` before and ``stop-<i>`` after."""
    _mark(marker_dir, f"start-{ctx.index}")
    yield failing_every_7th(ctx)
    _mark(marker_dir, f"stop-{ctx.index}")


def recording_context(marker_dir: str, ctx: WorkerContext) -> Target:
    """Writes the worker's context (but its mock) to ``context-<i>``, then runs tasks."""
    fields = (ctx.index, ctx.workers, ctx.concurrency, ctx.rate, ctx.seed, ctx.mock is None)
    Path(marker_dir, f"context-{ctx.index}").write_text(repr(fields))
    return failing_every_7th(ctx)


#: Objects kept alive by :func:`leaking_in_worker_1` (a leak, on purpose).
KEPT: list[bytes] = []


def leaking_in_worker_1(ctx: WorkerContext) -> Target:
    """Worker 1 keeps 20 KB per task; worker 0 keeps nothing."""

    async def target(payload: int) -> int:
        await asyncio.sleep(0)
        if ctx.index == 1:
            KEPT.append(os.urandom(20_000))
        return payload

    return target


def agent_on_mock_transport(ctx: WorkerContext) -> Any:
    """ImprovedAgent on its worker's mock, through the mock's httpx transport."""
    from reference_agent import ImprovedAgent

    return ImprovedAgent(
        base_url=ctx.mock.base_url,
        transport=ctx.mock.httpx_transport(),
        concurrency=ctx.concurrency or 1,
        cache_max_size=0,
    )


def agent_unchanged(ctx: WorkerContext) -> Any:
    """ImprovedAgent pointed at the mock's URL with no change: the worker's mock intercepts."""
    from reference_agent import ImprovedAgent

    return ImprovedAgent(
        base_url=ctx.mock.base_url, concurrency=ctx.concurrency or 1, cache_max_size=0
    )


def killed_after_a_while_in_worker_1(ctx: WorkerContext) -> Target:
    """Worker 1 is killed (SIGKILL) 0.8 s into its tasks, after it has reported progress."""
    first: list[float] = []

    async def target(payload: int) -> int:
        await asyncio.sleep(0.002)
        if not first:
            first.append(time.monotonic())
        if ctx.index == 1 and time.monotonic() - first[0] > 0.8:
            os.kill(os.getpid(), signal.SIGKILL)
        return payload

    return target


async def slow_marked(marker_dir: str, ctx: WorkerContext) -> AsyncIterator[Target]:
    """:func:`slow` from an async generator factory: writes ``start-<i>`` (its pid) when
    built and ``stop-<i>`` when torn down (a cancelled run tears it down too)."""
    _mark(marker_dir, f"start-{ctx.index}")
    yield slow(ctx)
    _mark(marker_dir, f"stop-{ctx.index}")
