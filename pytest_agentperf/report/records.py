"""What the plugin keeps for each performance test, and for the session.

:class:`TestRecord` travels from an xdist worker to the controller as a plain dict
(``to_dict``/``from_dict``) and becomes one entry of the JSON document's ``tests``; in
between it holds objects (budget checks, results, baseline comparisons), serialised only at
that edge. :class:`SessionRecords` holds the records of a session by node id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_agentperf.metrics import METRICS
from pytest_agentperf.result import PerfResult
from pytest_agentperf.verdict.baseline import Comparison
from pytest_agentperf.verdict.budgets import BudgetCheck

__all__ = [
    "OUTCOMES",
    "Outcome",
    "SessionRecords",
    "TestRecord",
    "junit_properties",
]

Outcome = Literal["passed", "failed", "budget-failed", "regressed", "xfailed", "error", "skipped"]
#: ``xfailed``: a test marked ``xfail`` that failed (its body, a budget or the baseline).
OUTCOMES: tuple[Outcome, ...] = (
    "passed",
    "failed",
    "budget-failed",
    "regressed",
    "xfailed",
    "error",
    "skipped",
)


@dataclass(frozen=True)
class TestRecord:
    """One performance test: its outcome, budget checks, results and baseline comparisons.

    ``compared`` says a baseline comparison was asked for; ``comparisons`` holds one per
    result that had a baseline run to compare with (``comparison_note`` says why there
    was none, e.g. "not in the baseline").
    """

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: Outcome
    checks: tuple[BudgetCheck, ...] = ()
    results: tuple[PerfResult, ...] = ()
    comparisons: tuple[Comparison, ...] = ()
    compared: bool = False
    comparison_note: str = ""
    warnings: tuple[str, ...] = ()
    message: str = ""  # why it failed, in one line (for summaries)
    duration: float = 0.0  # the test call, seconds
    figures: Mapping[str, Any] = field(default_factory=dict)  # from agent_perf.note()

    @property
    def all_warnings(self) -> tuple[str, ...]:
        """Self-check warnings of the results, then the plugin's own."""
        found = [w for r in self.results for w in r.warnings]
        return tuple(dict.fromkeys([*found, *self.warnings]))

    @property
    def primary_comparison(self) -> Comparison | None:
        """The first regressed comparison, else the last one (what summaries show)."""
        regressed = [c for c in self.comparisons if c.regressed]
        candidates = regressed or list(self.comparisons[-1:])
        return candidates[0] if candidates else None

    def comparison_dict(self) -> dict[str, Any] | None:
        """The document's ``comparison``: the primary comparison plus ``all`` of them."""
        if not self.compared:
            return None
        primary = self.primary_comparison
        if primary is None:
            note = self.comparison_note or "not in the baseline"
            return {"regressed": False, "rows": [], "name": "", "note": note}
        return {**primary.to_dict(), "all": [c.to_dict() for c in self.comparisons]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "budgets": [c.to_dict() for c in self.checks],
            "results": [r.to_dict() for r in self.results],
            "comparison": self.comparison_dict(),
            "warnings": list(self.warnings),
            "message": self.message,
            "duration": self.duration,
            "figures": dict(self.figures),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestRecord:
        raw = data.get("comparison")
        comparisons, note = _comparisons_of(raw)
        return cls(
            nodeid=data["nodeid"],
            outcome=data["outcome"],
            checks=tuple(BudgetCheck.from_dict(c) for c in data.get("budgets", ())),
            results=tuple(PerfResult.from_dict(r) for r in data.get("results", ())),
            comparisons=comparisons,
            compared=raw is not None,
            comparison_note=note,
            warnings=tuple(data.get("warnings", ())),
            message=data.get("message", ""),
            duration=float(data.get("duration", 0.0)),
            figures=dict(data.get("figures") or {}),
        )


def _comparisons_of(raw: Any) -> tuple[tuple[Comparison, ...], str]:
    """The comparisons (and the note) of a document's ``comparison`` entry."""
    if not isinstance(raw, Mapping):
        return (), ""
    note = str(raw.get("note") or "")
    items = raw.get("all")
    if items is None:
        items = [raw] if raw.get("rows") else []
    return tuple(Comparison.from_dict(dict(i)) for i in items if isinstance(i, Mapping)), note


@dataclass
class SessionRecords:
    """The records of a session, by node id (a rerun replaces, nothing is counted twice)."""

    by_nodeid: dict[str, TestRecord] = field(default_factory=dict)

    def add(self, record: TestRecord) -> None:
        self.by_nodeid[record.nodeid] = record

    def __len__(self) -> int:
        return len(self.by_nodeid)

    def ordered(self) -> list[TestRecord]:
        return sorted(self.by_nodeid.values(), key=lambda r: r.nodeid)


def junit_properties(record: TestRecord) -> list[tuple[str, object]]:
    """JUnit XML properties: ``agentperf.outcome`` and every measured metric (SI units).

    With one result the names are ``agentperf.<metric>``; with several, each name ends in
    ``[<result name>]``.
    """
    props: list[tuple[str, object]] = [("agentperf.outcome", record.outcome)]
    many = len(record.results) > 1
    for result in record.results:
        suffix = f"[{result.name}]" if many else ""
        for metric in METRICS.values():
            value = metric.value(result)
            if value is not None and value not in (float("inf"), float("-inf")):
                props.append((f"agentperf.{metric.name}{suffix}", value))
    return props
