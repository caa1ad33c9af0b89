"""Sweeps: run a workload at rising concurrency or rate and find the knee under an SLO.

Each step is an ordinary ``run()`` (appended to ``agent_perf.results``). The sweep stops
after the first step that misses the SLO, or once the system is saturated: throughput
grew by less than ``saturation`` (5%) over the best step so far. The *knee* is the step
with the highest throughput among those that met the SLO.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pytest_agentperf.errors import LoadConfigError, UnitError
from pytest_agentperf.result import PerfResult
from pytest_agentperf.units import (
    Bound,
    parse_bound,
    parse_duration,
    parse_fraction,
    parse_rate,
)

if TYPE_CHECKING:
    from pytest_agentperf.load import AgentPerf

__all__ = ["SLO_KEYS", "SweepResult", "SweepStep", "parse_slo", "sweep"]

_LATENCY_KEYS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")
#: Accepted SLO keys: latency percentiles (from intended start), TTFT p95, error rate,
#: and a minimum throughput.
SLO_KEYS = (*_LATENCY_KEYS, "ttft_p95", "error_rate", "throughput")
StopReason = Literal["completed", "saturated", "slo"]


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

    parameter: Literal["concurrency", "rate"]
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
    """Parse ``{"p95": "150ms", "error_rate": "1%", "throughput": ">= 100/s"}``."""
    bounds: dict[str, Bound] = {}
    for key, value in (slo or {}).items():
        where = f"sweep(slo={{{key!r}: ...}})"
        try:
            if key in _LATENCY_KEYS or key == "ttft_p95":
                bounds[key] = parse_bound(value, parse_duration, "<=", where)
            elif key == "error_rate":
                bounds[key] = parse_bound(value, parse_fraction, "<=", where)
            elif key == "throughput":
                bounds[key] = parse_bound(value, parse_rate, ">=", where)
            else:
                raise LoadConfigError(
                    f"{where}: unknown SLO key {key!r}; accepted: {', '.join(SLO_KEYS)}."
                )
        except UnitError as exc:
            raise LoadConfigError(str(exc)) from None
    return bounds


def check_slo(result: PerfResult, bounds: Mapping[str, Bound]) -> tuple[str, ...]:
    """The SLO entries ``result`` misses, as ``"p95 0.2 (limit <= 0.15)"`` strings."""
    misses = []
    for key, bound in bounds.items():
        measured = _measure(result, key)
        if measured is None or math.isnan(measured) or not bound.holds(measured):
            misses.append(f"{key} {measured if measured is not None else 'n/a'} (limit {bound})")
    return tuple(misses)


def _measure(result: PerfResult, key: str) -> float | None:
    if key in _LATENCY_KEYS:
        return float(getattr(result.latency, key))
    if key == "ttft_p95":
        return result.ttft.p95 if result.ttft else None
    if key == "error_rate":
        return result.error_rate
    return result.throughput


async def sweep(
    perf: AgentPerf,
    target: object,
    *,
    concurrency: Sequence[int] | int | None = None,
    rate: Sequence[float | str] | None = None,
    slo: Mapping[str, str | float] | None = None,
    saturation: float = 0.05,
    name: str | None = None,
    **run_kwargs: Any,
) -> SweepResult:
    """Run ``target`` at each step of ``concurrency`` or ``rate``; see the module docstring.

    Other keyword arguments (``n``, ``duration``, ``tasks``, ``warmup``, ``arrival``, and a
    ``concurrency=`` cap, an integer, in a rate sweep) go to every ``run()``.
    """
    parameter, values = _steps(concurrency, rate)
    bounds = parse_slo(slo)
    base = name or "sweep"
    steps: list[SweepStep] = []
    best = 0.0
    reason: StopReason = "completed"
    for value in values:
        kwargs = dict(run_kwargs, name=f"{base}[{parameter}={value:g}]")
        if parameter == "concurrency":
            kwargs["concurrency"] = int(value)
        else:
            kwargs["rate"] = value
            if concurrency is not None:
                kwargs["concurrency"] = concurrency
        result = await perf.run(target, **kwargs)
        misses = check_slo(result, bounds)
        steps.append(SweepStep(value, result, not misses, misses))
        if misses:
            reason = "slo"
            break
        if steps[:-1] and result.throughput < best * (1.0 + saturation):
            reason = "saturated"
            break
        best = max(best, result.throughput)
    return SweepResult(parameter, tuple(steps), {k: str(v) for k, v in (slo or {}).items()}, reason)


def _steps(
    concurrency: Sequence[int] | int | None, rate: Sequence[float | str] | None
) -> tuple[Literal["concurrency", "rate"], list[float]]:
    if rate is not None:
        if isinstance(rate, str | int | float):
            raise LoadConfigError(f"sweep(rate={rate!r}): give a list of rates, e.g. [50, 100].")
        if concurrency is not None and not isinstance(concurrency, int):
            raise LoadConfigError(
                "sweep(): give either concurrency=[...] or rate=[...] steps, not both "
                "(in a rate sweep, concurrency= is an integer cap)."
            )
        values = [parse_rate(r, "sweep(rate=[...])") for r in rate]
        parameter: Literal["concurrency", "rate"] = "rate"
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
