"""Sweeps: run a workload at rising concurrency or rate and find the knee under an SLO.

Each step is an ordinary ``run()`` (appended to ``agent_perf.results``); the loop is
``AgentPerf.sweep``. This module holds the rules: the steps, the SLO (any metric of
:mod:`pytest_agentperf.metrics`, by any accepted spelling), and when to stop -- after the
first step that misses the SLO, or once the system is saturated: throughput grew by less
than ``saturation`` (5%) over the best step so far. The *knee* is the step with the
highest throughput among those that met the SLO.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_agentperf.errors import LoadConfigError, UnitError
from pytest_agentperf.metrics import METRICS, lookup
from pytest_agentperf.result import PerfResult
from pytest_agentperf.units import Bound, parse_bound, parse_rate

__all__ = [
    "SweepResult",
    "SweepStep",
    "check_slo",
    "parse_slo",
    "stop_reason",
    "sweep_steps",
]

StopReason = Literal["completed", "saturated", "slo"]
Parameter = Literal["concurrency", "rate"]


@dataclass(frozen=True, slots=True)
class SweepStep:
    """One step: the swept value, its result, and the SLO verdict."""

    value: float
    result: PerfResult
    met_slo: bool
    violations: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "met_slo": self.met_slo,
            "violations": list(self.violations),
            "result": self.result.to_dict(),
        }


@dataclass(frozen=True)
class SweepResult:
    """What a sweep found: every step, the knee (or ``None``), and why it stopped."""

    parameter: Parameter
    steps: tuple[SweepStep, ...]
    slo: dict[str, str] = field(default_factory=dict)
    stop_reason: StopReason = "completed"

    @property
    def knee_step(self) -> SweepStep | None:
        """The step with the highest throughput that met the SLO."""
        passing = [s for s in self.steps if s.met_slo]
        return max(passing, key=lambda s: s.result.throughput) if passing else None

    @property
    def knee(self) -> PerfResult | None:
        step = self.knee_step
        return step.result if step else None

    @property
    def knee_value(self) -> float | None:
        step = self.knee_step
        return step.value if step else None

    @property
    def results(self) -> tuple[PerfResult, ...]:
        return tuple(s.result for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        knee = self.knee
        return {
            "parameter": self.parameter,
            "slo": dict(self.slo),
            "stop_reason": self.stop_reason,
            "knee_value": self.knee_value,
            "knee_throughput": knee.throughput if knee else None,
            "steps": [s.to_dict() for s in self.steps],
        }


def parse_slo(slo: Mapping[str, str | float] | None) -> dict[str, Bound]:
    """Parse ``{"p95": "150ms", "error_rate": "1%", "throughput": ">= 100/s"}``.

    Keys are metric names (``p95``, ``mean``, ``efficiency``, ``ttft_p95``...); values are
    limits in the metric's unit, with an optional operator.
    """
    bounds: dict[str, Bound] = {}
    for key, value in (slo or {}).items():
        where = f"sweep(slo={{{key!r}: ...}})"
        metric = lookup(key)
        if metric is None:
            raise LoadConfigError(
                f"{where}: unknown SLO key {key!r}; accepted: {', '.join(METRICS)}."
            )
        try:
            bounds[key] = parse_bound(value, metric.parse, metric.op, where)
        except UnitError as exc:
            raise LoadConfigError(str(exc)) from None
    return bounds


def check_slo(result: PerfResult, bounds: Mapping[str, Bound]) -> tuple[str, ...]:
    """The SLO entries ``result`` misses, as ``"p95 0.2 (limit <= 0.15)"`` strings."""
    misses = []
    for key, bound in bounds.items():
        metric = lookup(key)
        measured = metric.value(result) if metric is not None else None
        if measured is None or not bound.holds(measured):
            misses.append(f"{key} {measured if measured is not None else 'n/a'} (limit {bound})")
    return tuple(misses)


def stop_reason(steps: Sequence[SweepStep], saturation: float, best: float) -> StopReason | None:
    """Why the sweep stops after its last step (``None``: go on).

    ``best`` is the highest throughput of the steps before the last one.
    """
    last = steps[-1]
    if not last.met_slo:
        return "slo"
    if len(steps) > 1 and last.result.throughput < best * (1.0 + saturation):
        return "saturated"
    return None


def sweep_steps(
    concurrency: Sequence[int] | int | None, rate: Sequence[float | str] | None
) -> tuple[Parameter, list[float]]:
    """The swept parameter and its values, validated."""
    return _steps(concurrency, rate)


def _steps(
    concurrency: Sequence[int] | int | None, rate: Sequence[float | str] | None
) -> tuple[Parameter, list[float]]:
    if rate is not None:
        if isinstance(rate, str | int | float):
            raise LoadConfigError(f"sweep(rate={rate!r}): give a list of rates, e.g. [50, 100].")
        if concurrency is not None and not isinstance(concurrency, int):
            raise LoadConfigError(
                "sweep(): give either concurrency=[...] or rate=[...] steps, not both "
                "(in a rate sweep, concurrency= is an integer cap)."
            )
        values = [parse_rate(r, "sweep(rate=[...])") for r in rate]
        parameter: Parameter = "rate"
    elif concurrency is not None:
        if isinstance(concurrency, int) or not all(
            isinstance(c, int) and c >= 1 for c in concurrency
        ):
            raise LoadConfigError(
                f"sweep(concurrency={concurrency!r}): give a list of integers >= 1, "
                "e.g. [1, 2, 4, 8]."
            )
        values = [float(c) for c in concurrency]
        parameter = "concurrency"
    else:
        raise LoadConfigError("sweep() needs concurrency=[...] or rate=[...] steps.")
    if not values:
        raise LoadConfigError(f"sweep({parameter}=[]): give at least one step.")
    return parameter, values
