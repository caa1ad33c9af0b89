"""The end-of-session terminal summary: pure rendering, records in, text out.

Verbosity follows pytest: ``-q`` prints one tally line (and the self-check findings and
warnings), the default prints one row per performance test (the figures of its last
workload), ``-v`` one row per workload. Findings (facts about the system under test: it is
CPU-bound, garbage collection paused it; of the last workload, of every one with ``-v``)
and warnings (doubts about the harness's own figures, of every workload) are listed apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from pytest_agentperf.report.records import OUTCOMES, TestRecord
from pytest_agentperf.report.text import table
from pytest_agentperf.result import PerfResult
from pytest_agentperf.units import (
    format_bytes,
    format_count,
    format_duration,
    format_fraction,
    format_money,
    format_rate,
)

__all__ = [
    "HEADER",
    "VERDICTS",
    "contention_warning",
    "render_figures",
    "render_recommendations",
    "render_summary",
    "result_cells",
    "tally",
]

HEADER = (
    "test",
    "throughput",
    "p50",
    "p95",
    "p99",
    "errors",
    "eff.",  # efficiency
    "CPU/task",
    "memory",  # growth
    "verdict",
)
VERDICTS = {
    "passed": "passed",
    "failed": "FAILED",
    "budget-failed": "BUDGET FAILED",
    "regressed": "REGRESSED",
    "xfailed": "xfailed",
    "error": "ERROR",
    "skipped": "skipped",
}
MIN_NAME = 40


def result_cells(result: PerfResult | None) -> list[str]:
    """The figure columns for one result (``-`` where not measured)."""
    if result is None:
        return ["-"] * (len(HEADER) - 2)
    latency = result.latency
    efficiency = "-" if result.efficiency is None else f"{result.efficiency:.2f}"
    growth = None if result.memory is None else result.memory.growth_bytes
    return [
        format_rate(result.throughput),
        format_duration(latency.p50),
        format_duration(latency.p95),
        format_duration(latency.p99),
        format_fraction(result.error_rate) if result.total else "-",
        efficiency,
        format_duration(result.cpu_per_task),
        format_bytes(growth),
    ]


Column = tuple[str, Callable[[PerfResult], str | None]]


def _ttft_p95(result: PerfResult) -> str | None:
    return None if result.ttft is None else format_duration(result.ttft.p95)


def _per_task(figure: str) -> Callable[[PerfResult], str | None]:
    def cell(result: PerfResult) -> str | None:
        spend = result.llm
        if spend is None:
            return None
        value = getattr(spend, figure)
        if value is None:
            return None
        if figure == "cost":
            return format_money(value.mean, spend.currency)
        return format_count(value.mean) + ("~" if figure == "tokens" and spend.estimated else "")

    return cell


#: Columns shown only when some result measured them, before the verdict.
OPTIONAL_COLUMNS: tuple[Column, ...] = (
    ("TTFT p95", _ttft_p95),
    ("calls/task", _per_task("calls")),
    ("tokens/task", _per_task("tokens")),
    ("cost/task", _per_task("cost")),
)


def _optional(records: Sequence[TestRecord]) -> list[Column]:
    """The optional columns some result of ``records`` measured."""
    results = [r for record in records for r in record.results]
    return [c for c in OPTIONAL_COLUMNS if any(c[1](r) is not None for r in results)]


def _fit(name: str, width: int) -> str:
    """Shorten ``name`` from the left to ``width`` characters."""
    return name if len(name) <= width else "..." + name[len(name) - width + 3 :]


def _test_rows(record: TestRecord, verbose: bool, extra: Sequence[Column] = ()) -> list[list[str]]:
    verdict = VERDICTS[record.outcome]

    def cells(result: PerfResult | None) -> list[str]:
        more = [("-" if result is None else cell(result) or "-") for _, cell in extra]
        return [*result_cells(result), *more]

    if not record.results:
        return [[record.nodeid, *cells(None), verdict]]
    if not verbose:
        runs = len(record.results)
        name = record.nodeid + (f" [last of {runs} runs]" if runs > 1 else "")
        return [[name, *cells(record.results[-1]), verdict]]
    rows = [[record.nodeid, *cells(record.results[0]), verdict]]
    rows += [[f"  {r.name}", *cells(r), ""] for r in record.results[1:]]
    if len(record.results) > 1:
        rows[0][0] += f"  {record.results[0].name}"
    return rows


def tally(records: Sequence[TestRecord]) -> str:
    """``'3 performance tests: 2 passed, 1 budget-failed'``."""
    counts = Counter(r.outcome for r in records)
    parts = [f"{counts[o]} {o}" for o in OUTCOMES if counts[o]]
    noun = "test" if len(records) == 1 else "tests"
    return f"{len(records)} performance {noun}: " + ", ".join(parts)


def _warning_lines(records: Sequence[TestRecord]) -> list[str]:
    lines = [f"  {r.nodeid}: {w}" for r in records for w in r.all_warnings]
    return (
        ["self-check warnings (the harness's own figures are doubtful):", *lines] if lines else []
    )


def _finding_lines(records: Sequence[TestRecord], verbose: bool) -> list[str]:
    """Findings of each test's last workload (as in the table), of every one with ``-v``."""
    lines = [
        f"  {r.nodeid}: {f}"
        for r in records
        for f in dict.fromkeys(
            f for result in (r.results if verbose else r.results[-1:]) for f in result.findings
        )
    ]
    return ["findings (about the system under test):", *lines] if lines else []


def render_summary(records: Sequence[TestRecord], *, verbosity: int = 0, width: int = 120) -> str:
    """The summary text: a table (unless ``verbosity < 0``), a tally and any warnings."""
    if not records:
        return "no performance results recorded"
    lines: list[str] = []
    if verbosity >= 0:
        extra = _optional(records)
        header = (*HEADER[:-1], *(name for name, _ in extra), HEADER[-1])
        rows = [row for r in records for row in _test_rows(r, verbosity > 0, extra)]
        columns = range(1, len(header))
        others = sum(max(len(row[i]) for row in [list(header), *rows]) + 2 for i in columns)
        name_width = max(MIN_NAME, width - others - 2)
        for row in rows:
            row[0] = _fit(row[0], name_width)
        lines.append(table(header, rows, indent=""))
    lines.append(tally(records))
    return "\n".join(lines + _finding_lines(records, verbosity > 0) + _warning_lines(records))


def render_figures(records: Sequence[TestRecord]) -> str:
    """The figures tests noted with ``agent_perf.note()``, one line per test."""
    lines = [
        f"  {r.nodeid}: " + ", ".join(f"{k}={_figure(v)}" for k, v in r.figures.items())
        for r in records
        if r.figures
    ]
    return "\n".join(["figures:", *lines]) if lines else ""


def _figure(value: object) -> str:
    return f"{value:,.6g}" if isinstance(value, float) else str(value)


def render_recommendations(texts: Sequence[str]) -> str:
    """The recommendations list, or a line saying the figures raised none."""
    if not texts:
        return "recommendations: none; every figure is within what a healthy agent shows."
    return "\n".join(["recommendations:", *(f"  - {t}" for t in texts)])


def contention_warning(workers: int, cpus: int) -> str | None:
    """The warning for performance tests run by more xdist workers than there are CPUs."""
    if workers <= cpus:
        return None
    return (
        f"performance tests ran in parallel on {workers} xdist workers but only {cpus} "
        f"CPU(s) are available: they contend for CPU, so latencies are inflated and "
        "throughput deflated. Run performance tests with fewer workers (e.g. -n 0 or "
        f"-n {cpus})."
    )
