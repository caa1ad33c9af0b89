"""Settings: defaults from pyproject/ini/CLI, precedence, and bad input as UsageError."""

from __future__ import annotations

import pytest

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
{extra}
"""

# p95 is 200 ms; each test's own budget or the defaults decide.
TESTS = """
import pytest

@pytest.mark.agentperf
def test_default(agent_perf, fake_result):
    agent_perf.record(fake_result(p95=0.2, throughput=50))

@pytest.mark.latency(p95="250ms")
def test_marker_wins(agent_perf, fake_result):
    agent_perf.record(fake_result(p95=0.2, throughput=50))
"""


def test_pyproject_defaults_apply_and_markers_win(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyprojecttoml('[tool.agentperf.budgets]\np95 = "<= 150ms"\n')
    perf_pytester.makepyfile(TESTS)
    result = perf_pytester.runpytest("--agentperf", "-v")
    result.stdout.fnmatch_lines(["*::test_default BUDGET FAILED*", "*::test_marker_wins PASSED*"])
    result.stdout.fnmatch_lines(["  p95     <= 150.0ms  200.0ms   +50.0ms (+33.3%) over"])


def test_cli_beats_pyproject_and_marker_beats_cli(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyprojecttoml('[tool.agentperf.budgets]\np95 = "<= 150ms"\nthroughput = 10\n')
    perf_pytester.makepyfile(TESTS)
    result = perf_pytester.runpytest(
        "--agentperf",
        "-v",
        "--agentperf-budget",
        "p95=<=300ms",
        "--agentperf-budget=throughput=100/s",
    )
    result.stdout.fnmatch_lines(
        ["*::test_default BUDGET FAILED*", "*::test_marker_wins BUDGET FAILED*"]
    )
    result.stdout.fnmatch_lines(["  throughput  >= 100/s    50.0/s    -50.0/s (-50.0%) under"])
    result.stdout.no_fnmatch_line("*p95 *over*")


def test_ini_enables_and_sets_defaults(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makeini(
        INI.format(extra="agentperf = true\nagentperf_budgets =\n    p95=<=100ms")
    )
    perf_pytester.makepyfile(TESTS)
    result = perf_pytester.runpytest("-v")
    result.stdout.fnmatch_lines(["*::test_default BUDGET FAILED*", "*::test_marker_wins PASSED*"])


def test_cli_flag_overrides_the_ini_option(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makeini(INI.format(extra="agentperf_scale = 0.5\nagentperf_seed = 7"))
    perf_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.agentperf
        def test_settings(agent_perf):
            assert (agent_perf.scale, agent_perf.seed) == (0.25, 7)
        """
    )
    result = perf_pytester.runpytest("--agentperf", "--agentperf-scale", "0.25")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["agentperf: scale=0.25, seed=7"])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "@pytest.mark.latency(p96='1s')",
            "ERROR: test_bad.py::test_x: @pytest.mark.latency has no keyword 'p96'; "
            "accepted: p50, p90, p95, p99, p999, max, mean, ttft_p50, ttft_p95, ttft_p99, "
            "itl_p50, itl_p95, itl_p99.",
        ),
        (
            "@pytest.mark.latency(p95='1O0ms')",
            "ERROR: test_bad.py::test_x: @pytest.mark.latency(p95=...): '1O0ms' is not a "
            "duration such as '<= 150ms' or a number of seconds.",
        ),
        (
            "@pytest.mark.throughput('400/s')",
            "ERROR: test_bad.py::test_x: @pytest.mark.throughput takes keyword arguments only, "
            "got '400/s'; accepted: min, efficiency.",
        ),
        (
            "@pytest.mark.error_rate(max='150%')",
            "ERROR: test_bad.py::test_x: @pytest.mark.error_rate(max=...): '150%' is not a "
            "fraction such as '<= 1%' or 0.01.",
        ),
        (
            "@pytest.mark.agentperf(budget_on=3)",
            "ERROR: test_bad.py::test_x: @pytest.mark.agentperf(budget_on=3): accepted: 'all', "
            "'last' or the name of a result.",
        ),
    ],
)
def test_bad_markers_are_usage_errors(pytester: pytest.Pytester, source: str, message: str) -> None:
    pytester.makepyfile(test_bad=f"import pytest\n\n{source}\ndef test_x():\n    pass\n")
    result = pytester.runpytest()  # even without --agentperf
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.lines


