"""The summary, the JSON document, its schema, and the github-action-benchmark files."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from pytest_agentperf.report.document import (
    build_document,
    gab_entries,
    gab_paths,
    load_schema,
    write_document,
)
from pytest_agentperf.report.environment import collect_environment
from pytest_agentperf.report.records import SessionRecords, TestRecord, junit_properties
from pytest_agentperf.report.terminal import contention_warning, render_summary, tally
from pytest_agentperf.result import PerfResult, json_safe
from pytest_agentperf.verdict.budgets import evaluate, parse_budget

MakeResult = Callable[..., PerfResult]


@pytest.fixture
def records(make_result: MakeResult) -> list[TestRecord]:
    slow = make_result("slow", p95=0.3, throughput=120.0, warnings=("loop lag p99 was 40ms",))
    checks = tuple(evaluate([parse_budget("p95", "100ms", "t")], [slow]))
    return [
        TestRecord("t.py::test_fast", "passed", results=(make_result("fast", growth=1024.0**2),)),
        TestRecord("t.py::test_slow", "budget-failed", checks=checks, results=(slow,)),
        TestRecord("t.py::test_two", "passed", results=(make_result("a"), make_result("b"))),
    ]


def test_summary_has_one_row_per_test(records: list[TestRecord]) -> None:
    lines = render_summary(records, width=200).splitlines()
    assert lines[0].split() == (
        [
            "test",
            "throughput",
            "p50",
            "p95",
            "p99",
            "errors",
            "eff.",
            "CPU/task",
            "memory",
            "verdict",
        ]
    )
    assert lines[1].split() == [
        "t.py::test_fast",
        "500/s",
        "50.0ms",
        "100.0ms",
        "200.0ms",
        "0.00%",
        "0.95",
        "-",
        "1.0MiB",
        "passed",
    ]
    assert lines[2].split()[-2:] == ["BUDGET", "FAILED"]
    assert lines[3].startswith("t.py::test_two [last of 2 runs]")
    assert lines[4] == "3 performance tests: 2 passed, 1 budget-failed"
    assert lines[5:] == [
        "self-check warnings (the harness's own figures are doubtful):",
        "  t.py::test_slow: loop lag p99 was 40ms",
    ]


def test_verbose_summary_has_one_row_per_result(records: list[TestRecord]) -> None:
    lines = render_summary(records, verbosity=1, width=200).splitlines()
    assert lines[3].startswith("t.py::test_two  a ")
    assert lines[4].startswith("  b ")


def test_quiet_summary_is_the_tally_and_warnings(records: list[TestRecord]) -> None:
    text = render_summary(records, verbosity=-1)
    assert text.splitlines()[0] == "3 performance tests: 2 passed, 1 budget-failed"
    assert "loop lag p99 was 40ms" in text


def test_summary_shortens_long_names_to_the_width(make_result: MakeResult) -> None:
    record = TestRecord("tests/" + "x" * 200 + "::test_long", "passed", results=(make_result(),))
    line = render_summary([record], width=120).splitlines()[1]
    assert line.startswith("...")
    assert "::test_long" in line
    assert len(line) <= 120


def test_summary_of_a_test_without_results() -> None:
    lines = render_summary([TestRecord("t.py::test_e", "error")]).splitlines()
    assert lines[1].split() == ["t.py::test_e", *["-"] * 8, "ERROR"]
    assert tally([]) == "0 performance tests: "
    assert render_summary([]) == "no performance results recorded"


def test_contention_warning() -> None:
    assert contention_warning(2, 2) is None
    assert contention_warning(0, 1) is None
    warning = contention_warning(4, 2)
    assert warning is not None
    assert "4 xdist workers but only 2 CPU(s)" in warning
    assert "-n 2" in warning


def test_records_count_each_test_once(make_result: MakeResult) -> None:
    records = SessionRecords()
    records.add(TestRecord("b", "passed"))
    records.add(TestRecord("a", "failed"))
    records.add(TestRecord("b", "budget-failed"))
    assert [(r.nodeid, r.outcome) for r in records.ordered()] == [
        ("a", "failed"),
        ("b", "budget-failed"),
    ]


def test_record_round_trips_through_a_dict(records: list[TestRecord]) -> None:
    for record in records:
        assert TestRecord.from_dict(
            json.loads(json.dumps(json_safe(record.to_dict())))
        ).to_dict() == json_safe(record.to_dict())


def test_junit_properties(records: list[TestRecord]) -> None:
    props = dict(junit_properties(records[0]))
    assert props["agentperf.outcome"] == "passed"
    assert props["agentperf.throughput"] == 500.0
    assert props["agentperf.p95"] == pytest.approx(0.1)
    assert props["agentperf.memory_growth"] == 1024.0**2
    assert "agentperf.ttft_p95" not in props  # not measured
    several = dict(junit_properties(records[2]))
    assert "agentperf.p95[a]" in several
    assert "agentperf.p95[b]" in several


def test_document_validates_against_the_schema(records: list[TestRecord]) -> None:
    document = build_document(
        records, collect_environment(Path.cwd()), datetime(2025, 1, 2, tzinfo=UTC)
    )
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema)
    assert document["schema"] == "pytest-agentperf/results"
    assert document["version"] == 1
    assert document["created"] == "2025-01-02T00:00:00+00:00"
    assert document["tests"][1]["budgets"][0]["ok"] is False
    json.dumps(document, allow_nan=False)


def test_schema_rejects_a_wrong_outcome(records: list[TestRecord]) -> None:
    document = build_document(records, collect_environment())
    document["tests"][0]["outcome"] = "so-so"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, load_schema())


def test_environment_names_what_matters() -> None:
    env = collect_environment(Path(__file__).parent)
    assert env["cpus"] >= 1
    assert "pytest" in env["packages"]
    assert env["git_commit"] is None or len(env["git_commit"]) == 40


def test_sanitize_turns_non_finite_floats_into_null() -> None:
    assert json_safe({"a": math.nan, "b": (1.0, math.inf), "c": "x"}) == {
        "a": None,
        "b": [1.0, None],
        "c": "x",
    }


def test_gab_files(records: list[TestRecord], tmp_path: Path) -> None:
    document = build_document(records, collect_environment())
    bigger, smaller = gab_entries(document)
    assert {"name": "t.py::test_fast throughput", "unit": "tasks/s", "value": 500.0} in bigger
    assert {"name": "t.py::test_fast p95", "unit": "ms", "value": pytest.approx(100.0)} in smaller
    assert {"name": "t.py::test_fast memory_growth", "unit": "MiB", "value": 1.0} in smaller
    assert any(e["name"] == "t.py::test_two [b] p99" for e in smaller)
    assert gab_paths(tmp_path / "r.json") == (
        tmp_path / "r.gab-bigger.json",
        tmp_path / "r.gab-smaller.json",
    )
    written = write_document(document, tmp_path / "out" / "r.json")
    assert [p.name for p in written] == ["r.json", "r.gab-bigger.json", "r.gab-smaller.json"]
    assert json.loads(written[1].read_text()) == bigger


def test_two_sessions_writing_one_path_never_show_a_reader_half_a_document(
    tmp_path: Path, records: list[TestRecord]
) -> None:
    """Two writers of different documents on one ``--agentperf-json`` path (as two CI jobs
    sharing a folder), one reader polling it: every read is one whole document."""
    path = tmp_path / "r.json"
    docs = [build_document(records[:1], {"n": 1}), build_document(records, {"n": 2})]
    write_document(docs[0], path)
    stop = threading.Event()
    reads: list[str] = []

    def writer(document: dict[str, object]) -> None:
        for _ in range(25):
            write_document(document, path)

    def reader() -> None:
        while not stop.is_set():
            reads.append(path.read_text())

    watcher = threading.Thread(target=reader)
    writers = [threading.Thread(target=writer, args=(d,)) for d in docs]
    for thread in [watcher, *writers]:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    watcher.join()
    seen = [_which(text) for text in reads]
    assert reads
    assert set(seen) <= {1, 2}, f"of {len(seen)} reads: {sorted(set(map(str, seen)))}"


def _which(text: str) -> object:
    """The document ``text`` is (its environment's ``n``), or what is wrong with it."""
    if not text:
        return "empty"
    try:
        return json.loads(text)["environment"]["n"]
    except json.JSONDecodeError:
        return "partial"
