"""``AgentPerf``: the load engine's public face (the ``agent_perf`` fixture).

``run`` resolves its parameters once (``plan.py``), then an :class:`Execution` runs the
warm-up and the measured phase (or the memory sampler's rounds) and builds the
:class:`PerfResult`. ``sweep`` runs steps of concurrency or rate under the rules of
``sweep.py``; ``note`` and ``record`` attach figures and results measured elsewhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Literal, get_args

from pytest_agentperf.engine.execution import Execution, Instruments
from pytest_agentperf.engine.phase import Arrival, TaskSource
from pytest_agentperf.engine.plan import RunPlan, make_plan
from pytest_agentperf.engine.processes import run_in_processes
from pytest_agentperf.engine.shares import Naming, check_workers
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
from pytest_agentperf.spend import Prices

__all__ = ["BACKENDS", "NOTHING_MEASURED", "AgentPerf", "Backend", "Figure", "first_non_json"]

#: Where ``run(..., workers=N)`` runs its workers: local processes, or a Ray cluster.
Backend = Literal["processes", "ray"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)


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
    ``max_records`` bounds the per-task records kept per run (beyond it they are sampled);
    ``freeze_gc`` freezes the heap around each phase (``docs/engine.md``: garbage collection);
    ``prices`` (a :class:`~pytest_agentperf.spend.Prices`) turns the tasks' tokens into cost.
    ``backend`` is where ``run(..., workers=N)`` runs unless the call says (``"processes"``
    or ``"ray"``), ``ray_address`` the Ray cluster's (``None``: a local one is started).

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
        freeze_gc: bool = True,
        prices: Prices | None = None,
        backend: Backend = "processes",
        ray_address: str | None = None,
        ray_address_origin: str = "AgentPerf(ray_address=...)",
    ) -> None:
        if not scale > 0:
            raise LoadConfigError(f"AgentPerf(scale={scale!r}): the scale must be > 0.")
        _check_backend(backend, "AgentPerf(backend=...)")
        self.scale = scale
        self.seed = seed
        self.mock = mock
        self.memory = memory
        self.progress = progress
        self.max_records = max_records
        self.freeze_gc = freeze_gc
        self.prices = prices
        self.backend: Backend = backend
        self.ray_address = ray_address
        self.ray_address_origin = ray_address_origin
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
        workers: int | None = None,
        backend: Backend | None = None,
    ) -> PerfResult:
        """Run ``target`` under load and return (and append to ``results``) a PerfResult.

        Closed loop with ``concurrency`` workers, or open loop at ``rate`` tasks/s (with
        ``arrival`` "constant" or "poisson" and ``concurrency`` as an optional cap); ``n``
        tasks or for ``duration``; ``tasks`` is a list, an iterable or a factory ``f(i)``.

        ``processes=N`` runs the workload in N worker processes (``engine/processes.py``):
        ``target`` is then a factory ``f(ctx: WorkerContext)`` (or its import path
        ``"package.module:f"``) that builds the target in each, and the concurrency, rate,
        ``n`` and ``tasks`` are split between them; the results merge into one.
        ``workers=N`` does the same on ``backend``: ``"processes"`` (as ``processes=N``) or
        ``"ray"``, N actors of a Ray cluster (``engine/ray_backend.py``); without
        ``backend=``, the one ``AgentPerf`` was given (``--agentperf-backend``).
        """
        source = TaskSource(tasks)
        spread = self._spread(processes, workers, backend)
        if spread is not None and concurrency is None and rate is None:
            concurrency = spread[0]  # closed loop: one at a time in each
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
        warmed = False
        if spread is not None:
            result = await self._run_spread(target, tasks, plan, *spread)
        else:
            driver = adapt_target(target)
            instruments = Instruments(
                self.mock,
                self.memory,
                self.progress,
                self.max_records,
                self.freeze_gc,
                prices=self.prices,
            )
            execution = Execution(driver, source, plan, instruments)
            async with driving(target, driver):
                result = await execution.execute()
            warmed = execution.warmed > 0
        if result.total == 0:
            result = _nothing_measured(result, plan, source, warmed=warmed)
        self.results.append(result)
        return result

    def _spread(
        self, processes: int | None, workers: int | None, backend: Backend | None
    ) -> tuple[int, Backend, Naming] | None:
        """``(N, backend, how the run was asked for)`` for a run on several workers, else None."""
        if processes is not None and workers is not None:
            raise LoadConfigError(
                f"run(processes={processes}, workers={workers}): pass one of them; "
                "processes=N is workers=N on local processes."
            )
        if processes is not None:
            if backend not in (None, "processes"):
                raise LoadConfigError(
                    f"run(processes={processes}, backend={backend!r}): processes=N runs local "
                    f"processes; for the {backend!r} backend write workers={processes}."
                )
            count = check_workers(processes)
            return count, "processes", Naming(f"processes={count}", key="processes")
        if workers is None:
            if backend is not None:
                raise LoadConfigError(
                    f"run(backend={backend!r}) needs workers=N: how many workers to run on it."
                )
            return None
        count = check_workers(workers, "workers")
        chosen = backend if backend is not None else self.backend
        _check_backend(chosen, "run(backend=...)")
        spelled = f"workers={count}" + (f", backend={backend!r}" if backend is not None else "")
        return count, chosen, Naming(spelled, key="workers")

    async def _run_spread(
        self,
        target: object,
        tasks: object,
        plan: RunPlan,
        count: int,
        backend: Backend,
        naming: Naming,
    ) -> PerfResult:
        """The run on ``count`` workers of ``backend``, merged."""
        if backend == "ray":
            from pytest_agentperf.engine.ray_backend import run_on_ray

            return await run_on_ray(
                target,
                tasks,
                plan,
                count,
                address=self.ray_address,
                address_origin=self.ray_address_origin,
                mock=self.mock,
                memory=self.memory,
                progress=self.progress,
                max_records=self.max_records,
                freeze_gc=self.freeze_gc,
                prices=self.prices,
            )
        return await run_in_processes(
            target,
            tasks,
            plan,
            count,
            mock=self.mock,
            memory=self.memory,
            progress=self.progress,
            max_records=self.max_records,
            freeze_gc=self.freeze_gc,
            prices=self.prices,
            naming=naming,
        )

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
        workers: int | None = None,
        backend: Backend | None = None,
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
                    workers=workers,
                    backend=backend,
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
        workers: int | None = None,
        backend: Backend | None = None,
    ) -> SweepResult:
        """Run ``target`` at each step of ``concurrency=[...]`` or ``rate=[...]``.

        Stops after the first step that misses ``slo`` (metric -> limit) or once throughput
        grew by less than ``saturation`` over the best step; the knee is the best step that
        met the SLO. In a rate sweep ``concurrency`` is an integer cap. The other keywords
        (``processes``, ``workers`` and ``backend`` included) go to every ``run()``.
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
                workers=workers,
                backend=backend,
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
        """Add a result measured elsewhere; budgets and reports treat it like a run.

        The result must be representable in JSON (it travels to the report, to the xdist
        controller and into baselines as JSON): a value in ``extra`` (or anywhere else)
        that is not a number, string, bool, None, list or dict of them is a
        :class:`ResultError` naming it, raised here, in the test that recorded it.
        """
        if not isinstance(result, PerfResult):
            raise ResultError(
                f"agent_perf.record() takes a PerfResult, not {type(result).__name__}."
            )
        place = first_non_json(result.to_dict())
        if place is not None:
            where, value = place
            raise ResultError(
                f"agent_perf.record(): the result's {where} is a {type(value).__qualname__} "
                f"({value!r:.60}), which JSON cannot hold, and results are written as JSON "
                "(reports, baselines, xdist); use numbers, strings, bools, None, lists and "
                "dicts of them (e.g. a datetime's .isoformat(), float(a Decimal))."
            )
        self.results.append(result)
        return result


