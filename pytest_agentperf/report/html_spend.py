"""The HTML report's LLM spend: per-task distributions of a run, and cost against a sweep.

Kept apart from ``html.py`` so that each part of the report stays one small module;
``html.py`` places these fragments (``spend_table`` in each run, ``sweep_spend`` in each
test whose results are the steps of a sweep).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from pytest_agentperf.metrics import MONEY, lookup
from pytest_agentperf.report.svg import Series, line_chart
from pytest_agentperf.result import Distribution, PerfResult
from pytest_agentperf.units import format_count, format_duration, format_money

__all__ = ["money_text", "spend_table", "sweep_spend"]

_FIGURES = (
    ("calls", "LLM calls"),
    ("tokens", "tokens"),
    ("tokens_in", "input tokens"),
    ("tokens_out", "output tokens"),
    ("tool_rounds", "tool rounds"),
    ("retries", "retries"),
    ("cost", "cost"),
)
_STEP = re.compile(r"^(?P<sweep>.*)\[(?P<parameter>concurrency|rate)=(?P<value>[-+.\deE]+)\]$")


def _cells(values: Sequence[float | None], money: str | None) -> str:
    out = []
    for value in values:
        text = format_money(value, money) if money is not None else format_count(value)
        raw = "" if value is None else repr(float(value))
        out.append(f'<td data-value="{raw}">{escape(text)}</td>')
    return "".join(out)


def money_text(metric: str, value: float | None, currency: object) -> str | None:
    """A cost figure with its currency (``$0.0021``); ``None`` for other figures."""
    spec = lookup(metric)
    if spec is None or spec.unit is not MONEY or not isinstance(currency, str) or not currency:
        return None
    return format_money(value, currency)


def spend_table(result: PerfResult) -> str:
    """Per task: mean, p50, p95, max and total of each figure, and what to know about them."""
    spend = result.llm
    if spend is None:
        return ""
    rows = []
    for figure, label in _FIGURES:
        value: Distribution | None = getattr(spend, figure)
        if value is None:
            continue
        money = spend.currency if figure == "cost" else None
        cells = _cells((value.mean, value.p50, value.p95, value.max, value.total), money)
        rows.append(f'<tr data-figure="{figure}"><th scope="row">{label}</th>{cells}</tr>')
    head = "".join(f'<th scope="col">{h}</th>' for h in ("per task", "mean", "p50", "p95", "max"))
    caption = f"LLM spend per task ({spend.tasks:,} tasks)"
    table = (
        f'<table class="spend"><caption>{escape(caption)}</caption><thead><tr>{head}'
        f'<th scope="col">total</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
    notes = list(spend.notes())
    if spend.itl is not None:
        rate = spend.output_tokens_per_s
        notes.append(
            f"{spend.streams:,} streamed replies: inter-token latency p50 "
            f"{format_duration(spend.itl.p50)}, p95 {format_duration(spend.itl.p95)}"
            + (f", {rate:,.0f} output tokens/s" if rate else "")
        )
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    return table + (f'<ul class="muted">{items}</ul>' if items else "")


def sweep_spend(results: Sequence[PerfResult]) -> str:
    """For a sweep's steps: cost per task (tokens per task without prices) at each step."""
    steps = [(m, r) for r in results if (m := _STEP.match(r.name)) and r.llm is not None]
    if len(steps) < 2:
        return ""
    parameter = steps[0][0]["parameter"]
    priced = all(r.llm is not None and r.llm.cost is not None for _, r in steps)
    # cost per 1,000 tasks on the axis: readable ticks (0.037 rather than $0.000037)
    scale = 1000.0 if priced else 1.0
    points = []
    for match, result in steps:
        assert result.llm is not None
        figure = result.llm.cost if priced else result.llm.tokens
        if figure is not None:
            points.append((float(match["value"]), figure.mean * scale))
    currency = steps[0][1].llm.currency if steps[0][1].llm is not None else ""
    label = "cost per 1,000 tasks" if priced else "tokens per task"
    chart = line_chart(
        f"{label.capitalize()} against {parameter}",
        [Series(label, points)],
        x_label=parameter,
        y_label=f"{label} ({currency})" if priced else label,
        y_fmt=(lambda v: f"{v:g}") if priced else format_count,
        desc=f"{label} at each step of the sweep; a rising line means retries or longer "
        "conversations under load",
    )
    caption = f"{label.capitalize()} at each {parameter} of the sweep."
    return f'<div class="charts"><figure>{chart}<figcaption>{caption}</figcaption></figure></div>'
