"""What the machine was doing during two runs, and whether the second was materially busier.

Every result records what the machine was doing while it ran (its
:class:`~pytest_agentperf.result.SelfCheck`): how long the event loop's thread waited for
a CPU that other processes had (run-queue wait, Linux), the share of the machine's CPU
time the hypervisor gave to other guests (steal, Linux VMs), the other processes' CPU and
the loop lag. A baseline comparison contrasts the two runs' machines: when the current one
was **materially busier**, a wall-clock regression (latency, throughput, efficiency) that
the agent's own CPU per task does not show is inconclusive, not a failure (see
:mod:`pytest_agentperf.verdict.baseline` and ``docs/baselines.md``).

The current machine was materially busier than the baseline's when any of these grew:

- the loop's run-queue wait, by ``RUN_QUEUE_WAIT`` (5 points of the run) or more: every
  moment the thread waits, every timer and every response in flight waits too;
- steal, by ``STEAL`` (5 points of the machine's CPU time) or more: the guest's CPUs did
  not run at all, which no figure inside the guest can see except as slowness;
- only when run-queue wait is unknown for either run (not Linux, an older file): the
  other processes' CPU, by ``OTHER_SHARE`` (a quarter of the machine's CPUs) or more.

On a materially busier machine, the agent's CPU per task confirms a regression only when
it rose by at least ``CPU_ALLOWANCE`` (25%) as well as by the rule's limit: CPU per task
counts the time the process ran, not the time it waited, but contention still moves it.
Measured on a 2-vCPU guest under two spinning processes (run-queue wait 41-64%), with
unchanged code, the agent's CPU per task moved by -14%..+22%: six times as many
generation-0 collections, and colder caches after every preemption.

Loop lag is shown but decides nothing: a blocking call in the agent raises it as surely as
a busy machine does, so it cannot tell the two apart; run-queue wait can.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pytest_agentperf.result import PerfResult
from pytest_agentperf.units import format_duration

__all__ = [
    "CPU_ALLOWANCE",
    "OTHER_SHARE",
    "RUN_QUEUE_WAIT",
    "STEAL",
    "MachineContrast",
    "MachineState",
    "busier_reasons",
    "contrast",
]

#: Run-queue wait grown by this share of the run (absolute: 0.01 -> 0.06) or more: busier.
RUN_QUEUE_WAIT = 0.05
#: Steal grown by this share of the machine's CPU time or more: busier.
STEAL = 0.05
#: Without run-queue figures: other processes' CPU grown by this share of the machine's CPUs.
OTHER_SHARE = 0.25
#: On a busier machine, the agent's CPU per task must rise at least this much to confirm.
CPU_ALLOWANCE = 0.25


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


@dataclass(frozen=True, slots=True)
class MachineState:
    """What the machine was doing during one run (``None``: not recorded)."""

    run_queue_wait: float | None = None  # share of the run the loop's thread waited for a CPU
    steal: float | None = None  # share of the machine's CPU time stolen by the hypervisor
    other_cpu: float | None = None  # other processes' CPU, in cores
    cpus: int | None = None
    loop_lag_p99: float | None = None  # seconds

    @classmethod
    def of(cls, result: PerfResult) -> MachineState:
        check = result.selfcheck
        return cls(check.run_queue_wait, check.steal, check.other_cpu, check.cpus,
                   check.loop_lag_p99)  # fmt: skip

    @property
    def other_share(self) -> float | None:
        """Other processes' CPU as a share of the machine's CPUs."""
        if self.other_cpu is None or not self.cpus:
            return None
        return self.other_cpu / self.cpus

    def describe(self) -> str:
        """``run-queue wait 31%, other processes 1.8 of 2 CPUs, steal 0%, loop lag p99 9.0ms``."""
        parts = [f"run-queue wait {_share(self.run_queue_wait)}"]
        if self.other_cpu is not None:
            of = f" of {self.cpus}" if self.cpus else ""
            parts.append(f"other processes {self.other_cpu:.1f}{of} CPUs")
        if self.steal is not None:
            parts.append(f"steal {_share(self.steal)}")
        if self.loop_lag_p99 is not None and not math.isnan(self.loop_lag_p99):
            parts.append(f"loop lag p99 {format_duration(self.loop_lag_p99)}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MachineState:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, slots=True)
class MachineContrast:
    """The two runs' machines, and why the current one was materially busier (if it was)."""

    baseline: MachineState
    current: MachineState
    reasons: tuple[str, ...] = ()  # empty: not materially busier

    @property
    def busier(self) -> bool:
        return bool(self.reasons)

    def describe(self) -> str:
        """Both machines' figures, then the verdict on them, on three lines."""
        verdict = (
            "materially busier: " + "; ".join(self.reasons)
            if self.busier
            else "not materially busier"
        )
        return (
            f"machine, baseline: {self.baseline.describe()}\n"
            f"machine, current:  {self.current.describe()}\n"
            f"the current run's machine was {verdict}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.to_dict(),
            "current": self.current.to_dict(),
            "busier": self.busier,
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MachineContrast:
        return cls(
            MachineState.from_dict(dict(data.get("baseline") or {})),
            MachineState.from_dict(dict(data.get("current") or {})),
            tuple(str(r) for r in data.get("reasons") or ()),
        )


def _grew(label: str, base: float | None, cur: float | None, limit: float) -> str | None:
    if base is None or cur is None or cur - base < limit:
        return None
    return f"{label} {base:.0%} -> {cur:.0%} (+{(cur - base) * 100:.0f} points >= {limit:.0%})"


def busier_reasons(base: MachineState, cur: MachineState) -> tuple[str, ...]:
    """Why ``cur`` was materially busier than ``base`` (empty: it was not); see the module."""
    reasons = [
        _grew("run-queue wait", base.run_queue_wait, cur.run_queue_wait, RUN_QUEUE_WAIT),
        _grew("steal", base.steal, cur.steal, STEAL),
    ]
    if base.run_queue_wait is None or cur.run_queue_wait is None:
        label = "other processes' share of the CPUs"
        reasons.append(_grew(label, base.other_share, cur.other_share, OTHER_SHARE))
    return tuple(r for r in reasons if r)


def contrast(baseline: PerfResult, current: PerfResult) -> MachineContrast:
    """The machines of ``baseline`` and ``current``, and whether the current was busier."""
    base, cur = MachineState.of(baseline), MachineState.of(current)
    return MachineContrast(base, cur, busier_reasons(base, cur))
