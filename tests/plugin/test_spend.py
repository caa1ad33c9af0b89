"""A downstream suite gates what its agent spends: budgets, exact baselines, bad input."""

from __future__ import annotations

import json

import jsonschema
import pytest

from pytest_agentperf.report.document import load_schema

# An agent whose every task makes CALLS chat calls through the openai SDK (httpx2,
# intercepted), the second one after a tool round.
AGENT = """
import openai
import pytest
from pytest_agentperf import Script, ToolCall, budget

CALLS = {calls}
CLIENT = []


async def handle(ticket: int) -> None:
    if not CLIENT:  # one client for the test (building one costs milliseconds)
        CLIENT.append(openai.AsyncOpenAI(max_retries=0))
    client = CLIENT[0]
    messages = [{{"role": "user", "content": f"where is order {{ticket}}?"}}]
    for _ in range(CALLS):
        reply = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        message = reply.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls or ():
            messages.append({{"role": "tool", "tool_call_id": call.id, "content": "shipped"}})


{marks}
async def test_agent(agent_perf, mock_llm):
    mock_llm.configure(
        latency="1ms",
        output_tokens=8,
        replies=[Script(lambda r: r.last_role == "tool", "It has shipped."),
                 Script("order", ToolCall("lookup_order", {{"id": 1}}))],
    )
    await agent_perf.run(handle, n=40, concurrency=8, warmup=0)
    await CLIENT.pop().close()
"""
PRICES = """
[tool.agentperf.prices]
currency = "USD"
"gpt-4o-mini" = { input = 0.15, output = 0.60 }
"""


def write(pytester: pytest.Pytester, calls: int, marks: str = "@pytest.mark.agentperf") -> None:
    pytester.makepyfile(test_spend=AGENT.format(calls=calls, marks=marks))


def test_two_calls_per_task_fail_a_budget_of_one(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyprojecttoml(PRICES)
    marks = '@budget(llm_calls_per_task="<= 1", tokens_per_task="<= 3k", cost_per_task="<= $1")'
    write(perf_pytester, calls=2, marks=marks)
    result = perf_pytester.runpytest("--agentperf", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "agentperf budget missed: llm_calls_per_task 2 (limit <= 1)*",
            "*llm_calls_per_task*<= 1*2*",
            "*tokens_per_task*<= 3,000*ok*",
            "*cost_per_task*<= $1.00*$0.0000*ok*",
        ]
    )
    # the summary shows the per-task figures
    result.stdout.fnmatch_lines(["test *calls/task*tokens/task*cost/task*verdict*"])


def test_a_third_call_regresses_against_the_baseline(perf_pytester: pytest.Pytester) -> None:
    perf_pytester.makepyprojecttoml(PRICES)
    write(perf_pytester, calls=2)
    saved = perf_pytester.runpytest("--agentperf", "--agentperf-save=main")
    saved.assert_outcomes(passed=1)
    # "exact": the spend figures only, so that this test's timing noise cannot fail it
    exact = "--agentperf-compare-fail=exact"
    same = perf_pytester.runpytest("--agentperf", "--agentperf-compare=main", exact, "-v")
    same.assert_outcomes(passed=1)
    same.stdout.fnmatch_lines(["*test_agent PASSED*"])
    write(perf_pytester, calls=3)
    result = perf_pytester.runpytest(
        "--agentperf", "--agentperf-compare=main", exact, "--agentperf-json=r.json"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "REGRESSED against the baseline (handle): llm_calls_per_task 2 -> 3 (+50.0%, "
            "beyond +0%, exact)*",
            "*llm_calls_per_task*2*3*+50.0%*+0%*exact*REGRESSED*",
            "*per task, llm calls 2 -> 3*since the baseline; likely a new LLM call*",
        ]
    )
    document = json.loads((perf_pytester.path / "r.json").read_text())
    jsonschema.validate(document, load_schema())
    (run,) = document["tests"][0]["results"]
    assert run["llm"]["calls"] == {"total": 120.0, "mean": 3.0, "p50": 3.0, "p95": 3.0, "max": 3.0}
    assert run["llm"]["tool_rounds"]["mean"] == 1.0  # one reply with a tool call, then results
    assert run["llm"]["currency"] == "USD"


@pytest.mark.parametrize(
    ("pyproject", "marks", "args", "message"),
    [
        (
            "",
            '@budget(cost_per_task="<= $0.002")',
            (),
            "ERROR: test_spend.py::test_agent: @pytest.mark.llm(cost_per_task=...): a cost "
            "budget (<= $0.002) needs a price table, and there is none*",
        ),
        (
            PRICES,
            '@budget(cost_per_task="<= €0.002")',
            (),
            "ERROR: test_spend.py::test_agent: @pytest.mark.llm(cost_per_task=...): the cost "
            "budget is in EUR, but the price table [[]tool.agentperf.prices[]] is in USD*",
        ),
        (
            PRICES,
            "",
            ("--agentperf-budget", "cost_per_task=<=0.01 GBP"),
            "ERROR: --agentperf-budget (cost_per_task): the cost budget is in GBP*",
        ),
        (
            PRICES + '"gpt-4o" = { input = -1.0, output = 1.0 }\n',
            "",
            (),
            "ERROR: */pyproject.toml: [[]tool.agentperf.prices[]] 'gpt-4o' input: -1.0 is not "
            "a price (it must be a number >= 0); write it as*",
        ),
        (
            "",
            '@budget(tokens_per_task="<= 3kk")',
            (),
            "*BudgetConfigError: budget(tokens_per_task=...): '<= 3kk' is not a count such as*",
        ),
    ],
)
def test_bad_spend_input_is_a_usage_error_before_any_test_runs(
    perf_pytester: pytest.Pytester,
    pyproject: str,
    marks: str,
    args: tuple[str, ...],
    message: str,
) -> None:
    if pyproject:
        perf_pytester.makepyprojecttoml(pyproject)
    write(perf_pytester, calls=1, marks=marks)
    result = perf_pytester.runpytest("--agentperf", *args)
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    if message.startswith("ERROR:"):  # a usage error: the run stops before any test
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])
    else:  # budget() raises when the module is collected: a collection error, nothing runs
        assert result.ret == pytest.ExitCode.INTERRUPTED
        result.stdout.fnmatch_lines([message])
    assert "passed" not in output
