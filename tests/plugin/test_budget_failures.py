"""Budgets through pytest: pass, fail with the exact table, status words, parameters."""

from __future__ import annotations

import pytest

FAILING = """
import pytest
from pytest_agentperf import budget

@budget(p95="<= 100ms", throughput=">= 400/s", error_rate="1%")
def test_slow(agent_perf, fake_result):
    agent_perf.record(fake_result(p95=0.142, throughput=312))

@pytest.mark.latency(p95="150ms")
def test_fast(agent_perf, fake_result):
    agent_perf.record(fake_result(p95=0.12))
"""


def test_budget_miss_is_a_failure_with_the_table(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(FAILING)
    result = perf_pytester.runpytest("--agentperf")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*_ test_slow _*",
            "agentperf budget missed: throughput 312/s (limit >= 400/s), "
            "p95 142.0ms (limit <= 100.0ms)",
            "  metric      limit       measured  by",
            "  throughput  >= 400/s    312/s     -88.0/s (-22.0%) under",
            "  p95         <= 100.0ms  142.0ms   +42.0ms (+42.0%) over",
            "  error_rate  <= 1.00%    0.00%     ok",
            "*short test summary info*",
            "BUDGET FAILED *::test_slow - *",
        ]
    )
    result.stdout.fnmatch_lines(["test_*.py B.*"])


def test_status_word_in_verbose_mode(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(FAILING)
    result = perf_pytester.runpytest("--agentperf", "-v")
    result.stdout.fnmatch_lines(["*::test_slow BUDGET FAILED*", "*::test_fast PASSED*"])


def test_declared_budget_without_a_workload_fails(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.throughput(min="10/s")
        def test_forgot(agent_perf):
            pass

        @pytest.mark.agentperf
        def test_no_budget():
            pass
        """
    )
    result = perf_pytester.runpytest("--agentperf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "agentperf budget not checked: the test declares budgets (throughput >= 10.0/s) "
            "but ran no workload; call 'await agent_perf.run(...)' "
            "(or 'agent_perf.run_sync(...)') in it."
        ]
    )


def test_failing_test_is_not_reported_as_a_budget_miss(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.latency(p95="1ms")
        def test_broken(agent_perf, fake_result):
            agent_perf.record(fake_result())
            assert False, "boom"
        """
    )
    result = perf_pytester.runpytest("--agentperf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: boom*", "FAILED *::test_broken - *"])
    result.stdout.no_fnmatch_line("*BUDGET FAILED*")


def test_per_parameter_budgets_override_the_function_marker(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.latency(p95="100ms")
        @pytest.mark.parametrize("p95", [
            0.05,
            pytest.param(0.2, marks=pytest.mark.latency(p95="300ms"), id="relaxed"),
            pytest.param(0.2, id="strict"),
        ])
        def test_param(agent_perf, fake_result, p95):
            agent_perf.record(fake_result(p95=p95))
        """
    )
    result = perf_pytester.runpytest("--agentperf", "-v")
    result.stdout.fnmatch_lines(
        [
            "*test_param[[]0.05] PASSED*",
            "*test_param[[]relaxed] PASSED*",
            "*test_param[[]strict] BUDGET FAILED*",
        ]
    )


def test_budget_on_names_the_result(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.agentperf(budget_on="main")
        @pytest.mark.latency(p95="100ms")
        def test_named(agent_perf, fake_result):
            agent_perf.record(fake_result("warmup", p95=5.0))
            agent_perf.record(fake_result("main", p95=0.05))
        """
    )
    perf_pytester.runpytest("--agentperf").assert_outcomes(passed=1)


def test_memory_budget_needs_a_trend(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.memory_growth(max_mb=1)
        @pytest.mark.parametrize("leak", [False, True])
        def test_mem(agent_perf, fake_result, leak):
            agent_perf.record(fake_result(growth=5 * 1024 ** 2, leak=leak))
        """
    )
    result = perf_pytester.runpytest("--agentperf", "-v")
    result.stdout.fnmatch_lines(["*test_mem[[]False] PASSED*", "*test_mem[[]True] BUDGET FAILED*"])
    result.stdout.fnmatch_lines(["  memory_growth  <= 1.0MiB  5.0MiB    +4.0MiB (+400.0%) over"])


def test_self_check_warnings_are_shown_with_the_test(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.latency(p95="1ms")
        def test_warned(agent_perf, fake_result):
            agent_perf.record(fake_result(warnings=["event-loop lag p99 was 40ms"]))
        """
    )
    result = perf_pytester.runpytest("--agentperf")
    result.stdout.fnmatch_lines(["*- agentperf self-check -*", "event-loop lag p99 was 40ms"])


def test_function_marker_beats_class_and_module_budgets(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(
        """
        import pytest
        from pytest_agentperf import budget

        pytestmark = pytest.mark.latency(p95="50ms")

        @budget(p95="<= 80ms")
        class TestGroup:
            @pytest.mark.latency(p95="300ms")
            def test_function_wins(self, agent_perf, fake_result):
                agent_perf.record(fake_result(p95=0.2))

            def test_class_wins(self, agent_perf, fake_result):
                agent_perf.record(fake_result(p95=0.07))

            def test_class_applies(self, agent_perf, fake_result):
                agent_perf.record(fake_result(p95=0.09))

        def test_module_applies(agent_perf, fake_result):
            agent_perf.record(fake_result(p95=0.07))
        """
    )
    result = perf_pytester.runpytest("--agentperf", "-v")
    result.stdout.fnmatch_lines(
        [
            "*::TestGroup::test_function_wins PASSED*",
            "*::TestGroup::test_class_wins PASSED*",
            "*::TestGroup::test_class_applies BUDGET FAILED*",
            "*::test_module_applies BUDGET FAILED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ TestGroup.test_class_applies _*",
            "  p95     <= 80.0ms  90.0ms    +10.0ms (+12.5%) over",
            "*_ test_module_applies _*",
            "  p95     <= 50.0ms  70.0ms    +20.0ms (+40.0%) over",
        ]
    )


def test_budget_on_last_checks_only_the_last_result(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.agentperf(budget_on="last")
        @pytest.mark.latency(p95="100ms")
        @pytest.mark.parametrize("slow_first", [True, False])
        def test_last(agent_perf, fake_result, slow_first):
            runs = [fake_result("slow", p95=5.0), fake_result("fast", p95=0.05)]
            for run in runs if slow_first else runs[::-1]:
                agent_perf.record(run)
        """
    )
    result = perf_pytester.runpytest("--agentperf", "-v")
    result.stdout.fnmatch_lines(
        ["*::test_last[[]True] PASSED*", "*::test_last[[]False] BUDGET FAILED*"]
    )
    # Only the last result ("slow") is checked: one row, no result column.
    result.stdout.fnmatch_lines(
        [
            "agentperf budget missed: p95 5.00s (limit <= 100.0ms)",
            "  metric  limit       measured  by",
            "  p95     <= 100.0ms  5.00s     +4.90s (+4900.0%) over",
        ]
    )
    result.stdout.no_fnmatch_line("*50.0ms*over*")
