"""What each measured task spends on LLM calls: the per-worker slot, the ledger, the figures.

:class:`SpendMeter` wraps the driver's call: each worker coroutine installs one
:class:`~pytest_agentperf.spend.TaskSpend` in its own context on its first task and zeroes
it before every task; the mock LLM adds to it on every front end (``MockCore.plan()``);
after the task the figures go into a :class:`SpendLedger` (flat arrays, like the task
records) when the phase is measured. So the hot path pays a context-variable read, a
``begin()`` and six array stores per task, and nothing per call beyond the mock's own.

Calls the mock answered outside any task during a measured phase (an agent that runs its
work outside the submitter's context) are read from the mock's counters before and after
the phase: they count in the totals and means, which stay exact, and the per-task spread
is left out, saying why.
"""

from __future__ import annotations

import dataclasses
import math
import random
from array import array
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_agentperf.engine.stats import percentile, summarize
from pytest_agentperf.engine.targets import Driver
from pytest_agentperf.engine.task_records import DEFAULT_MAX_RECORDS
from pytest_agentperf.protocols import MockStatsSource
from pytest_agentperf.result import Distribution, LLMSpend
from pytest_agentperf.spend import Prices, TaskSpend, current_spend

__all__ = ["SpendLedger", "SpendMeter", "merge_spend"]

ITL_KEPT = 2000  # per-stream inter-token latencies kept per run (a uniform sample beyond)
_FIGURES = ("calls", "tokens_in", "tokens_out", "tool_rounds", "retries", "cost")


class SpendLedger:
    """The spend of every measured task: one flat array per figure, plus exact totals.

    At most ``max_records`` tasks are kept for the spread; beyond that each new task
    replaces a random kept one (a uniform sample). Totals are exact.
    """

    __slots__ = (
        "_rng",
        "arrays",
        "count",
        "decode_time",
        "decode_tokens",
        "itls",
        "kept",
        "max_records",
        "streams",
        "totals",
        "unpriced",
    )

    def __init__(self, expected: int | None = None, max_records: int = DEFAULT_MAX_RECORDS):
        self.max_records = max(1, max_records)
        size = min(expected or 0, self.max_records)
        self.arrays = [array("d", bytes(8 * size)) for _ in _FIGURES]
        self.totals = [0.0] * len(_FIGURES)
        self.count = self.kept = self.streams = self.decode_tokens = 0
        self.decode_time = 0.0
        self.itls = array("d")
        self.unpriced: set[str] = set()
        self._rng = random.Random(0x5EED)

    def add(self, spend: TaskSpend) -> None:
        """Record the task that just ended in ``spend``'s worker."""
        values = (
            spend.calls,
            spend.tokens_in,
            spend.tokens_out,
            spend.tool_rounds,
            spend.retries,
            spend.cost,
        )
        totals = self.totals
        for i, value in enumerate(values):
            totals[i] += value
        k = self.count
        self.count = k + 1
        if k >= self.max_records:
            k = self._rng.randrange(k + 1)
            if k >= self.max_records:
                k = -1
        if k >= 0:
            for column, value in zip(self.arrays, values, strict=True):
                if k < len(column):
                    column[k] = value
                else:
                    column.append(value)
            self.kept = max(self.kept, k + 1)
        if spend.itls:
            self._streams(spend)
        if spend.unpriced:
            self.unpriced |= spend.unpriced
            spend.unpriced.clear()

    def _streams(self, spend: TaskSpend) -> None:
        self.decode_tokens += spend.decode_tokens
        self.decode_time += spend.decode_time
        for itl in spend.itls:
            n = self.streams
            self.streams = n + 1
            if n < ITL_KEPT:
                self.itls.append(itl)
            else:
                slot = self._rng.randrange(n + 1)
                if slot < ITL_KEPT:
                    self.itls[slot] = itl

    def column(self, figure: str) -> list[float]:
        """The kept per-task values of ``figure`` (``"tokens"``: in + out)."""
        if figure == "tokens":
            ins, outs = self.column("tokens_in"), self.column("tokens_out")
            return [a + b for a, b in zip(ins, outs, strict=True)]
        return list(self.arrays[_FIGURES.index(figure)][: self.kept])


