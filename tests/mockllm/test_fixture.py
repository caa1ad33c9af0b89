"""The ``mock_llm`` fixture in a suite: zero-change SDKs, blocked hosts, options, advice."""

from __future__ import annotations

import anthropic
import httpcore
import httpcore2
import httpx2
import openai
import pytest

import pytest_agentperf.mockllm._httpx2
import pytest_agentperf.plugin.fixtures

# In-process pytester runs restore sys.modules afterwards: import here what inner runs use.
PRELOADED = (anthropic, httpcore, httpcore2, httpx2, openai, pytest_agentperf.mockllm._httpx2)

ZERO_CHANGE = """
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI
from pytest_agentperf import budget, first_token

HI = [{"role": "user", "content": "hi"}]


@budget(error_rate="<= 1%")
async def test_sdks_built_with_no_arguments(agent_perf, mock_llm):
    mock_llm.configure(ttft="5ms", output_tokens=4)
    oai, claude = AsyncOpenAI(), AsyncAnthropic()

    async def task(i):
        await oai.chat.completions.create(model="gpt-4o-mini", messages=HI)
        async with oai.responses.stream(model="gpt-4o-mini", input="hi") as stream:
            async for event in stream:
                if event.type == "response.output_text.delta":
                    first_token()
        await claude.messages.create(model="claude-x", max_tokens=9, messages=HI)

    result = await agent_perf.run(task, n=6, concurrency=3, warmup=0)
    assert result.failed == 0
    assert mock_llm.stats().calls == 18
    assert result.ttft is not None
"""


def test_the_sdks_reach_the_mock_with_no_setup(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ZERO_CHANGE)
    result = pytester.runpytest("--agentperf")
    result.assert_outcomes(passed=1)


UNMOCKED = """
import httpx2
import pytest
from pytest_agentperf import budget


@budget(error_rate="<= 50%")
async def test_agent_calls_a_tool_api(agent_perf, mock_llm):
    async def task(i):
        async with httpx2.AsyncClient() as client:
            url = mock_llm.base_url + "/chat/completions"
            await client.post(url, json={"model": "m", "messages": []})
            try:
                await client.get("https://weather.example.com/today")
            except httpx2.ConnectError:
                pass  # the agent swallows it: the test must still fail

    await agent_perf.run(task, n=4, concurrency=2, warmup=0)


@pytest.mark.asyncio
async def test_plain_test_with_the_fixture(mock_llm):
    async with httpx2.AsyncClient() as client:
        await client.get("https://tools.example.com:8443/search")
"""


def test_a_request_to_an_unmocked_host_fails_the_test_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(UNMOCKED)
    result = pytester.runpytest("--agentperf")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*mock_llm: blocked 4 request(s) to unmocked hosts: weather.example.com (4)*",
            "*ConnectError: mock LLM: blocked a request to https://tools.example.com:8443*",
            "*mock_llm: blocked 1 request(s) to unmocked hosts: tools.example.com:8443 (1)*",
        ]
    )


ZERO_CALLS = """
import asyncio
from pytest_agentperf import budget


@budget(p95="<= 1s")
async def test_target_never_calls_the_mock(agent_perf, mock_llm):
    async def task(i):
        await asyncio.sleep(0)

    await agent_perf.run(task, n=5, concurrency=2, warmup=0)
"""


def test_a_workload_that_never_reached_the_mock_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ZERO_CALLS)
    result = pytester.runpytest("--agentperf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the workload ran 5 tasks but made no calls to the mock LLM*"])


OPTIONS = """
import os
import httpx2
import pytest


@pytest.mark.mock_llm(hosts=["https://llm.corp.example/v1"], allow=["{allowed}"],
                      env={{"OPENAI_API_BASE": None, "GATEWAY_TOKEN": "t-{{root}}"}})
async def test_marker_and_suite_options(mock_llm):
    async with httpx2.AsyncClient() as client:
        for host in ("https://gateway.example", "https://llm.corp.example/v1",
                     "https://myres.openai.azure.com/openai"):
            body = {{"model": "m", "messages": []}}
            answer = await client.post(host + "/chat/completions", json=body)
            assert answer.status_code == 200, host
    assert mock_llm.allow == ("{allowed}",)
    assert os.environ["GATEWAY_TOKEN"] == "t-http://127.0.0.2:9"
    assert "OPENAI_API_BASE" not in os.environ
    assert os.environ["ANTHROPIC_API_KEY"] == "from-ini"
    assert mock_llm.base_url == "http://127.0.0.2:9/v1"
"""
OPTIONS_INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
asyncio_mode = auto
mock_llm_hosts =
    https://gateway.example
