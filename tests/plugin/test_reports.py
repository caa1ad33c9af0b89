"""Reports through pytest: summary, JSON (schema), JUnit properties, baselines, xdist."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from pytest_agentperf.report.document import load_schema
from tests.plugin.test_xfail import TESTS as XFAIL_TESTS

TESTS = """
import pytest

@pytest.mark.latency(p95="150ms")
def test_fast(agent_perf, fake_result):
    agent_perf.record(fake_result("fast", p95=0.1, warnings=["event-loop lag was high"]))

@pytest.mark.throughput(min="400/s")
@pytest.mark.parametrize("rate", [300, 600])
def test_rate(agent_perf, fake_result, rate):
    agent_perf.record(fake_result("rate", throughput=rate))

@pytest.mark.agentperf
def test_broken(agent_perf, fake_result):
    agent_perf.record(fake_result())
    raise RuntimeError("boom")

def test_plain():
    pass
"""


def test_summary_lines(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(test_s=TESTS)
    result = perf_pytester.runpytest("--agentperf")
    result.stdout.fnmatch_lines(
        [
            "*= agentperf summary =*",
            "test *throughput*p50*p95*p99*errors*eff.*CPU/task*memory*verdict",
            "test_s.py::test_broken *500/s*50.0ms*100.0ms*200.0ms*0.00%*0.95*-*FAILED",
            "test_s.py::test_fast *500/s*passed",
            "test_s.py::test_rate[[]300] *300/s*BUDGET FAILED",
            "test_s.py::test_rate[[]600] *600/s*passed",
            "4 performance tests: 2 passed, 1 failed, 1 budget-failed",
            "self-check warnings (the harness's own figures are doubtful):",
            "  test_s.py::test_fast: event-loop lag was high",
        ]
    )


def test_quiet_summary_is_one_line(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(test_s=TESTS)
    result = perf_pytester.runpytest("--agentperf", "-q")
    result.stdout.fnmatch_lines(
        ["*= agentperf summary =*", "4 performance tests: 2 passed, 1 failed, 1 budget-failed"]
    )
    result.stdout.no_fnmatch_line("test *throughput*")


def test_no_summary_without_performance_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest("--agentperf")
    result.stdout.no_fnmatch_line("*agentperf summary*")


def test_json_junit_and_html(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(test_s=TESTS)
    result = perf_pytester.runpytest(
        "--agentperf",
        "--agentperf-json=out/r.json",
        "--agentperf-html=out/r.html",
        "--junitxml=j.xml",
    )
    result.stdout.fnmatch_lines(["agentperf: wrote *r.json", "agentperf: wrote *r.gab-bigger.json"])
    document = json.loads((perf_pytester.path / "out" / "r.json").read_text())
    jsonschema.validate(document, load_schema())
    outcomes = {t["nodeid"]: t["outcome"] for t in document["tests"]}
    assert outcomes == {
        "test_s.py::test_broken": "failed",
        "test_s.py::test_fast": "passed",
        "test_s.py::test_rate[300]": "budget-failed",
        "test_s.py::test_rate[600]": "passed",
    }
    assert document["tests"][2]["budgets"][0]["source"] == "marker"
    assert document["tests"][1]["results"][0]["timeseries"][0]["completed"] == 1000
    bigger = json.loads((perf_pytester.path / "out" / "r.gab-bigger.json").read_text())
    assert {
        "name": "test_s.py::test_rate[600] throughput",
        "unit": "tasks/s",
        "value": 600,
    } in bigger
    assert "<html" in (perf_pytester.path / "out" / "r.html").read_text()
    props = {
        (case.get("name"), p.get("name")): p.get("value")
        for case in ET.parse(perf_pytester.path / "j.xml").iter("testcase")
        for p in case.iter("property")
    }
    assert props[("test_fast", "agentperf.p95")] == "0.1"
    assert props[("test_rate[300]", "agentperf.outcome")] == "budget-failed"
    assert ("test_plain", "agentperf.outcome") not in props


def test_baseline_save_then_compare_flags_a_regression(perf_pytester: pytest.Pytester) -> None:
    source = """
        import pytest

        @pytest.mark.agentperf
        def test_lat(agent_perf, fake_result):
            agent_perf.record(fake_result("lat", p95={p95}))
        """
    perf_pytester.makepyfile(test_b=source.format(p95=0.1))
    saved = perf_pytester.runpytest("--agentperf", "--agentperf-save=main")
    saved.assert_outcomes(passed=1)
    assert (perf_pytester.path / ".agentperf" / "baselines" / "main.json").is_file()
    perf_pytester.makepyfile(test_b=source.format(p95=0.3))
    result = perf_pytester.runpytest(
        "--agentperf", "--agentperf-compare", "--agentperf-compare-fail=p95:10%", "-v"
    )
    result.stdout.fnmatch_lines(["*::test_lat REGRESSED*", "REGRESSED against the baseline*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_regression_on_a_busier_machine_is_inconclusive_and_passes(
    perf_pytester: pytest.Pytester,
) -> None:
    # The recorded results carry their machine: run-queue wait 1% when saved, 40% now.
    source = """
        import dataclasses
        import pytest
        from pytest_agentperf import SelfCheck

        @pytest.mark.agentperf
        def test_lat(agent_perf, fake_result):
            check = SelfCheck(run_queue_wait={wait}, other_cpu=1.8, cpus=2)
            agent_perf.record(dataclasses.replace(fake_result("lat", p95={p95}), selfcheck=check))
        """
    perf_pytester.makepyfile(test_b=source.format(p95=0.1, wait=0.01))
    perf_pytester.runpytest("--agentperf", "--agentperf-save=main").assert_outcomes(passed=1)
    perf_pytester.makepyfile(test_b=source.format(p95=0.3, wait=0.40))
    result = perf_pytester.runpytest(
        "--agentperf", "--agentperf-compare", "--agentperf-compare-fail=p95:10%",
        "--agentperf-json=r.json",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_b.py::test_lat: INCONCLUSIVE against the baseline (lat): p95 +200.0% beyond "
            "+10%, >99.9% confidence, but this run's machine was materially busier "
            "(run-queue wait 1% -> 40% (+39 points >= 5%)) and CPU per task does not confirm it."
        ]
    )
    comparison = json.loads((perf_pytester.path / "r.json").read_text())["tests"][0]["comparison"]
    assert (comparison["regressed"], comparison["inconclusive"]) == (False, True)
    assert comparison["machine"]["current"]["run_queue_wait"] == 0.4
    assert comparison["rows"][0]["verdict"] == "inconclusive"


def test_xdist_workers_results_are_merged(perf_pytester: pytest.Pytester) -> None:
    # test_x: xfail verdicts (made on the workers) travel to the controller too; test_r: a
    # result JSON cannot hold fails its test on the worker (it was an INTERNALERROR)
    perf_pytester.makepyfile(test_s=TESTS, test_x=XFAIL_TESTS, test_r=RECORD_DECIMAL)
    result = perf_pytester.runpytest_subprocess(
        "--agentperf", "-n", "2", "--agentperf-json=r.json", "-rf"
    )
    result.assert_outcomes(passed=3, failed=4, xfailed=3, xpassed=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(
        ["10 performance tests: 3 passed, 3 failed, 1 budget-failed, 3 xfailed"]
    )
    result.stdout.fnmatch_lines(["*BUDGET FAILED*test_rate[[]300]*"])
    result.stdout.fnmatch_lines(["FAILED test_r.py::test_decimal - *ResultError: agent_p*"])
    document = json.loads((perf_pytester.path / "r.json").read_text())
    nodeids = [t["nodeid"] for t in document["tests"]]
    assert sorted(nodeids) == nodeids
    assert len(nodeids) == len(set(nodeids)) == 10
    jsonschema.validate(document, load_schema())


RECORD_DECIMAL = """
import dataclasses
import decimal

