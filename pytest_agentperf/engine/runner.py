"""``AgentPerf``: the load engine's public face (the ``agent_perf`` fixture).

``run`` resolves its parameters once (``plan.py``), then an :class:`Execution` runs the
warm-up and the measured phase (or the memory sampler's rounds) and builds the
:class:`PerfResult`. ``sweep`` runs steps of concurrency or rate under the rules of
``sweep.py``; ``note`` and ``record`` attach figures and results measured elsewhere.
"""

from __future__ import annotations

import asyncio

from pytest_agentperf.engine.execution import Execution, Instruments
from pytest_agentperf.engine.phase import Arrival, TaskSource
from pytest_agentperf.engine.plan import make_plan
from pytest_agentperf.engine.processes import run_in_processes
from pytest_agentperf.engine.shares import check_workers
from pytest_agentperf.engine.sweep import (
    StopReason,
    SweepResult,
    SweepStep,
    check_slo,
    parse_slo,
    stop_reason,
    sweep_steps,
)
from pytest_agentperf.engine.targets import adapt_target, driving, first_token, target_name
from pytest_agentperf.engine.task_records import DEFAULT_MAX_RECORDS
from pytest_agentperf.errors import LoadConfigError, ResultError
from pytest_agentperf.protocols import MockStatsSource, ProgressSink, RoundSampler
from pytest_agentperf.result import PerfResult

__all__ = ["AgentPerf", "Figure"]


def _name(target: object) -> str:
    """A result's default name: the target's, or a factory path's function name."""
    return target.rpartition(":")[2] if isinstance(target, str) else target_name(target)


#: What ``agent_perf.note()`` accepts as a figure.
Figure = int | float | str | bool


