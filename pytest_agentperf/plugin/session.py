"""``AgentPerfSession``: the state of one pytest session and the hooks that use it.

It validates markers at collection, judges each performance test when its call phase is
reported (budgets, then the baseline), gathers the records (on the xdist controller, from
every worker), writes the outputs at the end and prints the summary.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_agentperf.errors import AgentPerfError, BudgetConfigError
from pytest_agentperf.plugin import fixtures
from pytest_agentperf.plugin.markers import PERF_MARKERS, SPEC_KEY, PerfSpec, parse_item
from pytest_agentperf.plugin.settings import Settings
from pytest_agentperf.report import environment
from pytest_agentperf.report.document import build_document, write_document
from pytest_agentperf.report.records import SessionRecords, TestRecord, junit_properties
from pytest_agentperf.report.terminal import (
    contention_warning,
    render_figures,
    render_recommendations,
    render_summary,
)
from pytest_agentperf.report.text import render_budget_failure, render_comparison
from pytest_agentperf.result import PerfResult
from pytest_agentperf.verdict.baseline import (
    BaselineIndex,
    Comparison,
    compare_results,
    index_document,
    parse_fail_expr,
)
from pytest_agentperf.verdict.budgets import evaluate_budgets, resolve
from pytest_agentperf.verdict.recommend import recommend
from pytest_agentperf.verdict.store import baseline_store, load_baseline

__all__ = ["SKIP_REASON", "AgentPerfSession", "write_outputs"]

SKIP_REASON = "performance test: run with --agentperf (or set 'agentperf = true' in the ini)"
STATUS = {"budget-failed": ("B", "BUDGET FAILED"), "regressed": ("R", "REGRESSED")}


def is_perf(item: pytest.Item) -> bool:
    """Whether ``item`` is a performance test (any agentperf or budget marker)."""
    return any(item.get_closest_marker(name) is not None for name in PERF_MARKERS)


def _xdist_workers(config: pytest.Config) -> int:
    """The number of xdist workers of this run (0 without xdist)."""
    count = getattr(config.option, "numprocesses", None)
    dist = getattr(config.option, "dist", "no")
    return count if isinstance(count, int) and dist != "no" else 0


class AgentPerfSession:
    """The state of one pytest session: settings, the records, what was written."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.records = SessionRecords()
        self.is_worker = hasattr(config, "workerinput")
        self.written: list[Path] = []
        self.problems: list[str] = []
        self._baseline: BaselineIndex | None = None

    # -- collection ----------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_pycollect_makeitem(
        self, collector: pytest.Collector, name: str, obj: object
    ) -> Generator[None, Any, Any]:
        """Mark coroutine performance tests ``asyncio`` (so strict mode needs no marker)."""
        collected = yield
        if not collected or not inspect.iscoroutinefunction(obj):
            return collected
        if not self.config.pluginmanager.has_plugin("asyncio"):
            return collected
        for node in collected if isinstance(collected, list) else [collected]:
            wants = isinstance(node, pytest.Function) and is_perf(node)
            if wants and node.get_closest_marker("asyncio") is None:
                node.add_marker("asyncio")
        return collected

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Validate every test's markers; skip performance tests unless enabled."""
        skip = pytest.mark.skip(reason=SKIP_REASON)
        for item in items:
            try:
                spec = parse_item(item)
            except BudgetConfigError as exc:
                raise pytest.UsageError(str(exc)) from exc
            item.stash[SPEC_KEY] = spec
            if spec.is_perf and not self.settings.enabled:
                item.add_marker(skip)

    def pytest_report_header(self) -> list[str]:
        if not self.settings.enabled:
            return []
        s = self.settings
        lines = [f"agentperf: scale={s.scale:g}, seed={s.seed}"]
        warning = contention_warning(_xdist_workers(self.config), environment.usable_cpus())
        return lines + ([f"agentperf: WARNING: {warning}"] if warning else [])

    # -- per test ------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when == "call" and not report.skipped and not hasattr(report, "wasxfail"):
            self._finish_call(item, report)
        return report

    def _finish_call(self, item: pytest.Item, report: pytest.TestReport) -> None:
        spec = item.stash.get(SPEC_KEY, PerfSpec())
        perf = item.stash.get(fixtures.PERF_KEY, None)
        results = tuple(perf.results) if perf is not None else ()
        if not (spec.is_perf or results):
            return
        figures = dict(perf.figures) if perf is not None else {}
        record, text = self._judge(item.nodeid, spec, results, figures, report)
        report.agentperf = record.to_dict()  # type: ignore[attr-defined]  # travels to xdist
        if text:
            report.outcome = "failed"
            report.longrepr = text
        if record.all_warnings:
            report.sections.append(("agentperf self-check", "\n".join(record.all_warnings)))
        item.user_properties.extend(junit_properties(record))

    def _judge(
        self,
        nodeid: str,
        spec: PerfSpec,
        results: tuple[PerfResult, ...],
        figures: dict[str, Any],
        report: pytest.TestReport,
    ) -> tuple[TestRecord, str]:
        """The test's record and, when it fails on budgets or a baseline, the failure text."""
        base: dict[str, Any] = {
            "nodeid": nodeid,
            "results": results,
            "duration": report.duration,
            "figures": figures,
        }
        if report.failed:
            return TestRecord(outcome="failed", message="the test failed", **base), ""
        budgets = resolve(spec.budgets, *self.settings.default_tiers)
        verdict = evaluate_budgets(
            budgets, results, budget_on=spec.budget_on, declared=bool(spec.budgets)
        )
        base["checks"] = verdict.checks
        if verdict.outcome == "budget-failed":
            text = render_budget_failure(verdict)
            first = text.splitlines()[0]
            return TestRecord(outcome="budget-failed", message=first, **base), text
        if self.settings.compare is None or not results:
            return TestRecord(outcome="passed", **base), ""
        comparisons, note = self._compare(nodeid, results)
        regressed = [c for c in comparisons if c.regressed]
        text = "\n\n".join(render_comparison(c) for c in regressed)
        return (
            TestRecord(
                outcome="regressed" if regressed else "passed",
                comparisons=comparisons,
                compared=True,
                comparison_note=note,
                message=text.splitlines()[0] if text else "",
                **base,
            ),
            text,
        )

    def load_baseline(self) -> None:
        """Load the ``--agentperf-compare`` baseline; ``pytest.UsageError`` when it is missing.

        Done at configure time, so that a mistyped name stops the run before any workload
        runs (and in the xdist controller, before a worker would crash on it).
        """
        if not (self.settings.enabled and self.settings.compare is not None):
            return
        try:
            document = load_baseline(self.config.rootpath, self.settings.compare)
            self._baseline = index_document(document)
        except AgentPerfError as exc:
            raise pytest.UsageError(str(exc)) from exc

    def _compare(
        self, nodeid: str, results: tuple[PerfResult, ...]
    ) -> tuple[tuple[Comparison, ...], str]:
        """Each result's comparison with the baseline, and why there is none if so."""
        try:
            if self._baseline is None:
                document = load_baseline(self.config.rootpath, self.settings.compare)
                self._baseline = index_document(document)
            expr = self.settings.compare_fail
            rules = parse_fail_expr(expr, "--agentperf-compare-fail") if expr else None
            found = compare_results(self._baseline, nodeid, results, rules)
        except AgentPerfError as exc:
            raise pytest.UsageError(str(exc)) from exc
        compared = tuple(rc.comparison for rc in found if rc.comparison is not None)
        note = "" if compared else (found[0].note if found else "not in the baseline")
        return compared, note

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.CollectReport | pytest.TestReport
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        """``B``/``BUDGET FAILED`` and ``R``/``REGRESSED``, counted as failures."""
        data = getattr(report, "agentperf", None)
        if report.when != "call" or not report.failed or not isinstance(data, dict):
            return None
        status = STATUS.get(str(data.get("outcome")))
        return None if status is None else ("failed", status[0], (status[1], {"red": True}))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the record of every performance test (on the xdist controller: of all)."""
        if self.is_worker:
            return
        data = getattr(report, "agentperf", None)
        if report.when == "call" and isinstance(data, dict):
            self.records.add(TestRecord.from_dict(data))
        elif report.when == "setup" and report.failed and _perf_keywords(report):
            self.records.add(TestRecord(report.nodeid, "error", message="setup failed"))

    # -- session end ---------------------------------------------------------------------

    def pytest_sessionfinish(self) -> None:
        # A plain run with report paths in the ini (and --agentperf off) writes nothing.
        wanted = self.settings.enabled and (self.settings.json_path or self.settings.html_path)
        if self.is_worker or not (len(self.records) or wanted):
            return
        where = environment.collect_environment(self.config.rootpath)
        written, problems = write_outputs(
            self.records.ordered(), where, self.settings, self.config.rootpath
        )
        self.written += written
        self.problems += problems

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.is_worker or not (len(self.records) or self.written or self.problems):
            return
        tr = terminalreporter
        tr.write_sep("=", "agentperf summary")
        records = self.records.ordered()
        verbosity = self.config.get_verbosity()
        tr.write_line(render_summary(records, verbosity=verbosity, width=tr._tw.fullwidth))
        figures = render_figures(records)
        if figures:
            tr.write_line(figures)
        if verbosity >= 0:
            tr.write_line(render_recommendations(self._recommendations(records)))
        warning = contention_warning(_xdist_workers(self.config), environment.usable_cpus())
        if warning and len(self.records):
            tr.write_line(f"WARNING: {warning}", yellow=True, bold=True)
        for path in self.written:
            tr.write_line(f"agentperf: wrote {path}")
        for problem in self.problems:
            tr.write_line(f"agentperf: {problem}", red=True)

    def _recommendations(self, records: list[TestRecord]) -> list[str]:
        texts = recommend((r.nodeid, r.results, r.figures) for r in records)
        for extra in self.config.hook.pytest_agentperf_recommendations(records=records):
            texts.extend(extra or ())
        return list(dict.fromkeys(texts))


def _perf_keywords(report: pytest.TestReport) -> bool:
    return any(name in report.keywords for name in PERF_MARKERS)


def _write_html(document: dict[str, Any], path: Path) -> Path:
    from pytest_agentperf.report.html import write_html

    return write_html(document, path)


def write_outputs(
    records: Sequence[TestRecord], environment: dict[str, Any], settings: Settings, root: Path
) -> tuple[list[Path], list[str]]:
    """Write what the settings ask for (JSON, HTML, baseline): (paths written, problems)."""
    document = build_document(records, environment)
    written: list[Path] = []
    problems: list[str] = []
    jobs: list[tuple[str, Callable[[], list[Path]]]] = []
    if settings.json_path is not None:
        json_path = settings.json_path
        jobs.append(("--agentperf-json", lambda: write_document(document, json_path)))
    if settings.html_path is not None:
        html_path = settings.html_path
        jobs.append(("--agentperf-html", lambda: [_write_html(document, html_path)]))
    if settings.save is not None:
        name = settings.save
        jobs.append(("--agentperf-save", lambda: [baseline_store(root).save(name, document)]))
    for option, job in jobs:
        try:
            written += job()
        except (OSError, ImportError, AgentPerfError) as exc:
            problems.append(f"{option}: could not write: {exc}")
    return written, problems
