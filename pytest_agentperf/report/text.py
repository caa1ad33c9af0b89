"""Plain text a person reads: aligned tables, the budget failure text, the comparison text.

Pure rendering: verdicts in (:class:`~pytest_agentperf.verdict.budgets.BudgetVerdict`,
:class:`~pytest_agentperf.verdict.baseline.Comparison`), strings out. Figures are formatted
in each metric's unit (:mod:`pytest_agentperf.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pytest_agentperf.metrics import METRICS, MONEY, format_value
from pytest_agentperf.units import format_money
from pytest_agentperf.verdict.baseline import Comparison, ComparisonRow
from pytest_agentperf.verdict.budgets import BudgetCheck, BudgetVerdict

__all__ = [
    "COMPARISON_HEADERS",
    "comparison_cells",
    "format_change",
    "format_confidence",
    "render_budget_failure",
    "render_checks",
    "render_comparison",
    "table",
]

COMPARISON_HEADERS = ["metric", "baseline", "current", "change", "fail at", "confidence", "verdict"]


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    indent: str = "  ",
    *,
    align: Literal["left", "numbers"] = "left",
) -> str:
    """Columns separated by two spaces.

    ``align="left"`` left-aligns every column; ``"numbers"`` left-aligns the first and
    right-aligns the rest (columns of figures).
    """
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        if align == "left":
            parts = [c.ljust(w) for c, w in zip(cells, widths, strict=True)]
        else:
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
            parts = [cells[0].ljust(widths[0]), *rest]
        return (indent + "  ".join(parts)).rstrip()

    return "\n".join(line(r) for r in (header, *rows))


# -- budgets ------------------------------------------------------------------------------


def _fmt(metric: str, value: float | None, currency: str = "") -> str:
    if currency and metric in METRICS and METRICS[metric].unit is MONEY:
        return format_money(value, currency)
    return format_value(metric, value) if metric in METRICS else str(value)


def _by(c: BudgetCheck) -> str:
    if c.measured is None:
        return c.note
    if c.ok:
        return "ok" + (f" ({c.note})" if c.note else "")
    diff = c.measured - c.limit
    sign = "+" if diff >= 0 else "-"
    text = f"{sign}{_fmt(c.metric, abs(diff), c.currency)}"
    if c.margin is not None:
        text += f" ({c.margin:+.1%})"
    return text + (" over" if c.op in ("<=", "<") else " under")


def _check_row(c: BudgetCheck, with_result: bool) -> list[str]:
    limit, measured = _fmt(c.metric, c.limit, c.currency), _fmt(c.metric, c.measured, c.currency)
    row = [c.metric, f"{c.op} {limit}", measured, _by(c)]
    return [c.result or "-", *row] if with_result else row


def _short(c: BudgetCheck) -> str:
    if c.measured is None:
        return c.note or "not measured"
    measured, limit = _fmt(c.metric, c.measured, c.currency), _fmt(c.metric, c.limit, c.currency)
    return f"{measured} (limit {c.op} {limit})"


def render_checks(checks: Sequence[BudgetCheck]) -> str:
    """A headline naming the misses, then the table of every check."""
    missed = [c for c in checks if not c.ok]
    with_result = len({c.result for c in checks}) > 1
    heads = ", ".join(f"{c.metric} {_short(c)}" for c in missed)
    header = ["metric", "limit", "measured", "by"]
    if with_result:
        header = ["result", *header]
    rows = [_check_row(c, with_result) for c in checks]
    return f"agentperf budget missed: {heads}\n{table(header, rows)}"


def render_budget_failure(verdict: BudgetVerdict) -> str:
    """The failure text of a test that missed its budgets (empty when it passed)."""
    if verdict.outcome == "passed":
        return ""
    if verdict.problem:
        return verdict.problem
    return "\n\n".join([render_checks(verdict.checks), *verdict.memory])


# -- baseline comparisons -----------------------------------------------------------------


def format_change(row: ComparisonRow) -> str:
    """``+12.5%`` for a relative rule, ``+20.0ms`` for an absolute one, ``-`` if unknown."""
    if row.change is None:
        return "-"
    if row.relative:
        return "+inf%" if math.isinf(row.change) else f"{row.change * 100:+.1f}%"
    text = format_value(row.metric, abs(row.change))
    return f"{'-' if row.change < 0 else '+'}{text}"


def format_confidence(confidence: float | None) -> str:
    """``>99.9%``, ``97.3%`` or ``-``."""
    if confidence is None:
        return "-"
    if confidence > 0.999:
        return ">99.9%"
    return f"{confidence * 100:.1f}%"


def comparison_cells(row: ComparisonRow) -> list[str]:
    """A row as cells: metric, baseline, current, change, limit, confidence, verdict."""
    return [
        row.metric,
        format_value(row.metric, row.baseline),
        format_value(row.metric, row.current),
        format_change(row),
        row.limit,
        "exact" if row.test.startswith("exact") else format_confidence(row.confidence),
        row.verdict.upper() if row.verdict == "regressed" else row.verdict,
    ]


def render_comparison(comparison: Comparison) -> str:
    """What regressed (or that nothing did), then the table of every metric."""
    what = f" ({comparison.name})" if comparison.name else ""
    bad = [r for r in comparison.rows if r.verdict == "regressed"]
    if bad:
        parts = [_regression(r) for r in bad]
        head = f"REGRESSED against the baseline{what}: " + "; ".join(parts) + "."
    else:
        head = f"No regression against the baseline{what}."
    alpha = comparison.alpha
    note = (
        f"A metric regresses when its change is beyond the limit AND significant at "
        f"{alpha:g} (confidence >= {format_confidence(1 - alpha)})."
    )
    if any(r.test.startswith("exact") for r in comparison.rows):
        note += (
            " Exact figures (LLM calls, tokens, cost per task) need no test: any change "
            "beyond the limit counts."
        )
    rows = [comparison_cells(row) for row in comparison.rows]
    return f"{head}\n{table(COMPARISON_HEADERS, rows, align='numbers')}\n{note}"


def _regression(row: ComparisonRow) -> str:
    """One regressed metric for the failure's first line."""
    if row.test.startswith("exact"):
        old, new = format_value(row.metric, row.baseline), format_value(row.metric, row.current)
        return f"{row.metric} {old} -> {new} ({format_change(row)}, beyond {row.limit}, exact)"
    return (
        f"{row.metric} {format_change(row)} beyond {row.limit}, "
        f"{format_confidence(row.confidence)} confidence"
    )
