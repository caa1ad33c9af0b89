"""pytest entry point (``pytest11: agentperf``).

The module-level hooks only register options, markers and the fixtures, resolve the
settings once, and register :class:`AgentPerfSession` as ``"agentperf-session"``; the
session object holds the state of the run (its hooks are the methods below).
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_agentperf import fixtures
from pytest_agentperf.budgets import judge, resolve
from pytest_agentperf.errors import AgentPerfError, BudgetConfigError
from pytest_agentperf.markers import MARKER_LINES, PERF_MARKERS, SPEC_KEY, PerfSpec, parse_item
from pytest_agentperf.recommend import recommend
from pytest_agentperf.report import (
    Outcome,
    Records,
    TestRecord,
    compare_test,
    environment,
    junit_properties,
    load_baseline,
)
from pytest_agentperf.report.json import write_outputs
from pytest_agentperf.report.terminal import (
    contention_warning,
    render_figures,
    render_recommendations,
    render_summary,
)
from pytest_agentperf.result import PerfResult
from pytest_agentperf.settings import SETTINGS_KEY, Settings, add_options, load_settings

__all__ = ["AgentPerfSession"]

SESSION_NAME = "agentperf-session"
FIXTURES_NAME = "agentperf-fixtures"
SKIP_REASON = "performance test: run with --agentperf (or set 'agentperf = true' in the ini)"
STATUS = {"budget-failed": ("B", "BUDGET FAILED"), "regressed": ("R", "REGRESSED")}


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_agentperf import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKER_LINES:
        config.addinivalue_line("markers", line)
    settings = load_settings(config)
    config.stash[SETTINGS_KEY] = settings
    session = AgentPerfSession(config, settings)
    session.load_baseline()  # a missing baseline is a usage error before any test runs
    if not config.pluginmanager.has_plugin(FIXTURES_NAME):
        config.pluginmanager.register(fixtures, FIXTURES_NAME)
    config.pluginmanager.register(session, SESSION_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.pluginmanager.get_plugin(SESSION_NAME)
    if session is not None:
        config.pluginmanager.unregister(session, SESSION_NAME)


def _is_perf(item: pytest.Item) -> bool:
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
        self.records = Records()
        self.is_worker = hasattr(config, "workerinput")
        self.written: list[Path] = []
        self.problems: list[str] = []
        self._baseline: dict[str, Any] | None = None

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
            wants = isinstance(node, pytest.Function) and _is_perf(node)
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
        recorder = item.stash.get(fixtures.PERF_KEY, None)
        results = tuple(recorder.results) if recorder is not None else ()
        if not (spec.is_perf or results):
            return
        figures = dict(getattr(recorder, "figures", None) or {})
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
        verdict = judge(budgets, results, budget_on=spec.budget_on, declared=bool(spec.budgets))
        base["checks"] = verdict.checks
        if verdict.outcome == "budget-failed":
            first = verdict.text.splitlines()[0]
            return TestRecord(outcome="budget-failed", message=first, **base), verdict.text
        comparison, text = None, ""
        if self.settings.compare is not None and results:
            comparison, text = self._compare(nodeid, results)
        outcome: Outcome = "regressed" if text else "passed"
        message = text.splitlines()[0] if text else ""
        return TestRecord(outcome=outcome, comparison=comparison, message=message, **base), text

    def load_baseline(self) -> None:
        """Load the ``--agentperf-compare`` baseline; ``pytest.UsageError`` when it is missing.

        Done at configure time, so that a mistyped name stops the run before any workload
        runs (and in the xdist controller, before a worker would crash on it).
        """
        if not (self.settings.enabled and self.settings.compare is not None):
            return
        try:
            self._baseline = load_baseline(self.config.rootpath, self.settings.compare)
        except AgentPerfError as exc:
            raise pytest.UsageError(str(exc)) from exc

    def _compare(
        self, nodeid: str, results: tuple[PerfResult, ...]
    ) -> tuple[dict[str, Any] | None, str]:
        try:
            if self._baseline is None:
                self._baseline = load_baseline(self.config.rootpath, self.settings.compare)
            return compare_test(self._baseline, nodeid, results, self.settings.compare_fail)
        except AgentPerfError as exc:
            raise pytest.UsageError(str(exc)) from exc

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
        text = render_summary(
            self.records.ordered(),
            verbosity=self.config.get_verbosity(),
            width=tr._tw.fullwidth,
        )
        tr.write_line(text)
        records = self.records.ordered()
        figures = render_figures(records)
        if figures:
            tr.write_line(figures)
        if self.config.get_verbosity() >= 0:
            tr.write_line(render_recommendations(self._recommendations(records)))
        warning = contention_warning(_xdist_workers(self.config), environment.usable_cpus())
        if warning and len(self.records):
            tr.write_line(f"WARNING: {warning}", yellow=True, bold=True)
        for path in self.written:
            tr.write_line(f"agentperf: wrote {path}")
        for problem in self.problems:
            tr.write_line(f"agentperf: {problem}", red=True)

    def _recommendations(self, records: list[TestRecord]) -> list[str]:
        texts = recommend((r.nodeid, r.results) for r in records)
        for extra in self.config.hook.pytest_agentperf_recommendations(records=records):
            texts.extend(extra or ())
        return list(dict.fromkeys(texts))


def _perf_keywords(report: pytest.TestReport) -> bool:
    return any(name in report.keywords for name in PERF_MARKERS)
