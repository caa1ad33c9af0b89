"""The single-file HTML report: ``render_html(document) -> str``.

The input is the JSON results document (what ``--agentperf-json`` writes). The output is
one self-contained HTML file -- inline CSS and inline SVG charts, no script, no network --
with, per test: a summary of each run, throughput over time, latency percentiles over
time, the latency distribution, memory over the run, the budgets and their verdicts, and
the comparison with the baseline when there is one.

Every figure in the summary and budget tables carries its raw value in a ``data-value``
attribute (seconds, tasks/s, bytes, fractions), so tools and tests can read the numbers
back without parsing formatted text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from pytest_agentperf.files import write_atomic
from pytest_agentperf.metrics import format_value
from pytest_agentperf.report.html_spend import money_text, spend_table, sweep_spend
from pytest_agentperf.report.svg import Series, histogram, line_chart
from pytest_agentperf.report.text import comparison_cells, comparison_headers
from pytest_agentperf.result import PerfResult, WindowStats
from pytest_agentperf.units import format_bytes, format_duration, format_rate
from pytest_agentperf.verdict.baseline import Comparison, ComparisonRow

__all__ = ["render_html", "write_html"]

_CSS = """
:root { --fg:#1f2937; --muted:#6b7280; --line:#e5e7eb; --ok:#047857; --bad:#b91c1c;
        --warn:#b45309; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       margin: 0 auto; max-width: 1200px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 32px 0 8px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.muted, caption, figcaption { color: var(--muted); }
table { border-collapse: collapse; margin: 8px 0 12px; }
caption { text-align: left; font-size: 12px; padding-bottom: 2px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { font-weight: 600; background: #f9fafb; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px;
         color: #fff; background: var(--muted); vertical-align: middle; }
.badge.passed, .verdict.ok, .verdict.improved { background: var(--ok); }
.badge.failed, .badge.budget-failed, .badge.regressed, .badge.error,
.verdict.regressed, .verdict.miss { background: var(--bad); }
.badge.xfailed, .verdict.inconclusive { background: var(--warn); }
.verdict { color: #fff; border-radius: 4px; padding: 0 6px; background: var(--muted); }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
figcaption { font-size: 12px; padding: 0 4px; }
svg.chart { max-width: 100%; height: auto; font: 11px system-ui, sans-serif; }
svg .grid { stroke: var(--line); } svg .axis, svg .tickmark { stroke: #9ca3af; }
svg .tick, svg .note { fill: var(--muted); } svg .label { fill: var(--fg); }
svg .bar { fill: #60a5fa; } svg .bar:hover, svg circle:hover { fill: #1d4ed8; }
section.test { border-top: 2px solid var(--line); }
.warnings { color: var(--warn); }
"""

#: Figures of the summary that are not metrics, and the metric whose unit they share.
_LIKE = {
    "offered_rate": "throughput",
    "duration": "mean_latency",
    "per_task_bytes": "memory_per_task",
}


def format_metric(metric: str, value: float | None) -> str:
    """A figure in the unit a person expects: its metric's unit (see ``metrics``)."""
    return format_value(_LIKE.get(metric, metric), value)


def _td(text: str, value: float | None, metric: str = "") -> str:
    """A table cell showing ``text`` with the raw ``value`` in ``data-value``."""
    raw = "" if value is None else repr(float(value))
    attr = f' data-metric="{escape(metric)}"' if metric else ""
    return f'<td{attr} data-value="{raw}">{escape(text)}</td>'


def _cell(metric: str, value: float | None) -> str:
    return _td(format_metric(metric, value), value, metric)


def _table(caption: str, headers: Sequence[str], rows: Sequence[str], cls: str) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    return (
        f'<table class="{cls}"><caption>{escape(caption)}</caption><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


# ------------------------------------------------------------------------ sections


def _summary(result: PerfResult) -> str:
    lat = result.latency
    figures: list[tuple[str, str, float | None]] = [
        ("completed", "completed tasks", float(result.completed)),
        ("failed", "failed tasks", float(result.failed)),
        ("throughput", "throughput", result.throughput),
        ("offered_rate", "offered rate", result.offered_rate),
        ("p50", "latency p50", lat.p50),
        ("p90", "latency p90", lat.p90),
        ("p95", "latency p95", lat.p95),
        ("p99", "latency p99", lat.p99),
        ("max", "latency max", lat.max),
        ("error_rate", "error rate", result.error_rate),
        ("efficiency", "efficiency", result.efficiency),
        ("cpu_per_task", "CPU per task", result.cpu_per_task),
        ("harness_cpu_per_task", "harness CPU per task", result.harness_cpu_per_task),
        ("agent_cpu_per_task", "agent CPU per task", result.agent_cpu_per_task),
        ("capacity_per_core", "capacity per core", result.capacity_per_core),
        ("duration", "measured window", result.duration),
    ]
    if result.ttft is not None:
        figures.insert(9, ("ttft_p95", "TTFT p95", result.ttft.p95))
    if result.memory is not None:
        figures.append(("memory_growth", "memory growth", result.memory.growth_bytes))
        figures.append(("per_task_bytes", "memory per task", result.memory.per_task_bytes))
    rows = []
    for metric, label, value in figures:
        if value is None:
            continue
        shown = _cell(metric, value)
        if metric in {"completed", "failed"}:
            shown = f'<td data-metric="{metric}" data-value="{value!r}">{int(value)}</td>'
        rows.append(f"<tr><th scope='row'>{escape(label)}</th>{shown}</tr>")
    return _table("Summary", ["metric", "value"], rows, "summary")


def _charts(result: PerfResult) -> str:
    figures: list[tuple[str, str]] = []
    windows = result.timeseries
    if windows:
        mids = [(w.start + w.end) / 2 for w in windows]

        def points(value: Callable[[WindowStats], float]) -> list[tuple[float, float]]:
            return [(m, value(w)) for m, w in zip(mids, windows, strict=True)]

        figures.append(
            (
                line_chart(
                    "Throughput over time",
                    [Series("throughput", points(lambda w: w.throughput))],
                    x_label="time since start (s)",
                    y_label="tasks per second",
                    y_fmt=lambda v: f"{v:g}",
                ),
                "Completed tasks per second in each window of the measured run.",
            )
        )
        figures.append(
            (
                line_chart(
                    "Latency percentiles over time",
                    [
                        Series("p50", points(lambda w: w.p50)),
                        Series("p95", points(lambda w: w.p95), dashed=True),
                    ],
                    x_label="time since start (s)",
                    y_label="latency",
                    y_fmt=format_duration,
                ),
                "p50 and p95 latency of the tasks completed in each window.",
            )
        )
        cpu = [(m, c) for m, w in zip(mids, windows, strict=True) if (c := w.cpu_per_task)]
        if cpu:
            figures.append(
                (
                    line_chart(
                        "CPU per task over time",
                        [Series("CPU per task", cpu)],
                        x_label="time since start (s)",
                        y_label="process CPU per task",
                        y_fmt=format_duration,
                    ),
                    "The process's CPU in each window divided by the tasks it finished.",
                )
            )
    if result.samples:
        figures.append(
            (
                histogram(
                    "Latency distribution",
                    result.samples,
                    x_label="latency",
                    x_fmt=format_duration,
                    markers=[("p50", result.latency.p50), ("p95", result.latency.p95)],
                ),
                f"Latencies of {len(result.samples)} sampled requests (a uniform reservoir).",
            )
        )
    memory = result.memory
    if memory is not None and memory.samples:
        series = [Series("RSS", [(float(s.tasks), s.rss / 2**20) for s in memory.samples])]
        if any(s.uss for s in memory.samples):
            uss = [(float(s.tasks), s.uss / 2**20) for s in memory.samples]
            series.append(Series("USS", uss, dashed=True))
        figures.append(
            (
                line_chart(
                    "Memory over the run",
                    series,
                    x_label="tasks completed",
                    y_label="memory (MiB)",
                    y_fmt=lambda v: f"{v:g}",
                ),
                f"Process memory between rounds; fitted growth {format_bytes(memory.growth_bytes)}"
                f" ({format_bytes(memory.per_task_bytes)} per task), "
                f"leak {'suspected' if memory.leak else 'not detected'}.",
            )
        )
    if not figures:
        return '<p class="muted">No time series or samples recorded for this run.</p>'
    body = "".join(
        f"<figure>{svg}<figcaption>{escape(cap)}</figcaption></figure>" for svg, cap in figures
    )
    return f'<div class="charts">{body}</div>'


def _budgets(budgets: Sequence[Mapping[str, Any]]) -> str:
    if not budgets:
        return ""
    rows = []
    for b in budgets:
        metric = str(b.get("metric", "?"))
        ok = b.get("ok")
        verdict = "ok" if ok else "miss"
        margin = b.get("margin")
        margin_text = "-" if margin is None else f"{margin * 100:+.1f}%"
        limit, measured, currency = b.get("limit"), b.get("measured"), b.get("currency")
        shown = money_text(metric, measured, currency) or format_metric(metric, measured)
        limit_text = money_text(metric, limit, currency) or format_metric(metric, limit)
        rows.append(
            f"<tr><td>{escape(metric)}</td>"
            + _td(f"{b.get('op', '')} {limit_text}", limit, metric)
            + _td(shown, measured, metric)
            + f"<td>{escape(margin_text)}</td><td>{escape(str(b.get('source', '')))}</td>"
            f'<td><span class="verdict {verdict}">{verdict}</span></td></tr>'
        )
    return _table(
        "Budgets", ["metric", "limit", "measured", "margin", "source", "verdict"], rows, "budgets"
    )


def _comparisons(raw: Any) -> list[Comparison]:
    if raw is None:
        return []
    if isinstance(raw, Mapping):  # the plugin adds every result's comparison under "all"
        raw = raw.get("all") or raw.get("comparisons") or raw
    items = raw if isinstance(raw, list) else [raw]
    return [Comparison.from_dict(dict(item)) for item in items if isinstance(item, Mapping)]


def _comparison_row(row: ComparisonRow, paired: bool) -> str:
    cells = comparison_cells(row, paired=paired)
    verdict = row.verdict.replace(" ", "-")
    interval = row.interval or (None, None)
    html = (
        f"<tr><td>{escape(cells[0])}</td>"
        + _td(cells[1], row.baseline)
        + _td(cells[2], row.current)
        + _td(cells[3], row.change)
        + f'<td data-low="{_raw(interval[0])}" data-high="{_raw(interval[1])}">'
        f"{escape(cells[4])}</td>"
    )
    if paired:
        html += f"<td>{escape(cells[5])}</td>"
    limit, confidence = cells[-3], cells[-2]
    note = f' title="{escape(row.note)}"' if row.note else ""
    return (
        html
        + f"<td>{escape(limit)}</td>"
        + _td(confidence, row.p_value)
        + f'<td><span class="verdict {escape(verdict)}"{note}>{escape(row.verdict)}</span>'
        "</td></tr>"
    )


def _raw(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _comparison(raw: Any) -> str:
    if isinstance(raw, Mapping) and raw.get("note") and not raw.get("rows"):
        return f'<p class="muted">Baseline comparison: {escape(str(raw["note"]))}.</p>'
    out = []
    for comp in _comparisons(raw):
        rows = [_comparison_row(row, bool(comp.rounds)) for row in comp.rows]
        title = "Comparison with the baseline" + (f" ({comp.name})" if comp.name else "")
        title += f" - regressed: {'yes' if comp.regressed else 'no'}; alpha {comp.alpha:g}"
        if comp.inconclusive:
            title += "; inconclusive: the machine was busier"
        out.append(_table(title, comparison_headers(comp), rows, "comparison"))
        if comp.machine is not None and comp.machine.busier:
            notes = [comp.machine.describe()]
            notes += [f"{r.metric}: {r.note}." for r in comp.rows if r.note]
            out.append(f'<p class="machine">{"<br>".join(escape(n) for n in notes)}</p>')
    return "".join(out)


def _result(result: PerfResult) -> str:
    mode = f"{result.mode} loop"
    if result.concurrency:
        mode += f", concurrency {result.concurrency}"
    if result.offered_rate:
        mode += f", offered {format_rate(result.offered_rate)}"
    warnings = "".join(f"<li>{escape(w)}</li>" for w in result.warnings)
    warn = (
        f'<p class="warnings">The harness&#x27;s own figures are doubtful:</p>'
        f'<ul class="warnings">{warnings}</ul>'
        if warnings
        else ""
    )
    findings = "".join(f"<li>{escape(f)}</li>" for f in result.findings)
    if findings:
        warn = f'<p>Findings:</p><ul class="findings">{findings}</ul>' + warn
    return (
        f'<div class="result" data-name="{escape(result.name)}"><h3>{escape(result.name)} '
        f'<span class="muted">({escape(mode)})</span></h3>{warn}{_summary(result)}'
        f"{spend_table(result)}{_charts(result)}</div>"
    )


def _test(index: int, test: Mapping[str, Any]) -> str:
    nodeid = str(test.get("nodeid", "?"))
    outcome = str(test.get("outcome", "?"))
    results = [PerfResult.from_dict(r) for r in test.get("results") or ()]
    message = test.get("message") or ""
    parts = [
        f'<section class="test" id="test-{index}" data-nodeid="{escape(nodeid)}" '
        f'data-outcome="{escape(outcome)}"><h2>{escape(nodeid)} '
        f'<span class="badge {escape(outcome)}">{escape(outcome)}</span></h2>',
        f'<p class="muted">{escape(str(message))}</p>' if message else "",
        _budgets(test.get("budgets") or ()),
        _figures(test.get("figures") or {}),
        _comparison(test.get("comparison")),
        sweep_spend(results),
        *(_result(r) for r in results),
        "</section>",
    ]
    return "".join(parts)


def _figures(figures: Mapping[str, Any]) -> str:
    """The figures the test noted with ``agent_perf.note()``."""
    if not figures:
        return ""
    rows = []
    for key, value in figures.items():
        name = escape(str(key))
        rows.append(f'<tr><td>{name}</td><td data-figure="{name}">{escape(str(value))}</td></tr>')
    return _table("Figures noted by the test", ["figure", "value"], rows, "figures")


def _overview(tests: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for i, test in enumerate(tests):
        results = test.get("results") or []
        last = PerfResult.from_dict(results[-1]) if results else None  # as in the terminal
        outcome = str(test.get("outcome", "?"))
        rows.append(
            f'<tr><td><a href="#test-{i}">{escape(str(test.get("nodeid", "?")))}</a></td>'
            f'<td><span class="badge {escape(outcome)}">{escape(outcome)}</span></td>'
            f"{_cell('throughput', last.throughput if last else None)}"
            f"{_cell('p95', last.latency.p95 if last else None)}"
            f"{_cell('error_rate', last.error_rate if last else None)}</tr>"
        )
    return _table(
        "Performance tests", ["test", "outcome", "throughput", "p95", "errors"], rows, "overview"
    )


def _environment(env: Mapping[str, Any]) -> str:
    keys = ("python", "platform", "cpus", "hostname", "git_commit")
    parts = [f"{k}: {escape(str(env[k]))}" for k in keys if env.get(k) is not None]
    return " · ".join(parts)


def render_html(document: Mapping[str, Any]) -> str:
    """The HTML report of a results document, as one self-contained page."""
    tests: list[Mapping[str, Any]] = list(document.get("tests") or ())
    created = escape(str(document.get("created", "")))
    env = _environment(document.get("environment") or {})
    body = "".join(_test(i, t) for i, t in enumerate(tests))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>pytest-agentperf report</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>pytest-agentperf report</h1>"
        f'<p class="muted">{created}{" · " if created and env else ""}{env}</p></header>'
        f"<main>{_overview(tests) if tests else '<p>No performance tests ran.</p>'}{body}</main>"
        "</body></html>\n"
    )


def write_html(document: Mapping[str, Any], path: str | Path) -> Path:
    """Render ``document`` and write it to ``path`` atomically; returns the path."""
    target = Path(path)
    write_atomic({target: render_html(document)})
    return target