class SpendMeter:
    """Measures the spend of a run's tasks: wraps the driver, reads the mock around phases."""

    def __init__(self, mock: MockStatsSource, prices: Prices | None = None) -> None:
        self.mock = mock
        self.prices = prices
        self.ledger: SpendLedger | None = None  # set while a measured phase runs
        self._measured: SpendLedger | None = None
        self._outside: dict[str, Any] = {"calls": 0, "socket": 0, "tokens": {}, "tokenizers": {}}
        self._before: dict[str, Any] | None = None

    def wrap(self, driver: Driver) -> Driver:
        """``driver`` whose call runs each task with its worker's slot zeroed, then records it."""
        call, meter, prices, get = driver.call, self, self.prices, current_spend

        async def accounted(payload: Any) -> Any:
            spend = get()
            if spend is None:  # the worker's first task: its own slot, in its own context
                spend = TaskSpend(prices)
                spend.install()
            spend.begin()
            try:
                return await call(payload)
            finally:
                ledger = meter.ledger
                if ledger is not None:
                    ledger.add(spend)

        return dataclasses.replace(driver, call=accounted)

    def prepare(self, expected: int | None, max_records: int) -> None:
        """Allocate the ledger for ``expected`` measured tasks, before anything is measured
        (a memory run samples between rounds: the ledger must not grow during them)."""
        if self._measured is None:
            self._measured = SpendLedger(expected, max_records)

    def start(self) -> None:
        """A measured phase starts (the ledger persists across the rounds of a run)."""
        if self._measured is None:
            self.prepare(None, DEFAULT_MAX_RECORDS)
        self.ledger = self._measured
        self._before = _outside(self.mock)

    def stop(self) -> None:
        """The measured phase ended: add what the mock answered outside any task meanwhile."""
        self.ledger = None
        before, after = self._before, _outside(self.mock)
        if before is None:
            return
        total = self._outside
        total["calls"] += after["calls"] - before["calls"]
        total["socket"] += after["socket"] - before["socket"]
        for model, (tin, tout) in after["tokens"].items():
            was = before["tokens"].get(model, (0, 0))
            row = total["tokens"].setdefault(model, [0, 0])
            row[0] += tin - was[0]
            row[1] += tout - was[1]
        for how, n in after["tokenizers"].items():
            grown = n - before["tokenizers"].get(how, 0)
            if grown:
                total["tokenizers"][how] = total["tokenizers"].get(how, 0) + grown

    def result(self, tasks: int) -> LLMSpend | None:
        """The figures of the measured tasks (``None`` when nothing was measured)."""
        ledger = self._measured
        if ledger is None or tasks <= 0:
            return None
        outside = self._outside
        extra_in = sum(row[0] for row in outside["tokens"].values())
        extra_out = sum(row[1] for row in outside["tokens"].values())
        extra_cost, unpriced = self._outside_cost()
        partial = outside["calls"] > 0
        figures = {
            name: _distribution(ledger.column(name), total, tasks, partial)
            for name, total in (
                ("calls", ledger.totals[0] + outside["calls"]),
                ("tokens_in", ledger.totals[1] + extra_in),
                ("tokens_out", ledger.totals[2] + extra_out),
                ("tokens", ledger.totals[1] + ledger.totals[2] + extra_in + extra_out),
                ("tool_rounds", ledger.totals[3]),
                ("retries", ledger.totals[4]),
            )
        }
        unpriced |= ledger.unpriced
        cost = None
        if self.prices is not None and not unpriced:
            spent = ledger.totals[5] + extra_cost
            cost = _distribution(ledger.column("cost"), spent, tasks, partial)
        decode = ledger.decode_time
        return LLMSpend(
            tasks=tasks,
            **figures,
            cost=cost,
            currency=self.prices.currency if self.prices is not None else "",
            unpriced=tuple(sorted(unpriced)),
            unattributed_calls=outside["calls"],
            unattributed_socket_calls=outside["socket"],
            tokenizers=dict(outside["tokenizers"]),
            streams=ledger.streams,
            itl=summarize(ledger.itls) if ledger.streams else None,
            output_tokens_per_s=ledger.decode_tokens / decode if decode > 0 else None,
        )

    def _outside_cost(self) -> tuple[float, set[str]]:
        cost, unpriced = 0.0, set[str]()
        if self.prices is None:
            return cost, unpriced
        for model, (tin, tout) in self._outside["tokens"].items():
            priced = self.prices.cost(model, tin, tout)
            if priced is None:
                unpriced.add(model)
            else:
                cost += priced
        return cost, unpriced


