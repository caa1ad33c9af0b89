"""The plugin is found through its entry point and gates performance tests."""

from __future__ import annotations

import pytest


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["performance tests of async LLM agents:", "*--agentperf *run performance tests*"]
    )
    assert result.ret == pytest.ExitCode.OK


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.agentperf*"])


def test_perf_test_is_skipped_without_the_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.agentperf
        def test_perf():
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*performance test: run with --agentperf*"])


def test_perf_test_runs_with_the_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.agentperf
        def test_perf():
            pass
        """
    )
    pytester.runpytest("--agentperf").assert_outcomes(passed=1)
