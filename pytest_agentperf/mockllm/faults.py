"""Fault injection: which call fails, and how.

``Faults`` says what to inject; ``FaultPlanner`` decides, call by call, in O(1).

Each fault kind takes a *fraction of calls* (``0.01`` or ``"1%"``), a *schedule* (a
collection of 0-based call indices, or a callable ``index -> bool``), or nothing.
Fractions are placed by a seeded shuffle in blocks of 100 calls with the remainder carried
from block to block, so ``rate_limit=0.1`` over 1,000 calls gives exactly 100 rate limits,
at positions that are random but the same for the same seed. Outage windows (``Outage``)
make every call in a time range fail with one status. Precedence: outage, then schedules
(in the order of the fields below), then fractions. Call indices and outage times count
from the first call after the faults were configured.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Final

from pytest_agentperf.errors import MockConfigError
from pytest_agentperf.units import parse_duration, parse_fraction

__all__ = ["KINDS", "FaultPlanner", "FaultSpec", "Faults", "Outage"]

RATE_LIMIT: Final = "rate_limit"
SERVER_ERROR: Final = "server_error"
TIMEOUT: Final = "timeout"
DISCONNECT: Final = "disconnect"
MALFORMED: Final = "malformed"
CONNECTION_ERROR: Final = "connection_error"
OUTAGE: Final = "outage"
KINDS: Final = (RATE_LIMIT, SERVER_ERROR, TIMEOUT, DISCONNECT, MALFORMED, CONNECTION_ERROR)

FaultSpec = float | str | Collection[int] | Callable[[int], bool] | None

_BLOCK = 100


@dataclass(frozen=True, slots=True)
class Outage:
    """Every call between ``start`` and ``end`` (after the first call) fails with ``status``."""

    start: str | float
    end: str | float
    status: int = 503

    def __post_init__(self) -> None:
        start = parse_duration(self.start, "Outage(start=...)")
        end = parse_duration(self.end, "Outage(end=...)")
        if end <= start:
            raise MockConfigError(f"Outage(end={self.end!r}) must be after start={self.start!r}.")
        if not 400 <= self.status <= 599:
            raise MockConfigError(
                f"Outage(status={self.status!r}) must be an HTTP error (400-599)."
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)


def _spec(value: FaultSpec, name: str) -> float | frozenset[int] | Callable[[int], bool]:
    """A fraction, a frozen set of call indices, or a predicate."""
    if value is None:
        return 0.0
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return parse_fraction(value, f"Faults({name}=...)")
    if callable(value):
        return value
    if isinstance(value, Collection) and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value
    ):
        return frozenset(value)
    raise MockConfigError(
        f"Faults({name}={value!r}) is not a fault spec; use a fraction such as 0.01 or '1%', "
        "a collection of call indices, or a callable taking the call index."
    )


@dataclass(frozen=True)
class Faults:
    """What to inject. Rates are fractions of calls; see the module docstring.

    ``retry_after`` goes into the 429's ``Retry-After`` (and ``retry-after-ms``) header;
    ``server_error_codes`` are drawn from for ``server_error``; ``hang`` is how long a
    ``timeout`` fault holds a client that has no read timeout of its own.
    """

    rate_limit: FaultSpec = 0.0
    server_error: FaultSpec = 0.0
    timeout: FaultSpec = 0.0
    disconnect: FaultSpec = 0.0
    malformed: FaultSpec = 0.0
    connection_error: FaultSpec = 0.0
    retry_after: str | float = 1.0
    server_error_codes: Sequence[int] = (500, 502, 503)
    outages: Sequence[Outage] = ()
    hang: str | float = 30.0
    specs: dict[str, float | frozenset[int] | Callable[[int], bool]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        specs = {kind: _spec(getattr(self, kind), kind) for kind in KINDS}
        total = math.fsum(v for v in specs.values() if isinstance(v, float))
        if total > 1.0 + 1e-9:
            raise MockConfigError(f"Faults(...) rates add up to {total:g}; their sum must be <= 1.")
        object.__setattr__(self, "specs", specs)
        object.__setattr__(
            self, "retry_after", parse_duration(self.retry_after, "Faults(retry_after=...)")
        )
        object.__setattr__(self, "hang", parse_duration(self.hang, "Faults(hang=...)"))
        codes = tuple(self.server_error_codes)
        if not codes or any(not 500 <= c <= 599 for c in codes):
            raise MockConfigError(
                f"Faults(server_error_codes={self.server_error_codes!r}) must be 5xx statuses."
            )
        object.__setattr__(self, "server_error_codes", codes)
        if any(not isinstance(o, Outage) for o in self.outages):
            raise MockConfigError(f"Faults(outages={self.outages!r}) must be Outage(...) objects.")

    @property
    def active(self) -> bool:
        """Whether any fault can happen at all."""
        return bool(self.outages) or any(bool(spec) for spec in self.specs.values())


class FaultPlanner:
    """Decides the fault of each call: ``decide(now)`` -> a kind, an outage status, or None."""

    __slots__ = ("_block", "_carry", "_faults", "_index", "_origin", "_rates", "_rng", "_sched")

    def __init__(self, faults: Faults, seed: int) -> None:
        self._faults = faults
        self._rng = random.Random(f"agentperf-mockllm-faults-{seed}")
        self._rates = [(k, v) for k, v in faults.specs.items() if isinstance(v, float) and v > 0]
        self._sched = [(k, v) for k, v in faults.specs.items() if not isinstance(v, float)]
        self._carry = dict.fromkeys(faults.specs, 0.0)
        self._block: list[str | None] = []
        self._index = 0
        self._origin: float | None = None

    @property
    def faults(self) -> Faults:
        """The configuration this planner follows."""
        return self._faults

    def server_error_status(self) -> int:
        """A seeded draw among ``server_error_codes``."""
        codes = self._faults.server_error_codes
        return codes[0] if len(codes) == 1 else self._rng.choice(codes)

    def decide(self, now: float) -> str | int | None:
        """The fault for the next call, arriving at monotonic time ``now``."""
        index = self._index
        self._index = index + 1
        if self._faults.outages:
            if self._origin is None:
                self._origin = now
            status = self._outage(now - self._origin)
            if status is not None:
                return status
        by_rate: str | None = None
        if self._rates:
            slot = index % _BLOCK
            if slot == 0:
                self._refill()
            by_rate = self._block[slot]
        for kind, spec in self._sched:
            if (index in spec) if isinstance(spec, frozenset) else spec(index):
                return kind
        return by_rate

    def _outage(self, elapsed: float) -> int | None:
        for outage in self._faults.outages:
            if outage.start <= elapsed < outage.end:  # type: ignore[operator]
                return outage.status
        return None

    def _refill(self) -> None:
        """Place exactly ``rate * 100`` (plus carried remainder) faults of each kind."""
        order = list(range(_BLOCK))
        self._rng.shuffle(order)
        block: list[str | None] = [None] * _BLOCK
        position = 0
        for kind, rate in self._rates:
            wanted = self._carry[kind] + rate * _BLOCK
            count = min(int(wanted + 1e-9), _BLOCK - position)
            self._carry[kind] = wanted - count
            for slot in order[position : position + count]:
                block[slot] = kind
            position += count
        self._block = block