import pytest

@pytest.mark.agentperf
def test_decimal(agent_perf, fake_result):
    agent_perf.record(dataclasses.replace(fake_result(), extra={"cost": decimal.Decimal("0.1")}))
"""


# Appended to the inner conftest: every process logs what it writes (baselines, HTML), and
# the run sees one usable CPU (so two workers contend).
XDIST_CONFTEST = """
from pathlib import Path

import pytest_agentperf.verdict.store as store
import pytest_agentperf.report.environment as environment
import pytest_agentperf.report.html as html

WRITES = Path(__file__).parent / "writes.log"
ROLE = []


def pytest_configure(config):
    ROLE.append(config.workerinput["workerid"] if hasattr(config, "workerinput") else "controller")


def _spy(kind, real):
    def spy(*args, **kwargs):
        with WRITES.open("a") as log:
            log.write(f"{kind} {ROLE[-1]}\\n")
        return real(*args, **kwargs)

    return spy


store.BaselineStore.save = _spy("save", store.BaselineStore.save)
html.write_html = _spy("html", html.write_html)
environment.usable_cpus = lambda: 1
"""

NOTED = """
import pytest

@pytest.mark.agentperf
@pytest.mark.parametrize("i", range(4))
def test_noted(agent_perf, fake_result, i):
    agent_perf.record(fake_result(throughput=100.0 * (i + 1)))
    agent_perf.note(index=i, speedup=1.5 * i, label=f"run {i}")
