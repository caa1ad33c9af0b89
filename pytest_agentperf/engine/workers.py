"""What a worker process builds: its :class:`WorkerContext` and, from the factory, its target.

With ``agent_perf.run(factory, processes=N)`` an agent cannot be copied into another
process: each worker builds its own from ``factory``, which is a picklable callable (a
module-level function, a ``functools.partial`` of one) or an import path
``"package.module:function"``. The factory takes the worker's :class:`WorkerContext` and
returns the target, as a plain function, a coroutine function, or an async generator that
yields it once (set-up before the ``yield``, tear-down after, like a fixture)::

    def make_agent(ctx: WorkerContext) -> ImprovedAgent:
        return ImprovedAgent(transport=ctx.mock.httpx_transport(), concurrency=ctx.concurrency)

An agent that was never started is started and stopped around the run, as in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
import pickle
import time
import traceback
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_agentperf.engine.execution import Execution, Instruments
from pytest_agentperf.engine.phase import TaskSource, run_phase
from pytest_agentperf.engine.plan import RunPlan
from pytest_agentperf.engine.shares import (
    Naming,
    Share,
    ShareOutcome,
    check_tasks,
    combine,
    split,
)
from pytest_agentperf.engine.targets import Driver, adapt_target, driving
from pytest_agentperf.engine.task_records import DEFAULT_MAX_RECORDS, TaskRecords
from pytest_agentperf.errors import LoadConfigError, TargetError
from pytest_agentperf.protocols import (
    AgentLike,
    ProgressSink,
    ReplicableMock,
    ReplicableSampler,
    RoundSampler,
    WorkerMock,
)
from pytest_agentperf.result import PerfResult
from pytest_agentperf.spend import Prices

__all__ = [
    "Factory",
    "Job",
    "Jobs",
    "WorkerContext",
    "building",
    "check_factory",
    "describe",
    "load_factory",
    "make_jobs",
    "run_share",
]

#: What ``run(..., processes=N)`` accepts as its target.
Factory = Callable[["WorkerContext"], Any] | str

_FACTORY_HELP = (
    "pass a factory that builds the target in each worker process: a "
    "module-level function 'def make_agent(ctx): return Agent(...)' (or a "
    "functools.partial of one), or its import path 'package.module:make_agent'"
)


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What a factory gets in each worker process of ``run(..., processes=N)``.

    ``index`` is this worker (0 .. ``workers`` - 1); ``concurrency`` and ``rate`` are its
    share of the run's (size the agent's workers from ``concurrency``); ``seed`` its seed
    for anything random. ``mock`` is the worker's own mock LLM, configured like the test's
    ``mock_llm`` with a seed of its own and already patching httpx (so an agent pointed at
    ``mock.base_url`` reaches it with no change, and ``mock.httpx_transport()`` works);
    ``None`` when the run has no mock.
    """

    index: int
    workers: int
    mock: Any
    concurrency: int | None
    rate: float | None
    seed: int


def describe(factory: object) -> str:
    """A short name for messages: the import path, or the callable's qualified name."""
    if isinstance(factory, str):
        return repr(factory)
    func = getattr(factory, "func", factory)  # a functools.partial: name the function
    name = getattr(func, "__qualname__", None) or type(factory).__qualname__
    module = getattr(func, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def check_factory(factory: object, processes: int | Naming) -> Factory:
    """Validate a factory in the parent: an import path resolves, a callable pickles."""
    spelled = _naming(processes).spelled
    if isinstance(factory, str):
        load_factory(factory)
        return factory
    if isinstance(factory, AgentLike) or not callable(factory) or inspect.isclass(factory):
        raise TargetError(
            f"agent_perf.run(..., {spelled}) got {_what(factory)}: an object "
            f"cannot be copied into another process; {_FACTORY_HELP}."
        )
    try:
        pickle.dumps(factory)
    except Exception as exc:
        raise LoadConfigError(
            f"agent_perf.run(..., {spelled}): the factory {describe(factory)} "
            f"cannot be sent to a worker process ({type(exc).__name__}: {exc}); a lambda or "
            f"a function defined inside another cannot; {_FACTORY_HELP}."
        ) from exc
    return factory


def _naming(workers: int | Naming) -> Naming:
    return workers if isinstance(workers, Naming) else Naming.processes(workers)


def load_factory(factory: Factory) -> Callable[[WorkerContext], Any]:
    """The callable behind ``factory`` (an import path is imported here)."""
    if not isinstance(factory, str):
        return factory
    module_name, sep, attribute = factory.partition(":")
    if not sep or not module_name or not attribute:
        raise LoadConfigError(f"the factory path {factory!r} is not 'package.module:function'.")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise LoadConfigError(
            f"the factory path {factory!r} does not resolve "
            f"({type(exc).__name__}: {exc}); use 'package.module:function' with the module "
            "importable (on sys.path) in this process and in the workers."
        ) from exc
    if not callable(found):
        raise LoadConfigError(f"the factory path {factory!r} is {_what(found)}, not a function.")
    return found  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def building(factory: Factory, ctx: WorkerContext) -> AsyncIterator[object]:
    """The target ``factory`` builds for ``ctx``; an async generator's tear-down runs after."""
    func = load_factory(factory)
    if inspect.isasyncgenfunction(func):
        generator = func(ctx)
        try:
            target = await anext(generator)
        except StopAsyncIteration:
            raise TargetError(
                f"the factory {describe(factory)} is an async generator that yielded nothing: "
                "yield the target once."
            ) from None
        try:
            yield target
        finally:
            await _close(generator, factory)
        return
    target = func(ctx)
    if inspect.isawaitable(target):
        target = await target
    yield target


async def _close(generator: Any, factory: Factory) -> None:
    try:
        await anext(generator)
    except StopAsyncIteration:
        return
    await generator.aclose()
    raise TargetError(
        f"the factory {describe(factory)} yielded more than once: yield the target once."
    )


def _what(obj: object) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__qualname__}"
    text = repr(obj)
    return f"{text[:60]}... ({type(obj).__qualname__})" if len(text) > 60 else text