mock_llm_env =
    ANTHROPIC_API_KEY=from-ini
mock_llm_base_url = http://127.0.0.2:9/v1
"""


def test_ini_cli_and_marker_options(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_BASE", "ANTHROPIC_API_KEY", "GATEWAY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini(OPTIONS_INI)
    pytester.makepyfile(OPTIONS.format(allowed="db.internal:5432"))
    result = pytester.runpytest(
        "--mock-llm-host", "azure", "--mock-llm-host", "https://gateway.example"
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--mock-llm-host", "opneai"],
            "*--mock-llm-host[[]0[]]='opneai' is not accepted*not a known provider*",
        ),
        (["--mock-llm-allow", "db/x"], "*--mock-llm-allow[[]0[]]='db/x'*needs a scheme*"),
        (["--mock-llm-env", "OPENAI_BASEURL=x"], "*misspelt OPENAI_BASE_URL*"),
        (["--mock-llm-env", "JUSTANAME"], "*--mock-llm-env: 'JUSTANAME' is not NAME=VALUE*"),
        (["--mock-llm-base-url", "ftp://x"], "*--mock-llm-base-url='ftp://x'*scheme 'ftp'*"),
        (["--mock-llm-base-url", "localhost:8000"], "*--mock-llm-base-url='localhost:8000'*a URL*"),
    ],
)
def test_bad_options_stop_the_run_naming_them(
    pytester: pytest.Pytester, args: list[str], expected: str
) -> None:
    pytester.makepyfile("def test_nothing(mock_llm):\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


BAD_MARKERS = """
import pytest


@pytest.mark.mock_llm(host=["x.example.com"])
def test_unknown_keyword(mock_llm):
    pass


@pytest.mark.mock_llm(allow="not a host")
def test_bad_host(mock_llm):
    pass


@pytest.mark.mock_llm(env=["OPENAI_API_KEY"])
def test_bad_env(mock_llm):
    pass
"""


def test_bad_markers_error_the_test_naming_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BAD_MARKERS)
    result = pytester.runpytest()
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*test_unknown_keyword: @pytest.mark.mock_llm has no keyword 'host'; "
            "accepted: hosts, allow, env, base_url.",
            "*allow[[]0[]]='not a host' is not accepted: it is empty or contains spaces*",
            "*@pytest.mark.mock_llm(env=[[]'OPENAI_API_KEY'[]]) must be a mapping*",
        ]
    )


ADVICE = """
import httpx2
from pytest_agentperf import Faults, budget


@budget(error_rate="<= 100%")
async def test_wrong_route(agent_perf, mock_llm):
    async def task(i):
        async with httpx2.AsyncClient() as client:
            answer = await client.post(mock_llm.base_url + "/chat/complete", json={})
            answer.raise_for_status()

    await agent_perf.run(task, n=4, concurrency=2, warmup=0)


@budget(error_rate="<= 100%")
async def test_injected_faults(agent_perf, mock_llm):
    mock_llm.configure(faults=Faults(rate_limit=1.0))
    async def task(i):
        async with httpx2.AsyncClient() as client:
            answer = await client.post(mock_llm.base_url + "/chat/completions", json={"model": "m"})
            answer.raise_for_status()

    await agent_perf.run(task, n=4, concurrency=2, warmup=0)


@budget(error_rate="<= 100%")
async def test_own_errors(agent_perf, mock_llm):
    async def task(i):
        async with httpx2.AsyncClient() as client:
            await client.post(mock_llm.base_url + "/chat/completions", json={"model": "m"})
        raise KeyError("parsing the answer")

    await agent_perf.run(task, n=4, concurrency=2, warmup=0)
"""


def test_recommendations_name_the_real_cause(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ADVICE)
    result = pytester.runpytest("--agentperf")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines_random(
        [
            "*test_wrong_route: 100.00% of tasks failed (4 of 4), mostly HTTPStatusError (4): "
            "requests hit routes the mock LLM does not serve: POST /v1/chat/complete (4)*",
            "*test_injected_faults: 100.00% of tasks failed*the mock injected 4 fault(s): "
            "check retry and circuit-breaker settings*",
            "*test_own_errors: 100.00% of tasks failed*mostly KeyError (4): the mock LLM injected "
            "no faults, so these are the agent's own errors*",
        ]
    )
    assert "check retry" not in "\n".join(
        line for line in result.stdout.lines if "test_own_errors" in line
    )