class AgentPerf:
    """Drives targets under load and measures them (the ``agent_perf`` fixture).

    ``scale`` multiplies ``n``, ``duration`` and factory-generated task counts (never below
    one task); ``seed`` seeds Poisson arrivals; ``mock`` (a ``MockLLM``) enables efficiency;
    ``memory`` runs the workload in the sampler's rounds; ``progress`` gets live updates;
    ``max_records`` bounds the per-task records kept per run (beyond it they are sampled).

    Every result lands in ``results`` and every noted figure in ``figures``: under pytest
    the plugin checks the test's budgets against them and reports them.
    """

    mark_first_token = staticmethod(first_token)

    def __init__(
        self,
        *,
        scale: float = 1.0,
        seed: int | None = None,
        mock: MockStatsSource | None = None,
        memory: RoundSampler | None = None,
        progress: ProgressSink | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        if not scale > 0:
            raise LoadConfigError(f"AgentPerf(scale={scale!r}): the scale must be > 0.")
        self.scale = scale
        self.seed = seed
        self.mock = mock
        self.memory = memory
        self.progress = progress
        self.max_records = max_records
        self.results: list[PerfResult] = []
        self.figures: dict[str, Figure] = {}

    def __repr__(self) -> str:
        return f"<AgentPerf scale={self.scale} runs={len(self.results)}>"

    async def run(
        self,
        target: object,
        *,
        tasks: object = None,
        n: int | None = None,
        concurrency: int | None = None,
        rate: float | str | None = None,
        arrival: Arrival = "constant",
        duration: float | str | None = None,
        warmup: int | float | str | None = None,
        name: str | None = None,
        processes: int | None = None,
    ) -> PerfResult:
        """Run ``target`` under load and return (and append to ``results``) a PerfResult.

        Closed loop with ``concurrency`` workers, or open loop at ``rate`` tasks/s (with
        ``arrival`` "constant" or "poisson" and ``concurrency`` as an optional cap); ``n``
        tasks or for ``duration``; ``tasks`` is a list, an iterable or a factory ``f(i)``.

        ``processes=N`` runs the workload in N worker processes (``engine/processes.py``):
        ``target`` is then a factory ``f(ctx: WorkerContext)`` (or its import path
        ``"package.module:f"``) that builds the target in each, and the concurrency, rate,
        ``n`` and ``tasks`` are split between them; the results merge into one.
        """
        source = TaskSource(tasks)
        if processes is not None and concurrency is None and rate is None:
            concurrency = check_workers(processes)  # closed loop: one at a time in each
        plan = make_plan(
            source,
            name=name or _name(target),
            n=n,
            concurrency=concurrency,
            rate=rate,
            arrival=arrival,
            duration=duration,
            warmup=warmup,
            scale=self.scale,
            seed=self.seed,
            memory=self.memory is not None,
        )
        if processes is not None:
            result = await run_in_processes(
                target,
                tasks,
                plan,
                processes,
                mock=self.mock,
                memory=self.memory,
                progress=self.progress,
                max_records=self.max_records,
            )
            self.results.append(result)
            return result
        driver = adapt_target(target)
        instruments = Instruments(self.mock, self.memory, self.progress, self.max_records)
        async with driving(target, driver):
            result = await Execution(driver, source, plan, instruments).execute()
        self.results.append(result)
        return result

    def run_sync(
        self,
        target: object,
        *,
        tasks: object = None,
        n: int | None = None,
        concurrency: int | None = None,
        rate: float | str | None = None,
        arrival: Arrival = "constant",
        duration: float | str | None = None,
        warmup: int | float | str | None = None,
        name: str | None = None,
        processes: int | None = None,
    ) -> PerfResult:
        """``run`` for synchronous tests (uses ``asyncio.run``; not inside a running loop)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(
                self.run(
                    target,
                    tasks=tasks,
                    n=n,
                    concurrency=concurrency,
                    rate=rate,
                    arrival=arrival,
                    duration=duration,
                    warmup=warmup,
                    name=name,
                    processes=processes,
                )
            )
        raise LoadConfigError(
            "agent_perf.run_sync() was called inside a running event loop: in an async test "
            "use 'await agent_perf.run(...)'."
        )

    async def sweep(
        self,
        target: object,
        *,
        concurrency: list[int] | tuple[int, ...] | int | None = None,
        rate: list[float | str] | tuple[float | str, ...] | None = None,
        slo: dict[str, str | float] | None = None,
        saturation: float = 0.05,
        name: str | None = None,
        tasks: object = None,
        n: int | None = None,
        arrival: Arrival = "constant",
        duration: float | str | None = None,
        warmup: int | float | str | None = None,
        processes: int | None = None,
    ) -> SweepResult:
        """Run ``target`` at each step of ``concurrency=[...]`` or ``rate=[...]``.

        Stops after the first step that misses ``slo`` (metric -> limit) or once throughput
        grew by less than ``saturation`` over the best step; the knee is the best step that
        met the SLO. In a rate sweep ``concurrency`` is an integer cap. The other keywords
        (``processes`` included) go to every ``run()``.
        """
        parameter, values = sweep_steps(concurrency, rate)
        bounds = parse_slo(slo)
        cap = concurrency if isinstance(concurrency, int) else None  # a rate sweep's cap
        steps: list[SweepStep] = []
        best = 0.0
        reason: StopReason = "completed"
        for value in values:
            result = await self.run(
                target,
                tasks=tasks,
                n=n,
                concurrency=int(value) if parameter == "concurrency" else cap,
                rate=value if parameter == "rate" else None,
                arrival=arrival,
                duration=duration,
                warmup=warmup,
                name=f"{name or 'sweep'}[{parameter}={value:g}]",
                processes=processes,
            )
            misses = check_slo(result, bounds)
            steps.append(SweepStep(value, result, not misses, misses))
            stop = stop_reason(steps, saturation, best)
            if stop is not None:
                reason = stop
                break
            best = max(best, result.throughput)
        limits = {k: str(v) for k, v in (slo or {}).items()}
        return SweepResult(parameter, tuple(steps), limits, reason)

    def note(self, **figures: Figure) -> None:
        """Attach figures the test computed itself (a speedup, a hit ratio) to its report.

        They appear in the summary, the JSON (``figures``) and the HTML report, and
        ``pytest_agentperf_recommendations`` hooks can read them.
        """
        for key, value in figures.items():
            if not isinstance(value, int | float | str | bool):
                raise ResultError(
                    f"agent_perf.note({key}=...) takes a number, string or bool, "
                    f"not {type(value).__name__}."
                )
        self.figures.update(figures)

    def record(self, result: PerfResult) -> PerfResult:
        """Add a result measured elsewhere; budgets and reports treat it like a run."""
        if not isinstance(result, PerfResult):
            raise ResultError(
                f"agent_perf.record() takes a PerfResult, not {type(result).__name__}."
            )
        self.results.append(result)
        return result