# -- the parent's side: one job per worker ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """What one worker receives (pickled once, in the parent)."""

    share: Share
    factory: Factory
    mock: Callable[[], WorkerMock] | None
    memory: Callable[[], RoundSampler] | None
    max_records: int
    freeze_gc: bool = True
    prices: Prices | None = None

    def run(
        self,
        ready: Callable[[], Awaitable[None]] | None = None,
        progress: ProgressSink | None = None,
    ) -> Awaitable[ShareOutcome]:
        """:func:`run_share` of this job, where the worker is (every backend calls this)."""
        return run_share(
            self.share,
            self.factory,
            mock=self.mock,
            memory=self.memory,
            max_records=self.max_records,
            freeze_gc=self.freeze_gc,
            prices=self.prices,
            ready=ready,
            progress=progress,
        )


@dataclass(frozen=True, slots=True)
class Jobs:
    """A run split for its workers: the checked factory, the shares and each worker's
    pickled :class:`Job` (what any transport sends: a pipe, a Ray actor call)."""

    factory: Factory
    shares: list[Share]
    blobs: list[bytes]
    naming: Naming

    def combine(self, plan: RunPlan, outcomes: Sequence[ShareOutcome], mock: object) -> PerfResult:
        """The merged result; the workers' mock statistics are added to the test's mock."""
        if isinstance(mock, ReplicableMock):
            for outcome in outcomes:
                if outcome.mock_stats is not None:
                    mock.absorb(outcome.mock_stats)
        return combine(plan, self.shares, outcomes, describe(self.factory), self.naming)


def make_jobs(
    factory: object,
    tasks: object,
    plan: RunPlan,
    workers: int,
    naming: Naming,
    *,
    mock: object,
    memory: object,
    max_records: int,
    freeze_gc: bool,
    prices: Prices | None,
) -> Jobs:
    """Check the factory and the tasks, split ``plan`` and pickle one job per worker.

    Everything a worker cannot rebuild (a lambda, an iterator, an unpicklable scripted
    reply) is refused here, before any worker starts.
    """
    checked = check_factory(factory, naming)
    source = check_tasks(tasks, naming)
    shares = split(plan, source, workers, _mock_seed(mock), naming)
    settings = (max_records, freeze_gc, prices)
    jobs = [_job(share, checked, mock, memory, naming, *settings) for share in shares]
    return Jobs(checked, shares, [_pickle(job, naming) for job in jobs], naming)


def _mock_seed(mock: object) -> int:
    seed = getattr(getattr(mock, "settings", None), "seed", 0)
    return seed if isinstance(seed, int) else 0


