"""Bad markers and settings end in one clear usage error (also under xdist), never an
INTERNALERROR: what was wrong, where it came from, what is accepted."""

from __future__ import annotations

import json

import pytest

BAD_MARKERS = """
import json

import pytest

@pytest.mark.latency(p95="fast")
def test_bad(agent_perf, pytestconfig):
    (pytestconfig.rootpath / "ran").touch()

@pytest.mark.latency(p95="1s")
def test_good(agent_perf, pytestconfig):
    (pytestconfig.rootpath / "ran").touch()

@pytest.mark.error_rate(max="150%")
def test_bad_too(agent_perf, pytestconfig):
    (pytestconfig.rootpath / "ran").touch()
"""

RUNS = """
import json

import pytest

@pytest.mark.agentperf
def test_lat(agent_perf, fake_result):
    agent_perf.record(fake_result("lat"))
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_invalid_markers_are_a_usage_error_naming_each_test(
    perf_pytester: pytest.Pytester, xdist: list[str]
) -> None:
    perf_pytester.makepyfile(test_bad=BAD_MARKERS)
    run = perf_pytester.runpytest_subprocess if xdist else perf_pytester.runpytest
    result = run("--agentperf", *xdist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    result.stderr.fnmatch_lines(
        [
            "ERROR: test_bad.py::test_bad: @pytest.mark.latency(p95=...): 'fast' is not a "
            "duration such as '<= 150ms' or a number of seconds.",
            "ERROR: test_bad.py::test_bad_too: @pytest.mark.error_rate(max=...): '150%' is not "
            "a fraction such as '<= 1%' or 0.01.",
        ]
    )
    assert not (perf_pytester.path / "ran").exists()  # no test ran, not even the good one


@pytest.mark.parametrize(
    ("toml", "kind"),
    [
        ("agentperf = 5", "an integer (5)"),
        ('agentperf = ["budgets"]', "an array ([[]'budgets'[]])"),
        ('agentperf = "p95=1s"', "a string ('p95=1s')"),
    ],
)
def test_a_tool_agentperf_that_is_not_a_table_is_a_usage_error(
    perf_pytester: pytest.Pytester, toml: str, kind: str
) -> None:
    perf_pytester.makepyprojecttoml(f"[tool]\n{toml}\n")
    perf_pytester.makepyfile(test_b=RUNS)
    result = perf_pytester.runpytest("--agentperf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines(
        [
            f"ERROR: {perf_pytester.path / 'pyproject.toml'}: [[]tool.agentperf[]] must be a "
            f"table, not {kind}; write it as a table, e.g. '[[]tool.agentperf.budgets[]]' "
            "followed by lines METRIC = LIMIT such as 'p95 = \"<= 200ms\"'."
        ]
    )


def test_an_ini_boolean_that_is_not_one_names_the_ini_key(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nagentperf = maybe\n"
    )
    perf_pytester.makepyfile(test_b=RUNS)
    result = perf_pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: ini option 'agentperf': invalid truth value 'maybe'; use true or false "
            "(also 1/0, yes/no, on/off)."
        ]
    )


@pytest.mark.parametrize("line", ["p95 <= 200ms", "p95 < 1s", "p95"])
def test_an_ini_budget_without_metric_equals_limit_says_so(
    perf_pytester: pytest.Pytester, line: str
) -> None:
    perf_pytester.makeini(
        f"[pytest]\nasyncio_default_fixture_loop_scope = function\nagentperf_budgets = {line}\n"
    )
    perf_pytester.makepyfile(test_b=RUNS)
    result = perf_pytester.runpytest("--agentperf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: ini option 'agentperf_budgets': {line!r} is not METRIC=LIMIT; use e.g. "
            "'p95=<=200ms' or 'throughput=400/s'."
        ]
    )


def test_a_baseline_of_the_wrong_shape_is_a_usage_error_before_any_test(
    perf_pytester: pytest.Pytester,
) -> None:
    perf_pytester.makepyfile(
        test_b=RUNS.replace(
            "):\n", ", pytestconfig):\n    (pytestconfig.rootpath / 'ran').touch()\n"
        )
    )
    perf_pytester.runpytest("--agentperf", "--agentperf-save=main").assert_outcomes(passed=1)
    (perf_pytester.path / "ran").unlink()
    saved = perf_pytester.path / ".agentperf" / "baselines" / "main.json"
    entry = json.loads(saved.read_text())
    entry["results"]["tests"] = [1]
    saved.write_text(json.dumps(entry))
    result = perf_pytester.runpytest("--agentperf", "--agentperf-compare", "main")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines(
        [
            f"ERROR: the baseline '{saved}' is not a valid pytest-agentperf results document: "
            "tests[[]0[]]: 1 is not an object. *"
        ]
    )
    assert not (perf_pytester.path / "ran").exists()
