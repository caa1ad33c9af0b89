"""Findings about the agent and doubts about the harness are rendered apart, with the CPU."""

from __future__ import annotations

from dataclasses import replace

from pytest_agentperf.report.html import render_html
from pytest_agentperf.report.records import TestRecord
from pytest_agentperf.report.terminal import render_summary
from pytest_agentperf.result import SelfCheck
from tests.factories import document, entry, full_result

FINDING = "CPU-bound: 700µs of CPU per task, of which the harness 60µs"
DOUBT = "other processes kept this process waiting for a CPU 40% of the run"


def _result(findings: tuple[str, ...] = (FINDING,), warnings: tuple[str, ...] = ()) -> object:
    check = replace(full_result().selfcheck, findings=findings, warnings=warnings)
    return replace(full_result(), selfcheck=check)


def test_the_terminal_lists_findings_apart_from_doubts() -> None:
    quiet = TestRecord("t.py::test_a", "passed", results=(_result(),))  # type: ignore[arg-type]
    text = render_summary([quiet], width=160)
    assert "findings (about the system under test):\n  t.py::test_a: CPU-bound" in text
    assert "doubtful" not in text
    header, row = text.splitlines()[:2]
    assert "CPU/task" in header
    assert "700µs" in row
    doubtful = TestRecord(
        "t.py::test_b",
        "passed",
        results=(_result(warnings=(DOUBT,)),),  # type: ignore[arg-type]
    )
    lines = render_summary([doubtful], width=160).splitlines()
    assert lines.index("findings (about the system under test):") < lines.index(
        "self-check warnings (the harness's own figures are doubtful):"
    )
    assert lines[-1] == f"  t.py::test_b: {DOUBT}"


def test_the_html_shows_findings_doubts_and_the_cpu_split() -> None:
    result = replace(full_result(), selfcheck=SelfCheck(findings=(FINDING,), warnings=(DOUBT,)))
    text = render_html(document(entry("t.py::test_a", result)))
    assert f'<ul class="findings"><li>{FINDING}</li></ul>' in text
    assert "The harness&#x27;s own figures are doubtful:" in text
    for label in ("CPU per task", "harness CPU per task", "agent CPU per task"):
        assert f"<th scope='row'>{label}</th>" in text
    assert "capacity per core" in text
    assert "CPU per task over time" in text


def test_findings_of_the_last_workload_and_of_every_one_with_verbose() -> None:
    first = _result(findings=("garbage collection ran 40 times ...",))
    last = _result()
    record = TestRecord("t.py::test_a", "passed", results=(first, last))  # type: ignore[arg-type]
    default = render_summary([record], width=160)
    assert "CPU-bound" in default
    assert "garbage collection" not in default  # as the table: the last workload's row
    assert "garbage collection" in render_summary([record], verbosity=1, width=160)