def _job(
    share: Share,
    factory: Factory,
    mock: object,
    memory: object,
    naming: Naming,
    records: int,
    freeze: bool,
    prices: Prices | None,
) -> Job:
    mock_recipe = mock.replica(share.mock_seed) if isinstance(mock, ReplicableMock) else None
    if memory is not None and not isinstance(memory, ReplicableSampler):
        raise LoadConfigError(
            f"run({naming.spelled}) with a memory budget: the memory sampler "
            f"{type(memory).__qualname__} has no replica() to rebuild it in each worker; "
            "use pytest_agentperf.MemoryTracker."
        )
    memory_recipe = memory.replica() if memory is not None else None
    return Job(share, factory, mock_recipe, memory_recipe, records, freeze, prices)


def _pickle(job: Job, naming: Naming) -> bytes:
    try:
        return pickle.dumps(job)
    except Exception as exc:
        parts = (("the tasks", job.share.tasks), ("the mock's configuration", job.mock))
        culprit = next((name for name, part in parts if not _picklable(part)), "the job")
        raise LoadConfigError(
            f"run({naming.spelled}): {culprit} cannot be sent to a worker process "
            f"({type(exc).__name__}: {exc}). Worker processes rebuild everything from "
            "picklable parts: tasks as a list or a module-level function f(i), scripted "
            "replies and fault schedules as module-level functions, not lambdas."
        ) from exc


def _picklable(obj: object) -> bool:
    try:
        pickle.dumps(obj)
    except Exception:
        return False
    return True


# -- the worker's side of a run ------------------------------------------------------------


async def run_share(
    share: Share,
    factory: Factory,
    *,
    mock: Callable[[], WorkerMock] | None = None,
    memory: Callable[[], RoundSampler] | None = None,
    max_records: int = DEFAULT_MAX_RECORDS,
    freeze_gc: bool = True,
    prices: Prices | None = None,
    ready: Callable[[], Awaitable[None]] | None = None,
    progress: ProgressSink | None = None,
) -> ShareOutcome:
    """Run one share where the worker is: build its mock and target, warm up, wait for
    ``ready()`` (every worker warmed up: start together), run the measured phase.

    Never raises for a failure of the workload's own code: the outcome says what failed
    and at which stage. ``mock`` and ``memory`` are recipes (``replica()`` of the test's
    mock and memory sampler).
    """
    outcome = ShareOutcome(index=share.index, pid=os.getpid(), stage="setup")
    built: WorkerMock | None = None
    try:
        built = mock() if mock is not None else None
        if built is not None:
            built.start()
        sampler = _sampler(memory, built)
        async with building(factory, _context(share, built)) as target:
            driver = adapt_target(target)
            async with driving(target, driver):
                source = TaskSource(share.tasks)
                outcome.stage = "warmup"
                await _warmup(driver, source, share)
                if ready is not None:
                    await ready()
                if share.delay > 0:
                    await asyncio.sleep(share.delay)
                outcome.stage = "run"
                instruments = Instruments(
                    built, sampler, progress, max_records, freeze_gc, prices=prices
                )
                await _measure(outcome, Execution(driver, source, share.plan, instruments))
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.error_type = type(exc).__name__
        outcome.traceback = "".join(traceback.format_exception(exc))
    finally:
        if built is not None:
            outcome.mock_stats = built.stats()
            built.stop()
    return outcome


def _context(share: Share, mock: WorkerMock | None) -> WorkerContext:
    plan = share.plan
    seed = plan.seed or 0
    return WorkerContext(share.index, share.workers, mock, plan.concurrency, plan.rate, seed)


def _sampler(
    memory: Callable[[], RoundSampler] | None, mock: WorkerMock | None
) -> RoundSampler | None:
    """The worker's memory sampler, resetting the worker's mock as the fixture wires it."""
    sampler = memory() if memory is not None else None
    reset = getattr(mock, "reset_history", None)
    if sampler is not None and reset is not None and hasattr(sampler, "add_reset_hook"):
        sampler.add_reset_hook(reset)
    return sampler


async def _measure(outcome: ShareOutcome, execution: Execution) -> None:
    """The measured phase; its result, CPU time and every task's latencies go in ``outcome``."""
    cpu0 = time.process_time()
    outcome.result = await execution.execute()
    outcome.cpu_seconds = time.process_time() - cpu0
    measured = execution.measured
    if measured is not None:
        records = measured.records
        outcome.latencies = array("d", records.latencies()).tobytes()
        outcome.services = array("d", records.service_latencies()).tobytes()
        outcome.ttfts = array("d", records.ttfts()).tobytes()


async def _warmup(driver: Driver, source: TaskSource, share: Share) -> None:
    w = share.warmup
    if not w:
        return
    count, seconds = (w, None) if isinstance(w, int) else (None, float(w))
    await run_phase(driver, source, share.plan.phase(count, seconds), TaskRecords(count))