def test_bad_budget_key_names_the_accepted_keys(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="from pytest_agentperf import budget\n\n"
        "@budget(p96='1s')\ndef test_x():\n    pass\n"
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "*BudgetConfigError: budget() got unknown limit(s) 'p96'; "
            "accepted: throughput, efficiency, p50*"
        ]
    )


@pytest.mark.parametrize(
    ("pyproject", "args", "message"),
    [
        (
            "[tool.agentperf]\nbudget = 1\n",
            [],
            "[tool.agentperf] has unknown key(s) 'budget'; accepted: budgets, prices.",
        ),
        (
            '[tool.agentperf.budgets]\np95 = "soon"\n',
            [],
            "[tool.agentperf.budgets] p95: 'soon' is not a duration such as '<= 150ms' "
            "or a number of seconds.",
        ),
        (
            "[tool.agentperf.budgets]\nspeed = 1\n",
            [],
            "[tool.agentperf.budgets] speed: unknown metric 'speed'; "
            "accepted: throughput, efficiency,",
        ),
        (
            "",
            ["--agentperf-budget", "p95"],
            "ERROR: --agentperf-budget: 'p95' is not METRIC=LIMIT;",
        ),
        ("", ["--agentperf-scale", "0"], "ERROR: --agentperf-scale: '0' is not a scale factor;"),
        ("", ["--agentperf-seed", "x"], "ERROR: --agentperf-seed: 'x' is not a seed;"),
    ],
)
def test_bad_configuration_is_a_usage_error(
    pytester: pytest.Pytester, pyproject: str, args: list[str], message: str
) -> None:
    if pyproject:
        pytester.makepyprojecttoml(pyproject)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_a_metric_in_both_the_ini_and_pyproject_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(extra="agentperf_budgets =\n    p95=<=100ms\n    p99=1s"))
    pytester.makepyprojecttoml('[tool.agentperf.budgets]\np95 = "<= 150ms"\nthroughput = 10\n')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "ERROR: default budget(s) p95 set both in the ini option 'agentperf_budgets' and in "
        "[tool.agentperf.budgets]; keep one."
    ) in result.stderr.lines


# Writes a file when it runs: the usage errors below must stop the run before any test.
RUNS = """
import pytest

@pytest.mark.agentperf
def test_lat(agent_perf, fake_result, pytestconfig):
    (pytestconfig.rootpath / "ran").touch()
    agent_perf.record(fake_result("lat"))
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_a_missing_baseline_is_a_usage_error_before_any_test(
    perf_pytester: pytest.Pytester, xdist: list[str]
) -> None:
    perf_pytester.makepyfile(test_b=RUNS)
    perf_pytester.runpytest("--agentperf", "--agentperf-save=main").assert_outcomes(passed=1)
    (perf_pytester.path / "ran").unlink()
    result = perf_pytester.runpytest("--agentperf", "--agentperf-compare", "nosuch", *xdist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    stderr = result.stderr.str()
    assert "INTERNALERROR" not in stderr + result.stdout.str()
    assert (
        f"ERROR: No baseline named 'nosuch' in {perf_pytester.path / '.agentperf' / 'baselines'} "
        "(saved baselines: main); save it with 'pytest --agentperf --agentperf-save NAME'."
    ) in stderr
    assert not (perf_pytester.path / "ran").exists()


def test_a_bad_compare_fail_expression_is_a_usage_error_before_any_test(
    perf_pytester: pytest.Pytester,
) -> None:
    perf_pytester.makepyfile(test_b=RUNS)
    result = perf_pytester.runpytest(
        "--agentperf", "--agentperf-compare", "--agentperf-compare-fail", "p95:soon"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "ERROR: 'p95:soon' in the fail expression 'p95:soon' in --agentperf-compare-fail "
    ) in result.stderr.str()
    assert "e.g. 'p95:10%,throughput:-10%,efficiency:-0.05'" in result.stderr.str()
    assert not (perf_pytester.path / "ran").exists()