def _outside(mock: MockStatsSource) -> dict[str, Any]:
    """The mock's counters of calls outside any task, and of how every call's prompt tokens
    were counted (``tokenizers``: all calls, in a task or not)."""
    stats = mock.stats()
    tokens: Mapping[str, tuple[int, int]] = getattr(stats, "unattributed_tokens", {}) or {}
    tokenizers: Mapping[str, int] = getattr(stats, "tokenizers", {}) or {}
    return {
        "calls": int(getattr(stats, "unattributed_calls", 0) or 0),
        "socket": int(getattr(stats, "unattributed_socket_calls", 0) or 0),
        "tokens": dict(tokens),
        "tokenizers": dict(tokenizers),
    }


def _distribution(values: list[float], total: float, tasks: int, partial: bool) -> Distribution:
    if partial or not values:
        return Distribution(total=total, mean=total / tasks)
    ordered = sorted(values)
    return Distribution(
        total=total,
        mean=total / tasks,
        p50=percentile(ordered, 0.5),
        p95=percentile(ordered, 0.95),
        max=ordered[-1],
    )


def merge_spend(spends: Sequence[LLMSpend | None]) -> LLMSpend | None:
    """The spend of one workload run in several processes: totals, means and maxima merge
    exactly; p50 and p95 cannot be merged from summaries and are left out (``None``), as
    is everything when a process measured no spend."""
    if not spends or any(s is None for s in spends):
        return None
    parts = [s for s in spends if s is not None]
    if len(parts) == 1:
        return parts[0]
    tasks = sum(s.tasks for s in parts)

    def merged(figures: Sequence[Distribution | None]) -> Distribution | None:
        if any(f is None for f in figures):
            return None
        known = [f for f in figures if f is not None]
        total = math.fsum(f.total for f in known)
        tops = [f.max for f in known]
        top = None if any(t is None for t in tops) else max(t for t in tops if t is not None)
        return Distribution(total=total, mean=total / tasks if tasks else math.nan, max=top)

    first = parts[0]
    figures = {
        name: merged([getattr(s, name) for s in parts])
        for name in ("calls", "tokens_in", "tokens_out", "tokens", "tool_rounds", "retries")
    }
    decoded = [s for s in parts if s.output_tokens_per_s]
    return dataclasses.replace(
        first,
        tasks=tasks,
        **figures,  # type: ignore[arg-type]
        cost=merged([s.cost for s in parts]),
        unpriced=tuple(sorted({m for s in parts for m in s.unpriced})),
        unattributed_calls=sum(s.unattributed_calls for s in parts),
        unattributed_socket_calls=sum(s.unattributed_socket_calls for s in parts),
        tokenizers=_added([s.tokenizers for s in parts]),
        streams=sum(s.streams for s in parts),
        itl=None,  # percentiles of separate processes do not merge
        output_tokens_per_s=_by_streams(decoded),
    )


def _by_streams(parts: Sequence[LLMSpend]) -> float | None:
    """The processes' output rates, weighted by their streams (an estimate)."""
    streams = sum(s.streams for s in parts)
    if not streams:
        return None
    return sum((s.output_tokens_per_s or 0.0) * s.streams for s in parts) / streams


def _added(tables: Sequence[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for table in tables:
        for key, value in table.items():
            out[key] = out.get(key, 0) + value
    return out
