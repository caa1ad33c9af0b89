"""Latency models: how long the mock takes, drawn from a seeded ``random.Random``.

Every model is a frozen dataclass with ``sample(rng, tokens) -> seconds``. Values may be
given as numbers (seconds) or strings with units (``"60ms"``); they are parsed once, at
construction, through :func:`pytest_agentperf.units.parse_duration`, and an invalid value
raises ``ValueError`` naming the model and the parameter.

``tokens`` is the number of tokens the delay is about: output tokens for ``latency``, input
tokens for ``ttft`` (prefill grows with the prompt), one for ``itl``. Only
:class:`PerToken` uses it.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_agentperf.errors import MockConfigError
from pytest_agentperf.units import parse_duration

__all__ = [
    "Empirical",
    "Fixed",
    "LatencyLike",
    "LatencyModel",
    "LogNormal",
    "Normal",
    "PerToken",
    "Uniform",
    "as_model",
]

# The 99th percentile of the standard normal distribution.
_Z99 = 2.3263478740408408

Duration = str | float


def _duration(value: Duration, model: str, param: str) -> float:
    return parse_duration(value, f"{model}({param}=...)")


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


class LatencyModel(ABC):
    """A distribution of delays in seconds."""

    @abstractmethod
    def sample(self, rng: random.Random, tokens: int = 0) -> float:
        """Draw one delay in seconds (never negative)."""

    @property
    @abstractmethod
    def expected(self) -> float:
        """The expected delay in seconds (for ``tokens=0``)."""


@dataclass(frozen=True, slots=True)
class Fixed(LatencyModel):
    """Always ``value``: ``Fixed("20ms")``."""

    value: Duration

    def __post_init__(self) -> None:
        _set(self, "value", _duration(self.value, "Fixed", "value"))

    def sample(self, rng: random.Random, tokens: int = 0) -> float:
        return self.value  # type: ignore[return-value]

    @property
    def expected(self) -> float:
        return float(self.value)


@dataclass(frozen=True, slots=True)
class Uniform(LatencyModel):
    """Uniform between ``low`` and ``high``: ``Uniform("10ms", "30ms")``."""

    low: Duration
    high: Duration

    def __post_init__(self) -> None:
        low = _duration(self.low, "Uniform", "low")
        high = _duration(self.high, "Uniform", "high")
        if high < low:
            raise MockConfigError(
                f"Uniform(high={self.high!r}) is below low={self.low!r}; high must be >= low."
            )
        _set(self, "low", low)
        _set(self, "high", high)

    def sample(self, rng: random.Random, tokens: int = 0) -> float:
        return rng.uniform(self.low, self.high)  # type: ignore[arg-type]

    @property
    def expected(self) -> float:
        return (float(self.low) + float(self.high)) / 2.0


@dataclass(frozen=True, slots=True)
class Normal(LatencyModel):
    """Normal with ``mean`` and ``stddev``, clipped at ``minimum`` (default 0)."""

    mean: Duration
    stddev: Duration
    minimum: Duration = 0.0

    def __post_init__(self) -> None:
        _set(self, "mean", _duration(self.mean, "Normal", "mean"))
        _set(self, "stddev", _duration(self.stddev, "Normal", "stddev"))
        _set(self, "minimum", _duration(self.minimum, "Normal", "minimum"))

    def sample(self, rng: random.Random, tokens: int = 0) -> float:
        value = rng.gauss(self.mean, self.stddev)  # type: ignore[arg-type]
        return max(value, self.minimum)  # type: ignore[return-value]

    @property
    def expected(self) -> float:
        return float(self.mean)


@dataclass(frozen=True, slots=True)
class LogNormal(LatencyModel):
    """Log-normal given by its ``median`` and ``p99``: ``LogNormal("60ms", "300ms")``.

    The heavy right tail of real LLM latencies; ``p99 >= median > 0``.
    """

    median: Duration
    p99: Duration
    _mu: float = field(init=False, repr=False, compare=False, default=0.0)
    _sigma: float = field(init=False, repr=False, compare=False, default=0.0)

    def __post_init__(self) -> None:
        median = _duration(self.median, "LogNormal", "median")
        p99 = _duration(self.p99, "LogNormal", "p99")
        if median <= 0:
            raise MockConfigError(f"LogNormal(median={self.median!r}) must be above zero.")
        if p99 < median:
            raise MockConfigError(
                f"LogNormal(p99={self.p99!r}) is below median={self.median!r}; "
                "p99 must be >= median."
            )
        _set(self, "median", median)
        _set(self, "p99", p99)
        _set(self, "_mu", math.log(median))
        _set(self, "_sigma", (math.log(p99) - math.log(median)) / _Z99)

    def sample(self, rng: random.Random, tokens: int = 0) -> float:
        return rng.lognormvariate(self._mu, self._sigma)

    @property
    def expected(self) -> float:
        return math.exp(self._mu + self._sigma**2 / 2.0)


@dataclass(frozen=True, slots=True)
class Empirical(LatencyModel):
    """Resamples measured delays uniformly: ``Empirical(["40ms", "55ms", 0.2])``."""

    samples: Sequence[Duration]

    def __post_init__(self) -> None:
        if isinstance(self.samples, str) or not self.samples:
            raise MockConfigError(
                f"Empirical(samples={self.samples!r}) needs a non-empty sequence of durations."
            )
        parsed = tuple(
            _duration(value, "Empirical", f"samples[{index}]")
            for index, value in enumerate(self.samples)
        )
        _set(self, "samples", parsed)

    def sample(self, rng: random.Random, tokens: int = 0) -> float:
        return rng.choice(self.samples)  # type: ignore[return-value]

    @property
    def expected(self) -> float:
        return math.fsum(self.samples) / len(self.samples)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class PerToken(LatencyModel):
    """``base + per_token * tokens``: ``PerToken(base="200ms", per_token="15ms")``."""

    base: Duration
    per_token: Duration

    def __post_init__(self) -> None:
        _set(self, "base", _duration(self.base, "PerToken", "base"))
        _set(self, "per_token", _duration(self.per_token, "PerToken", "per_token"))

    def sample(self, rng: random.Random, tokens: int = 0) -> float:
        return self.base + self.per_token * tokens  # type: ignore[operator,return-value]

    @property
    def expected(self) -> float:
        return float(self.base)


LatencyLike = LatencyModel | str | float | None


def as_model(value: LatencyLike, param: str) -> LatencyModel | None:
    """A model from what ``configure()`` accepts; ``None`` means no model.

    An explicit zero (``0``, ``"0ms"``, ``Fixed(0)``) is kept as ``Fixed(0)``: it means zero,
    and so overrides what ``ttft``/``itl`` would otherwise give a plain answer.
    """
    if value is None or isinstance(value, LatencyModel):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MockConfigError(
            f"configure({param}={value!r}) is not a latency; use a model such as "
            "Fixed('20ms'), LogNormal('60ms', '300ms'), a duration string or seconds."
        )
    return Fixed(parse_duration(value, f"configure({param}=...)"))
