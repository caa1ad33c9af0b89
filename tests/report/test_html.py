from __future__ import annotations

import dataclasses
import random
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pytest_agentperf.report.html import render_html, write_html
from pytest_agentperf.report.svg import nice_ticks
from pytest_agentperf.result import PerfResult, SelfCheck
from pytest_agentperf.verdict.baseline import compare, parse_fail_expr
from tests.factories import build_result, document, entry, lognormal, memory_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Collector(HTMLParser):
    """Collects data-value cells per section, chart titles and external references."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, dict[str, float]] = {}
        self.section = ""
        self.table = ""
        self.titles: list[str] = []
        self.external: list[str] = []
        self.tags: dict[str, int] = {}
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "section":
            self.section = a.get("data-nodeid") or ""
        if tag == "table":
            self.table = a.get("class") or ""
        if (
            tag == "td"
            and self.table in {"summary", "overview"}
            and a.get("data-metric")
            and a.get("data-value")
        ):
            table = self.values.setdefault(self.section, {})
            table.setdefault(str(a["data-metric"]), float(str(a["data-value"])))
        for key in ("src", "href"):
            value = a.get(key)
            if value and not value.startswith("#"):
                self.external.append(value)
        if tag in {"script", "link", "iframe", "img"}:
            self.external.append(tag)
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.titles.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def _rich_document() -> dict[str, Any]:
    rng = random.Random(9)
    windows = [rng.gauss(400, 20) for _ in range(12)]
    base = build_result(lognormal(rng, 2000), windows, name="steady")
    cur = build_result(
        lognormal(rng, 2000, scale=1.3),
        windows,
        name="steady",
        efficiency=0.91,
        memory=memory_report(),
        failed=7,
    )
    budgets = [
        {
            "metric": "p95",
            "op": "<=",
            "limit": 0.15,
            "measured": cur.latency.p95,
            "ok": True,
            "margin": -0.2,
            "source": "marker",
        },
        {
            "metric": "throughput",
            "op": ">=",
            "limit": 500.0,
            "measured": cur.throughput,
            "ok": False,
            "margin": -0.2,
            "source": "cli",
        },
    ]
    comparison = compare(base, cur, parse_fail_expr("p95:10%,throughput:-5%")).to_dict()
    return document(
        entry(
            "tests/test_perf.py::test_agent",
            cur,
            outcome="regressed",
            budgets=budgets,
            comparison=comparison,
        ),
        entry("tests/test_perf.py::test_empty", outcome="skipped"),
    )


def test_numbers_in_the_html_match_the_json() -> None:
    doc = _rich_document()
    page = _Collector()
    page.feed(render_html(doc))
    result = doc["tests"][0]["results"][0]
    values = page.values["tests/test_perf.py::test_agent"]
    assert values["throughput"] == result["throughput"]
    for p in ("p50", "p90", "p95", "p99", "max"):
        assert values[p] == result["latency"][p]
    assert values["completed"] == result["completed"]
    assert values["failed"] == 7
    assert values["error_rate"] == result["error_rate"]
    assert values["efficiency"] == 0.91
    assert values["memory_growth"] == result["memory"]["growth_bytes"]
    # the overview table repeats the headline numbers
    assert page.values[""]["p95"] == result["latency"]["p95"]


def test_budgets_comparison_and_charts_are_present() -> None:
    doc = _rich_document()
    text = render_html(doc)
    page = _Collector()
    page.feed(text)
    assert {
        "Throughput over time",
        "Latency percentiles over time",
        "Latency distribution",
        "Memory over the run",
    } <= set(page.titles)
    assert page.tags["svg"] == 4
    assert "Budgets" in text
    assert '<span class="verdict miss">miss</span>' in text
    assert "Comparison with the baseline (steady) - regressed: yes" in text
    row = doc["tests"][0]["comparison"]["rows"][0]
    assert f'data-value="{row["baseline"]!r}"' in text
    assert f'data-value="{row["change"]!r}"' in text
    assert 'data-outcome="regressed"' in text
    # The histogram's bars hold every sampled request not cut off as "slower than".
    bars = sum(int(c) for c in __import__("re").findall(r'data-count="(\d+)"', text))
    assert 1900 <= bars <= 2000


def test_works_offline_and_escapes() -> None:
    doc = _rich_document()
    doc["tests"][0]["nodeid"] = "tests/test_perf.py::test_agent[<script>]"
    text = render_html(doc)
    page = _Collector()
    page.feed(text)
    assert page.external == []
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


def test_empty_document() -> None:
    assert "No performance tests ran." in render_html(document())


def test_nice_ticks() -> None:
    assert nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0.0012, 0.0049) == [0.001, 0.002, 0.003, 0.004, 0.005]
    assert nice_ticks(5, 5) == [5, 6, 7, 8, 9, 10]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")
def test_renders_in_headless_chromium(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    page = write_html(_rich_document(), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,2400",
    ]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count("<svg") == 4  # the browser parsed every chart
    assert "Latency distribution" in dom
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 20_000  # a blank page is a few KB


def test_plugin_comparison_shapes() -> None:
    doc = _rich_document()
    one = doc["tests"][0]["comparison"]
    doc["tests"][0]["comparison"] = {**one, "all": [one, {**one, "name": "second"}]}
    doc["tests"][1]["comparison"] = {"regressed": False, "rows": [], "note": "not in the baseline"}
    text = render_html(doc)
    assert "Comparison with the baseline (second)" in text
    assert "Baseline comparison: not in the baseline." in text


def test_noted_figures_are_shown_escaped() -> None:
    doc = _rich_document()
    doc["tests"][0]["figures"] = {"speedup": 95.3, "label": "<b>x</b>"}
    text = render_html(doc)
    assert "Figures noted by the test" in text
    assert '<td data-figure="speedup">95.3</td>' in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert "Figures noted by the test" not in render_html(_rich_document())


def test_an_inconclusive_comparison_shows_both_machines_and_its_intervals() -> None:
    doc = _rich_document()
    base = cur = PerfResult.from_dict(doc["tests"][0]["results"][0])
    quiet = dataclasses.replace(base, selfcheck=SelfCheck(run_queue_wait=0.01, cpus=2))
    busy = dataclasses.replace(
        cur,
        latency=dataclasses.replace(cur.latency, p95=cur.latency.p95 * 1.5),
        samples=tuple(s * 1.5 for s in cur.samples),
        selfcheck=SelfCheck(run_queue_wait=0.4, other_cpu=1.8, cpus=2),
    )
    comparison = compare(quiet, busy, parse_fail_expr("p95:10%"))
    assert comparison.inconclusive
    doc["tests"][0]["comparison"] = comparison.to_dict()
    text = render_html(doc)
    assert '<span class="verdict inconclusive" title="no agent CPU per task' in text
    assert "inconclusive: the machine was busier" in text
    assert '<p class="machine">machine, baseline: run-queue wait 1%' in text
    assert "machine, current:  run-queue wait 40%, other processes 1.8 of 2 CPUs" in text
    low, high = comparison.rows[0].interval or (None, None)
    assert f'data-low="{low!r}" data-high="{high!r}"' in text
    assert '<th scope="col">95% interval</th>' in text
