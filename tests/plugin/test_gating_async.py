"""Gating, --help/--markers, asyncio modes, and real workloads through the fixtures."""

from __future__ import annotations

import pytest

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
asyncio_mode = {mode}
"""


def test_help_lists_every_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "performance tests of async LLM agents:",
            "*--agentperf *run performance tests*",
            "*--agentperf-json=PATH*",
            "*--agentperf-html=PATH*",
            "*--agentperf-save=NAME*",
            "*--agentperf-compare=?NAME?*",
            "*--agentperf-compare-fail=EXPR*",
            "*--agentperf-scale=FACTOR*",
            "*--agentperf-seed=N*",
            "*--agentperf-budget=METRIC=LIMIT*",
        ]
    )
    result.stdout.fnmatch_lines(["*agentperf_scale (string):*", "*agentperf_budgets (linelist):*"])


def test_markers_are_listed_in_signature_form(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.agentperf(budget_on='all'): a performance test*",
            "@pytest.mark.throughput(min=..., efficiency=...): *",
            "@pytest.mark.latency(p50=..., p90=..., p95=..., p99=..., p999=..., max=..., "
            "mean=..., ttft_p50=..., ttft_p95=..., ttft_p99=..., itl_p50=..., itl_p95=..., "
            "itl_p99=...): *",
            "@pytest.mark.error_rate(max=...): *",
            "@pytest.mark.memory_growth(max_mb=..., per_task_bytes=...): *",
            "@pytest.mark.llm(calls_per_task=..., tokens_per_task=..., tokens_in_per_task=..., "
            "tokens_out_per_task=..., tool_rounds_per_task=..., retries_per_task=..., "
            "cost_per_task=..., output_tokens_per_s=...): *",
        ]
    )


def test_budget_markers_imply_a_performance_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_agentperf import budget

        pytestmark = pytest.mark.error_rate(max="1%")

        def test_module_marked():
            pass

        class TestGroup:
            @budget(p95="1s")
            def test_budget(self):
                pass

        @pytest.mark.latency(p95="1s")
        async def test_async():
            pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(
        ["*performance test: run with --agentperf (or set 'agentperf = true' in the ini)*"]
    )


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_async_and_sync_tests_run_real_workloads(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makeini(INI.format(mode=mode))
    pytester.makepyfile(
        """
        import asyncio
        import httpx
        import pytest
        from pytest_agentperf import budget

        async def work(payload):
            await asyncio.sleep(0)
            return payload

        @budget(p95="<= 30s", throughput=">= 0.1/s", error_rate="<= 1%")
        async def test_async(agent_perf):
            result = await agent_perf.run(work, n=20, concurrency=4, name="async")
            assert result.completed == 20

        @pytest.mark.error_rate(max="1%")
        def test_sync(agent_perf):
            assert agent_perf.run_sync(work, n=10, concurrency=2).completed == 10

        @pytest.mark.agentperf
        async def test_with_mock(agent_perf, mock_llm):
            async with httpx.AsyncClient() as client:
                async def call(payload):
                    reply = await client.post(
                        mock_llm.base_url + "/v1/chat/completions",
                        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                    )
                    reply.raise_for_status()
                await agent_perf.run(call, n=10, concurrency=2)
            assert mock_llm.stats().calls >= 10
        """
    )
    result = pytester.runpytest("--agentperf", "-v", "--agentperf-seed", "1")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*agentperf summary*", "3 performance tests: 3 passed"])


def test_scale_reaches_the_engine(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        async def work(payload):
            return payload

        @pytest.mark.agentperf
        def test_scaled(agent_perf):
            assert agent_perf.run_sync(work, n=40, concurrency=2).completed == 10
        """
    )
    pytester.runpytest("--agentperf", "--agentperf-scale", "0.25").assert_outcomes(passed=1)


def test_scale_shrinks_a_duration_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def work(payload):
            await asyncio.sleep(0.001)

        @pytest.mark.agentperf
        def test_scaled(agent_perf):
            result = agent_perf.run_sync(work, duration="2s", concurrency=2)
            # 2 s x 0.05: a window of 0.1 s (generous upper bound for a loaded machine;
            # unscaled it would be 2 s)
            assert 0.09 <= result.duration <= 0.6, result.duration
        """
    )
    result = pytester.runpytest("--agentperf", "--agentperf-scale", "0.05")
    result.assert_outcomes(passed=1)


def test_an_asyncio_marked_test_is_not_marked_twice(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(mode="strict"))
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        LOOPS = []

        async def work(payload):
            return payload

        @pytest.mark.asyncio(loop_scope="module")
        @pytest.mark.agentperf
        async def test_first(agent_perf, request):
            marks = [m.kwargs for m in request.node.iter_markers("asyncio")]
            assert marks == [{"loop_scope": "module"}]
            LOOPS.append(asyncio.get_running_loop())
            assert (await agent_perf.run(work, n=5)).completed == 5

        @pytest.mark.asyncio(loop_scope="module")
        @pytest.mark.latency(p95="10s")
        async def test_second(agent_perf, request):
            assert len(list(request.node.iter_markers("asyncio"))) == 1
            LOOPS.append(asyncio.get_running_loop())
            assert (await agent_perf.run(work, n=5)).completed == 5
            assert LOOPS[0] is LOOPS[1]  # the test's own loop_scope holds
        """
    )
    result = pytester.runpytest("--agentperf", "-v", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
