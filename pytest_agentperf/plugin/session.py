"""``AgentPerfSession``: the state of one pytest session and the hooks that use it.

It validates markers at collection, judges each performance test when its call phase is
reported (budgets, then the baseline), gathers the records (on the xdist controller, from
every worker), writes the outputs at the end and prints the summary.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_agentperf.errors import AgentPerfError, BudgetConfigError
from pytest_agentperf.files import error_text
from pytest_agentperf.plugin import fixtures
from pytest_agentperf.plugin.markers import PERF_MARKERS, SPEC_KEY, PerfSpec, parse_item
from pytest_agentperf.plugin.settings import Settings
from pytest_agentperf.report import environment
from pytest_agentperf.report.document import build_document, read_baseline, write_document
from pytest_agentperf.report.records import SessionRecords, TestRecord, junit_properties
from pytest_agentperf.report.terminal import (
    contention_warning,
    render_figures,
    render_recommendations,
    render_summary,
)
from pytest_agentperf.report.text import (
    inconclusive_warning,
    render_budget_failure,
    render_comparison,
)
from pytest_agentperf.result import PerfResult
from pytest_agentperf.verdict.baseline import (
    BaselineIndex,
    Comparison,
    compare_results,
    index_document,
    parse_fail_expr,
)
from pytest_agentperf.verdict.budgets import Budget, evaluate_budgets, resolve
from pytest_agentperf.verdict.prices import check_cost_budgets
from pytest_agentperf.verdict.recommend import recommend, spend_growth
from pytest_agentperf.verdict.store import baseline_store

__all__ = ["SKIP_REASON", "AgentPerfSession", "write_outputs"]

try:  # pytest's evaluated xfail mark of a test (pytest >= 7); without it, xfail is ignored
    from _pytest.skipping import xfailed_key as _XFAILED_KEY
except ImportError:  # pragma: no cover - a future pytest
    _XFAILED_KEY = None  # type: ignore[assignment]

SKIP_REASON = "performance test: run with --agentperf (or set 'agentperf = true' in the ini)"
WORKER_ERRORS = "agentperf_usage_errors"  # key in an xdist worker's output
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
        self.worker_errors: list[str] = []  # xdist controller: invalid markers, from workers
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
        """Validate every test's markers; skip performance tests unless enabled.

        Invalid markers are a usage error naming each bad test. On an xdist worker, which
        cannot stop the session itself (a ``UsageError`` there is an INTERNALERROR on the
        controller, with the message lost), the messages travel to the controller in the
        worker's output and the worker runs nothing; the controller raises them.
        """
        skip = pytest.mark.skip(reason=SKIP_REASON)
        errors: list[str] = []
        for item in items:
            try:
                spec = parse_item(item)
            except BudgetConfigError as exc:
                errors.append(str(exc))
                continue
            try:
                check_cost_budgets(_cost_places(item, spec), self.settings.prices)
            except BudgetConfigError as exc:
                errors.append(str(exc))
                continue
            item.stash[SPEC_KEY] = spec
            if spec.is_perf and not self.settings.enabled:
                item.add_marker(skip)
        if not errors:
            return
        if not self.is_worker:
            raise pytest.UsageError(*errors)
        self.config.workeroutput[WORKER_ERRORS] = errors  # type: ignore[attr-defined]
        items.clear()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist controller: keep the marker errors a worker found (see above)."""
        output = getattr(node, "workeroutput", None) or {}
        if output.get(WORKER_ERRORS) and not self.worker_errors:
            self.worker_errors = list(output[WORKER_ERRORS])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self) -> Generator[None, object, object]:
        outcome = yield
        if self.worker_errors:
            raise pytest.UsageError(*self.worker_errors)
        return outcome

    def pytest_report_header(self) -> list[str]:
        if not self.settings.enabled:
            return []
        s = self.settings
        lines = [f"agentperf: scale={s.scale:g}, seed={s.seed}"]
        warning = contention_warning(_xdist_workers(self.config), environment.usable_cpus())
        return lines + ([f"agentperf: WARNING: {warning}"] if warning else [])

    # -- per test ------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        # Outermost (tryfirst): the report has been through pytest's xfail handling.
        report = yield
        if report.when == "call":
            self._finish_call(item, call, report)
        return report

    def _finish_call(
        self, item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        spec = item.stash.get(SPEC_KEY, PerfSpec())
        perf = item.stash.get(fixtures.PERF_KEY, None)
        results = tuple(perf.results) if perf is not None else ()
        expected = hasattr(report, "wasxfail")
        if not (spec.is_perf or results) or (report.skipped and not expected):
            return  # not a performance test, or skipped in its body
        figures = dict(perf.figures) if perf is not None else {}
        body_failed = call.excinfo is not None
        record, text = self._judge(
            item.nodeid, spec, results, figures, report.duration, body_failed
        )
        xfail = expected_failure(item)
        if xfail is not None or expected:
            record, text = _under_xfail(record, text, xfail, report)
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
        duration: float,
        body_failed: bool,
    ) -> tuple[TestRecord, str]:
        """The test's record and, when it fails on budgets or a baseline, the failure text."""
        base: dict[str, Any] = {
            "nodeid": nodeid,
            "results": results,
            "duration": duration,
            "figures": figures,
        }
        if body_failed:
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
        unsure = tuple(inconclusive_warning(c) for c in comparisons if c.inconclusive)
        return (
            TestRecord(
                outcome="regressed" if regressed else "passed",
                comparisons=comparisons,
                compared=True,
                comparison_note=note,
                warnings=unsure,
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
            document = read_baseline(self.config.rootpath, self.settings.compare)
            self._baseline = index_document(document)
        except AgentPerfError as exc:
            raise pytest.UsageError(str(exc)) from exc

    def _compare(
        self, nodeid: str, results: tuple[PerfResult, ...]
    ) -> tuple[tuple[Comparison, ...], str]:
        """Each result's comparison with the baseline, and why there is none if so."""
        try:
            if self._baseline is None:
                document = read_baseline(self.config.rootpath, self.settings.compare)
                self._baseline = index_document(document)
            expr = self.settings.compare_fail
            rules = parse_fail_expr(expr, "--agentperf-compare-fail") if expr else None
            found = compare_results(self._baseline, nodeid, results, rules)
        except AgentPerfError as exc:  # not a usage error here: the test has run
            return (), f"not compared: {exc}"
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

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the outputs; a requested output that could not be written fails the run."""
        # A plain run with report paths in the ini (and --agentperf off) writes nothing,
        # and neither does a run stopped by a usage error (nothing ran: keep the old files).
        s = self.settings
        wanted = s.enabled and (s.json_path or s.html_path or s.save)
        if self.is_worker or exitstatus == pytest.ExitCode.USAGE_ERROR:
            return
        if not (len(self.records) or wanted):
            return
        where = environment.collect_environment(self.config.rootpath)
        written, problems = write_outputs(self.records.ordered(), where, s, self.config.rootpath)
        self.written += written
        self.problems += problems
        if problems and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

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
            tr.write_line(f"agentperf: ERROR: {problem}", red=True, bold=True)
        if self.problems:
            tr.write_line("agentperf: the run fails: a requested output was not written.", red=True)

    def _recommendations(self, records: list[TestRecord]) -> list[str]:
        texts = recommend((r.nodeid, r.results, r.figures) for r in records)
        texts += [text for r in records for text in spend_growth(r.nodeid, r.comparisons)]
        for extra in self.config.hook.pytest_agentperf_recommendations(records=records):
            texts.extend(extra or ())
        return list(dict.fromkeys(texts))


def _cost_places(item: pytest.Item, spec: PerfSpec) -> list[tuple[str, Budget]]:
    """The test's cost budget, named as its marker is (for a missing or foreign price table)."""
    cost = spec.budgets.get("cost_per_task")
    if cost is None:
        return []
    return [(f"{item.nodeid}: @pytest.mark.llm(cost_per_task=...)", cost)]


def expected_failure(item: pytest.Item) -> Any:
    """The test's evaluated ``xfail`` mark (reason, strict, ...), or ``None``.

    ``None`` also under ``--runxfail``, which tells pytest to ignore xfail marks. Read from
    pytest's own evaluation (``_pytest.skipping.xfailed_key``), so conditions, ``raises``
    and the ``xfail_strict`` ini option mean what they mean to pytest.
    """
    if _XFAILED_KEY is None or item.config.option.runxfail:
        return None
    return item.stash.get(_XFAILED_KEY, None)


def _under_xfail(
    record: TestRecord, text: str, xfail: Any, report: pytest.TestReport
) -> tuple[TestRecord, str]:
    """The record (and failure text) of a test marked ``xfail``, with pytest's report fixed.

    A budget miss or a regression is the failure the mark expects: the report becomes
    ``XFAIL`` (also under ``strict=True``, which pytest had made an ``XPASS(strict)``).
    A body that raised as expected is ``xfailed`` too. Budgets met keep pytest's verdict:
    ``XPASS``, or under ``strict=True`` the ``XPASS(strict)`` failure.
    """
    reason = str(getattr(report, "wasxfail", "") or getattr(xfail, "reason", "") or "")
    if text:
        first = text.splitlines()[0]
        report.outcome = "skipped"
        report.wasxfail = f"{reason}; {first}" if reason else first
        report.longrepr = text
        message = f"expected failure (xfail): {first}"
        return dataclasses.replace(record, outcome="xfailed", message=message), ""
    if report.skipped:  # the body raised, as the mark expects
        message = "the test failed, as expected (xfail)"
        return dataclasses.replace(record, outcome="xfailed", message=message), ""
    if report.failed and record.outcome == "passed":  # strict xfail, and the budgets passed
        message = f"{report.longrepr}: the test and its budgets passed (xfail strict)"
        return dataclasses.replace(record, outcome="failed", message=message), ""
    return record, ""


def _perf_keywords(report: pytest.TestReport) -> bool:
    return any(name in report.keywords for name in PERF_MARKERS)


def _write_html(document: dict[str, Any], path: Path) -> Path:
    from pytest_agentperf.report.html import write_html

    return write_html(document, path)


def write_outputs(
    records: Sequence[TestRecord], environment: dict[str, Any], settings: Settings, root: Path
) -> tuple[list[Path], list[str]]:
    """Write what the settings ask for (JSON, HTML, baseline): (paths written, problems).

    Each problem names the option or ini key that asked for the file; the caller fails the
    run on any of them. A baseline is never saved from a run that recorded no test: that
    would replace a good baseline with an empty one.
    """
    document = build_document(records, environment)
    jobs: list[tuple[str, Path | str, Callable[[], list[Path]]]] = []
    if settings.json_path is not None:
        json_path = settings.json_path
        jobs.append(("agentperf_json", json_path, lambda: write_document(document, json_path)))
    if settings.html_path is not None:
        html_path = settings.html_path
        jobs.append(("agentperf_html", html_path, lambda: [_write_html(document, html_path)]))
    written: list[Path] = []
    problems: list[str] = []
    if settings.save is not None:
        name = settings.save
        if records:
            save = baseline_store(root).save
            jobs.append(("agentperf_save", name, lambda: [save(name, document)]))
        else:
            problems.append(
                f"{settings.origin('agentperf_save')}: the baseline {name!r} was not saved: no "
                "performance test recorded results in this run (an existing baseline of that "
                "name is kept)."
            )
    for dest, target, job in jobs:
        try:
            written += job()
        except (OSError, ImportError, AgentPerfError, TypeError, ValueError) as exc:
            problems.append(f"{settings.origin(dest)}: could not write {target}: {error_text(exc)}")
    return written, problems