"""

CONTENTION = (
    "performance tests ran in parallel on 2 xdist workers but only 1 CPU(s) are available: "
    "they contend for CPU, so latencies are inflated and throughput deflated. Run "
    "performance tests with fewer workers (e.g. -n 0 or -n 1)."
)


def test_xdist_controller_writes_figures_travel_contention_warned(
    perf_pytester: pytest.Pytester,
) -> None:
    conftest = perf_pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + XDIST_CONFTEST)
    perf_pytester.makepyfile(test_n=NOTED)
    result = perf_pytester.runpytest_subprocess(
        "--agentperf", "-n", "2", "--agentperf-save=main", "--agentperf-html=r.html"
    )
    result.assert_outcomes(passed=4)
    # Only the controller writes the baseline and the HTML report, once each.
    writes = (perf_pytester.path / "writes.log").read_text().splitlines()
    assert sorted(writes) == ["html controller", "save controller"]
    page = (perf_pytester.path / "r.html").read_text()
    assert all(f"test_n.py::test_noted[{i}]" in page for i in range(4))
    # agent_perf.note() figures come back from the workers.
    result.stdout.fnmatch_lines(
        [
            "figures:",
            "  test_n.py::test_noted[[]0]: index=0, speedup=0, label=run 0",
            "  test_n.py::test_noted[[]1]: index=1, speedup=1.5, label=run 1",
            "  test_n.py::test_noted[[]2]: index=2, speedup=3, label=run 2",
            "  test_n.py::test_noted[[]3]: index=3, speedup=4.5, label=run 3",
        ]
    )
    saved = json.loads((perf_pytester.path / ".agentperf" / "baselines" / "main.json").read_text())
    figures = {t["nodeid"]: t["figures"] for t in saved["results"]["tests"]}
    assert figures == {
        f"test_n.py::test_noted[{i}]": {"index": i, "speedup": 1.5 * i, "label": f"run {i}"}
        for i in range(4)
    }
    # More workers than CPUs: warned in the header and after the summary.
    result.stdout.fnmatch_lines([f"agentperf: WARNING: {CONTENTION}"])
    result.stdout.fnmatch_lines(["*agentperf summary*", f"WARNING: {CONTENTION}"])
    assert saved["environment"]["cpus"] == 1