def first_non_json(value: object, where: str = "") -> tuple[str, object] | None:
    """The first place in ``value`` (a ``to_dict()``) that JSON cannot hold, and its value.

    ``where`` reads like the access path: ``extra['measured_at']``, ``extra['runs'][2]``.
    """
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return None
    items: list[tuple[str, object]]
    if isinstance(value, dict):
        items = [(f"{where}[{k!r}]" if where else str(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    else:
        return where or "value", value
    for place, item in items:
        found = first_non_json(item, place)
        if found is not None:
            return found
    return None


NOTHING_MEASURED = "measured no task"


def _check_backend(backend: object, where: str) -> None:
    if backend not in BACKENDS:
        raise LoadConfigError(
            f"{where}: {backend!r} is not a backend; use one of {', '.join(map(repr, BACKENDS))}."
        )


def _nothing_measured(
    result: PerfResult, plan: RunPlan, source: TaskSource, *, warmed: bool
) -> PerfResult:
    """``result`` (of a run that measured no task) with a warning that says why.

    Budgets fail on such a result (its error rate of 0% is the rate of nothing); the
    warning is what the failure and the summary quote.
    """
    if source.finite and warmed:
        why = (
            f"the warm-up (warmup={plan.warmup!r}) used up the task iterator, so nothing was "
            "left to measure: pass more tasks, or a smaller warmup= (0 for none)"
        )
    elif source.finite:
        why = "the task iterator was empty"
    elif plan.duration is not None:
        why = (
            f"no task ended within duration={plan.duration:g}s (after --agentperf-scale); "
            "give it a longer duration"
        )
    else:
        why = "no task ran"
    warnings = (*result.selfcheck.warnings, f"{NOTHING_MEASURED}: {why}")
    return dataclasses.replace(
        result, selfcheck=dataclasses.replace(result.selfcheck, warnings=warnings)
    )
