"""``run()``'s parameters, validated, scaled and resolved once into a :class:`RunPlan`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pytest_agentperf.engine.phase import Arrival, PhaseSpec, TaskSource
from pytest_agentperf.errors import LoadConfigError
from pytest_agentperf.units import parse_duration, parse_rate

__all__ = ["RunPlan", "make_plan"]


@dataclass(frozen=True, slots=True)
class RunPlan:
    """``run()``'s parameters, validated and scaled."""

    name: str
    mode: Literal["closed", "open"]
    n: int | None
    duration: float | None
    concurrency: int | None
    rate: float | None
    arrival: Arrival
    warmup: int | float  # int: tasks; float: seconds
    seed: int | None

    def phase(self, count: int | None, duration: float | None) -> PhaseSpec:
        return PhaseSpec(count, duration, self.concurrency, self.rate, self.arrival, self.seed)


def make_plan(
    source: TaskSource,
    *,
    name: str,
    n: int | None,
    concurrency: int | None,
    rate: float | str | None,
    arrival: str,
    duration: float | str | None,
    warmup: int | float | str | None,
    scale: float = 1.0,
    seed: int | None = None,
    memory: bool = False,
) -> RunPlan:
    """Validate ``run()``'s arguments; raise :class:`LoadConfigError` naming the bad one.

    ``scale`` multiplies ``n`` (for generated tasks) and ``duration``; with ``memory`` the
    memory sampler plans its own warm-up rounds, so the warm-up defaults to none.
    """
    rate_value = parse_rate(rate, "run(rate=...)") if rate is not None else None
    if rate_value is not None and rate_value <= 0:
        raise LoadConfigError(f"run(rate={rate!r}): the rate must be above 0 tasks/s.")
    if concurrency is not None and (not _count_like(concurrency) or concurrency < 1):
        raise LoadConfigError(f"run(concurrency={concurrency!r}): use an integer >= 1.")
    if arrival not in ("constant", "poisson"):
        raise LoadConfigError(f"run(arrival={arrival!r}): use 'constant' or 'poisson'.")
    if n is not None and (not _count_like(n) or n < 1):
        raise LoadConfigError(f"run(n={n!r}): use an integer >= 1.")
    seconds = parse_duration(duration, "run(duration=...)") if duration is not None else None
    if seconds == 0:
        raise LoadConfigError(f"run(duration={duration!r}): use a duration above 0.")
    count = _count(source, n, seconds, scale)
    if seconds is not None:
        seconds *= scale
    mode: Literal["closed", "open"] = "open" if rate_value is not None else "closed"
    if mode == "closed" and concurrency is None:
        concurrency = 1
    return RunPlan(
        name=name,
        mode=mode,
        n=count,
        duration=seconds,
        concurrency=concurrency,
        rate=rate_value,
        arrival="poisson" if arrival == "poisson" else "constant",
        warmup=0 if warmup is None and memory else _warmup(warmup, count, concurrency, rate_value),
        seed=seed if seed is not None else 0,
    )


def _count_like(value: object) -> bool:
    """An int that is not a bool (``n=True`` is a mistake, not one task)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _count(source: TaskSource, n: int | None, seconds: float | None, scale: float) -> int | None:
    if n is not None:
        return max(1, round(n * scale)) if source.is_factory else n
    if source.length is not None and seconds is None:
        return source.length  # a list without n or duration: each item once
    if seconds is None and not source.finite:
        raise LoadConfigError(
            "run() needs to know when to stop: give n=... (tasks) or duration=... "
            "(or tasks= as a list or a finite iterable)."
        )
    return None


def _warmup(
    warmup: int | float | str | None, n: int | None, concurrency: int | None, rate: float | None
) -> int | float:
    if warmup is None:  # auto: fill each worker (or 100 ms of arrivals), <= 10% of n
        auto = (concurrency or 1) if rate is None else math.ceil(rate * 0.1)
        return min(auto, n // 10) if n is not None else auto
    if isinstance(warmup, bool) or (isinstance(warmup, int) and warmup < 0):
        raise LoadConfigError(f"run(warmup={warmup!r}): use a task count or a duration.")
    if isinstance(warmup, int):
        return warmup
    return parse_duration(warmup, "run(warmup=...)")
