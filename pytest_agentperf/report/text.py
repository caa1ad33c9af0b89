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
    "PAIRED_HEADERS",
    "comparison_cells",
    "comparison_headers",
    "format_change",
    "format_confidence",
    "format_range",
    "inconclusive_warning",
    "render_budget_failure",
    "render_checks",
    "render_comparison",
    "render_comparison_table",
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

COMPARISON_HEADERS = [
    "metric", "baseline", "current", "change", "95% interval", "fail at", "confidence", "verdict"
]  # fmt: skip
#: A paired A/B comparison: medians over the rounds, the spread of the rounds' changes.
PAIRED_HEADERS = [
    "metric", "base", "head", "change", "95% interval", "rounds", "fail at", "confidence",
    "verdict",
]  # fmt: skip
_HINT = (
    "Decide it on the same machine state: a paired A/B run in one job "
    "(agentperf ab --base REV), or compare again on a quieter runner."
)


def _signed(row: ComparisonRow, value: float, *, percent: bool = True) -> str:
    if row.relative:
        if math.isinf(value):
            return "+inf" if value > 0 else "-inf"
        return f"{value * 100:+.1f}" + ("%" if percent else "")
    return f"{'-' if value < 0 else '+'}{format_value(row.metric, abs(value))}"


def format_change(row: ComparisonRow) -> str:
    """``+12.5%`` for a relative rule, ``+20.0ms`` for an absolute one, ``-`` if unknown."""
    return "-" if row.change is None else _signed(row, row.change)


def format_range(row: ComparisonRow, pair: tuple[float, float] | None) -> str:
    """An interval in the row's terms: ``+4.1..+18.0%``, ``+2.0ms..+9.5ms``, or ``-``."""
    if pair is None:
        return "-"
    low, high = pair
    return f"{_signed(row, low, percent=False)}..{_signed(row, high)}"


def format_confidence(confidence: float | None) -> str:
    """``>99.9%``, ``97.3%`` or ``-``."""
    if confidence is None:
        return "-"
    if confidence > 0.999:
        return ">99.9%"
    return f"{confidence * 100:.1f}%"


def comparison_headers(comparison: Comparison) -> list[str]:
    """The table's header: a saved-baseline comparison's, or a paired A/B one's."""
    return PAIRED_HEADERS if comparison.rounds else COMPARISON_HEADERS


def comparison_cells(row: ComparisonRow, *, paired: bool = False) -> list[str]:
    """A row as cells, in the order of :func:`comparison_headers`."""
    cells = [
        row.metric,
        format_value(row.metric, row.baseline),
        format_value(row.metric, row.current),
        format_change(row),
        format_range(row, row.interval),
        "exact" if row.test.startswith("exact") else format_confidence(row.confidence),
        row.verdict.upper() if row.verdict in ("regressed", "inconclusive") else row.verdict,
    ]
    cells.insert(5, row.limit)
    if paired:
        cells.insert(5, format_range(row, row.spread))
    return cells


def _called(row: ComparisonRow) -> str:
    """One metric for a headline: its change, its limit and how sure the test is."""
    if row.test.startswith("exact"):
        old, new = format_value(row.metric, row.baseline), format_value(row.metric, row.current)
        return f"{row.metric} {old} -> {new} ({format_change(row)}, beyond {row.limit}, exact)"
    return (
        f"{row.metric} {format_change(row)} beyond {row.limit}, "
        f"{format_confidence(row.confidence)} confidence"
    )


def _headline(comparison: Comparison) -> str:
    what = f" ({comparison.name})" if comparison.name else ""
    against = "the base revision" if comparison.rounds else "the baseline"
    bad = [r for r in comparison.rows if r.verdict == "regressed"]
    if bad:
        parts = [_called(r) for r in bad]
        confirmed = (
            " (confirmed by CPU per task on a busier machine)" if any(r.note for r in bad) else ""
        )
        return f"REGRESSED against {against}{what}: " + "; ".join(parts) + confirmed + "."
    unsure = [r for r in comparison.rows if r.verdict == "inconclusive"]
    if unsure:
        parts = [_called(r) for r in unsure]
        return (
            f"INCONCLUSIVE against {against}{what}: " + "; ".join(parts) + ", but this run's "
            "machine was materially busier and CPU per task does not confirm it."
        )
    return f"No regression against {against}{what}."


def inconclusive_warning(comparison: Comparison) -> str:
    """One line for a summary: what was left undecided, and why."""
    reasons = comparison.machine.reasons if comparison.machine is not None else ()
    why = f" ({'; '.join(reasons)})" if reasons else ""
    return _headline(comparison).replace(" busier and", f" busier{why} and", 1)


def render_comparison_table(comparison: Comparison) -> str:
    """The table of every metric, then (on a busier machine) both machines and the notes."""
    rows = [comparison_cells(row, paired=bool(comparison.rounds)) for row in comparison.rows]
    lines = [table(comparison_headers(comparison), rows, align="numbers")]
    machine = comparison.machine
    if machine is not None and machine.busier:
        lines += [f"  {line}" for line in machine.describe().splitlines()]
        lines += [f"  {r.metric}: {r.note}." for r in comparison.rows if r.note]
    return "\n".join(lines)


def render_comparison(comparison: Comparison) -> str:
    """What regressed (or that nothing did), the table of every metric, and the machines."""
    alpha = comparison.alpha
    lines = [
        _headline(comparison),
        render_comparison_table(comparison),
        f"A metric regresses when its change is beyond the limit AND significant at "
        f"{alpha:g} (confidence >= {format_confidence(1 - alpha)}).",
    ]
    if any(r.test.startswith("exact") for r in comparison.rows):
        lines[-1] += (
            " Exact figures (LLM calls, tokens, cost per task) need no test: any change "
            "beyond the limit counts."
        )
    if comparison.rounds:
        lines.append(
            f"Paired over {comparison.rounds} rounds, base and head alternating: the change is "
            "the median of the paired changes (Hodges-Lehmann), tested by Wilcoxon's "
            "signed-rank test; 'rounds' is the smallest and largest change of a round."
        )
    if comparison.inconclusive:
        lines.append(_HINT)
    return "\n".join(lines)
