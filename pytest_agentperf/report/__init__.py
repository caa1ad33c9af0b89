"""Reports of a performance session: the per-test record and its renderings.

:class:`TestRecord` is what the plugin keeps for each performance test. It travels from an
xdist worker to the controller as a plain dict (``to_dict``/``from_dict``), and becomes one
entry of the JSON document's ``tests``. The renderers (``terminal``, ``json``, ``html``) take
records or the document and return text or data; they never touch pytest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pytest_agentperf.budgets import METRICS, BudgetCheck
from pytest_agentperf.result import PerfResult

if TYPE_CHECKING:
    from pytest_agentperf.baseline_store import BaselineStore

__all__ = [
    "OUTCOMES",
    "Outcome",
    "Records",
    "TestRecord",
    "baseline_store",
    "compare_test",
    "junit_properties",
    "load_baseline",
]

Outcome = Literal["passed", "failed", "budget-failed", "regressed", "error", "skipped"]
OUTCOMES: tuple[Outcome, ...] = (
    "passed",
    "failed",
    "budget-failed",
    "regressed",
    "error",
    "skipped",
)


@dataclass(frozen=True)
class TestRecord:
    """One performance test: its outcome, budget checks, results and baseline comparison."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: Outcome
    checks: tuple[BudgetCheck, ...] = ()
    results: tuple[PerfResult, ...] = ()
    comparison: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    message: str = ""  # why it failed, in one line (for summaries)
    duration: float = 0.0  # the test call, seconds
    figures: Mapping[str, Any] = field(default_factory=dict)  # from agent_perf.note()

    @property
    def all_warnings(self) -> tuple[str, ...]:
        """Self-check warnings of the results, then the plugin's own."""
        found = [w for r in self.results for w in r.warnings]
        return tuple(dict.fromkeys([*found, *self.warnings]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "budgets": [c.to_dict() for c in self.checks],
            "results": [r.to_dict() for r in self.results],
            "comparison": dict(self.comparison) if self.comparison is not None else None,
            "warnings": list(self.warnings),
            "message": self.message,
            "duration": self.duration,
            "figures": dict(self.figures),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestRecord:
        return cls(
            nodeid=data["nodeid"],
            outcome=data["outcome"],
            checks=tuple(BudgetCheck.from_dict(c) for c in data.get("budgets", ())),
            results=tuple(PerfResult.from_dict(r) for r in data.get("results", ())),
            comparison=data.get("comparison"),
            warnings=tuple(data.get("warnings", ())),
            message=data.get("message", ""),
            duration=float(data.get("duration", 0.0)),
            figures=dict(data.get("figures") or {}),
        )


@dataclass
class Records:
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
            value = metric.measure(result)
            if value is not None and math.isfinite(value):
                props.append((f"agentperf.{metric.name}{suffix}", value))
    return props


# -- baselines (--agentperf-save / --agentperf-compare) -------------------------------------


def baseline_store(root: Path) -> BaselineStore:
    """The baseline store of the project at ``root`` (``<root>/.agentperf/baselines``)."""
    from pytest_agentperf.baseline_store import DEFAULT_ROOT, BaselineStore

    return BaselineStore(root / DEFAULT_ROOT)


def load_baseline(root: Path, name: str | None) -> dict[str, Any]:
    """The results document saved as ``name`` (``"latest"``: the latest saved)."""
    return baseline_store(root).load(None if name in (None, "latest") else name)


def compare_test(
    baseline: dict[str, Any],
    nodeid: str,
    results: Sequence[PerfResult],
    fail_expr: str | None,
) -> tuple[dict[str, Any] | None, str]:
    """Compare one test's results with ``baseline``: (the comparison, the failure text).

    The comparison is ``Comparison.to_dict()`` of the first regressed result (else the last
    compared) plus ``"all"``: every result's comparison. The text is empty unless regressed.
    """
    from pytest_agentperf.baseline import compare_documents, parse_fail_expr

    rules = parse_fail_expr(fail_expr, "--agentperf-compare-fail") if fail_expr else None
    current = {"tests": [{"nodeid": nodeid, "results": [r.to_dict() for r in results]}]}
    found = compare_documents(baseline, current, rules)
    compared = [rc.comparison for rc in found if rc.comparison is not None]
    if not compared:
        note = found[0].note if found else "not in the baseline"
        return {"regressed": False, "rows": [], "name": "", "note": note}, ""
    regressed = [c for c in compared if c.regressed]
    primary = (regressed or compared[-1:])[0]
    data = {**primary.to_dict(), "all": [c.to_dict() for c in compared]}
    return data, "\n\n".join(c.render() for c in regressed)
