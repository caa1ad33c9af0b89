"""LLM spend in the reports: the summary's columns, the JSON document, the HTML report."""

from __future__ import annotations

import dataclasses
import json
import re

import jsonschema
import pytest

from pytest_agentperf.report.document import gab_entries, load_schema
from pytest_agentperf.report.html import render_html
from pytest_agentperf.report.records import TestRecord
from pytest_agentperf.report.shape import shape_errors
from pytest_agentperf.report.terminal import render_summary
from pytest_agentperf.result import LatencySummary, PerfResult
from tests.factories import document, entry, make_result, make_spend


def spent(name: str = "run", **figures: object) -> PerfResult:
    return dataclasses.replace(make_result(name), llm=make_spend(**figures))  # type: ignore[arg-type]


def test_the_summary_shows_the_columns_that_were_measured() -> None:
    plain = TestRecord(nodeid="test_a.py::test_plain", outcome="passed", results=(make_result(),))
    header = render_summary([plain]).splitlines()[0]
    assert "TTFT" not in header
    assert "calls/task" not in header
    streamed = dataclasses.replace(make_result(), ttft=LatencySummary(count=1, p95=0.0421))
    records = [
        plain,
        TestRecord(nodeid="test_a.py::test_stream", outcome="passed", results=(streamed,)),
        TestRecord(nodeid="test_a.py::test_spend", outcome="passed", results=(spent(),)),
    ]
    lines = render_summary(records, width=200).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "test", "throughput", "p50", "p95", "p99", "errors", "eff.", "CPU/task", "memory",
        "TTFT p95", "calls/task", "tokens/task", "cost/task", "verdict",
    ]  # fmt: skip
    cells = {line.split()[0]: re.split(r"\s{2,}", line) for line in lines[1:4]}
    assert cells["test_a.py::test_stream"][9:13] == ["42.1ms", "-", "-", "-"]
    assert cells["test_a.py::test_spend"][9:13] == ["-", "2", "150", "$0.0021"]


def test_estimated_tokens_are_marked_and_a_missing_price_is_a_dash() -> None:
    spend = dataclasses.replace(
        make_spend(cost=None), tokenizers={"estimate (~4 characters per token)": 200}
    )
    result = dataclasses.replace(make_result(), llm=spend)
    record = TestRecord(nodeid="test_a.py::test_x", outcome="passed", results=(result,))
    row = re.split(r"\s{2,}", render_summary([record], width=200).splitlines()[1])
    assert row[9:11] == ["2", "150~"]
    assert "cost/task" not in render_summary([record], width=200)


def test_the_document_carries_the_distributions_and_validates() -> None:
    doc = document(entry("test_a.py::test_x", spent(unattributed=3)))
    json.dumps(doc, allow_nan=False)
    jsonschema.validate(doc, load_schema())
    assert list(shape_errors(doc, load_schema())) == []
    llm = doc["tests"][0]["results"][0]["llm"]
    assert llm["calls"] == {"total": 200.0, "mean": 2.0, "p50": None, "p95": None, "max": None}
    assert (llm["currency"], llm["unattributed_calls"], llm["estimated"]) == ("USD", 3, False)
    back = PerfResult.from_dict(doc["tests"][0]["results"][0])
    assert back.llm == spent(unattributed=3).llm
    broken = json.loads(json.dumps(doc))
    broken["tests"][0]["results"][0]["llm"]["calls"] = "two"
    errors = list(shape_errors(broken, load_schema()))
    assert errors == ["tests[0].results[0].llm.calls: 'two' is not an object"]


def test_the_benchmark_files_carry_calls_tokens_and_cost_in_its_currency() -> None:
    _, smaller = gab_entries(document(entry("test_a.py::test_x", spent())))
    units = {e["name"].split()[-1]: (e["unit"], e["value"]) for e in smaller}
    assert units["llm_calls_per_task"] == ("count", 2.0)
    assert units["tokens_per_task"] == ("count", 150.0)
    assert units["cost_per_task"] == ("USD", 0.0021)


def test_the_html_report_shows_per_task_distributions() -> None:
    html = render_html(document(entry("test_a.py::test_x", spent(tool_rounds=1.0))))
    assert '<table class="spend"><caption>LLM spend per task (100 tasks)</caption>' in html
    row = re.search(r'<tr data-figure="calls">(.*?)</tr>', html)
    assert row is not None
    assert re.findall(r'data-value="([^"]*)"', row.group(1)) == ["2.0"] * 4 + ["200.0"]
    assert '<tr data-figure="tool_rounds">' in html
    assert "$0.0021" in html


def test_a_sweep_charts_cost_per_task_against_concurrency() -> None:
    steps = [
        spent(f"cost[concurrency={c}]", cost=cost)
        for c, cost in ((4, 0.002), (16, 0.002), (64, 0.003))
    ]
    html = render_html(document(entry("test_a.py::test_sweep", *steps)))
    title = "Cost per 1,000 tasks against concurrency"
    assert title in html
    points = re.findall(r'data-x="([^"]+)" data-y="([^"]+)"', html.split(title)[1])
    assert [(float(x), float(y)) for x, y in points[:3]] == [
        (4.0, pytest.approx(2.0)),
        (16.0, pytest.approx(2.0)),
        (64.0, pytest.approx(3.0)),
    ]
    assert title not in render_html(document(entry("test_a.py::test_x", spent())))


def test_cost_budgets_show_their_currency_in_the_html() -> None:
    budgets = [
        {"metric": "cost_per_task", "op": "<=", "limit": 0.002, "measured": 0.0021, "ok": False,
         "margin": 0.05, "source": "marker", "currency": "EUR"},
    ]  # fmt: skip
    html = render_html(document({**entry("test_a.py::test_x", spent()), "budgets": budgets}))
    assert "&lt;= €0.002</td>" in html
    assert ">€0.0021</td>" in html
