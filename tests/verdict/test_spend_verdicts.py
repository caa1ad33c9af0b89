"""LLM spend in the verdicts: exact baseline rows, budgets, the price table, advice."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_agentperf.errors import BudgetConfigError
from pytest_agentperf.metrics import METRICS
from pytest_agentperf.report.text import render_comparison
from pytest_agentperf.result import PerfResult
from pytest_agentperf.spend import ModelPrice
from pytest_agentperf.verdict.baseline import compare, parse_fail_expr
from pytest_agentperf.verdict.budgets import evaluate, parse_budget
from pytest_agentperf.verdict.prices import check_cost_budgets, parse_prices
from pytest_agentperf.verdict.recommend import recommend, spend_growth
from tests.factories import make_result, make_spend


def spent(**figures: object) -> PerfResult:
    return dataclasses.replace(make_result(), llm=make_spend(**figures))  # type: ignore[arg-type]


def rows(base: PerfResult, cur: PerfResult, expr: str | None = None) -> dict[str, str]:
    rules = parse_fail_expr(expr) if expr else None
    return {r.metric: r.verdict for r in compare(base, cur, rules).rows}


def test_unchanged_spend_compares_ok_without_a_test() -> None:
    verdicts = rows(spent(), spent())
    assert {m for m, v in verdicts.items() if METRICS[m].test == "exact"} == {
        "llm_calls_per_task",
        "tokens_per_task",
        "tokens_in_per_task",
        "tokens_out_per_task",
        "tool_rounds_per_task",
        "retries_per_task",
        "cost_per_task",
    }
    assert set(verdicts.values()) == {"ok"}


def test_one_more_call_per_task_regresses_and_names_old_and_new() -> None:
    comparison = compare(spent(calls=2), spent(calls=3))
    assert comparison.regressed
    text = render_comparison(comparison)
    assert "REGRESSED against the baseline" in text.splitlines()[0]
    assert "llm_calls_per_task 2 -> 3 (+50.0%, beyond +0%, exact)" in text
    row = next(r for r in comparison.rows if r.metric == "llm_calls_per_task")
    assert (row.p_value, row.test) == (None, "exact")


def test_fewer_calls_are_an_improvement_not_a_failure() -> None:
    verdicts = rows(spent(calls=3, tokens_in=200), spent(calls=2, tokens_in=150))
    assert verdicts["llm_calls_per_task"] == verdicts["tokens_in_per_task"] == "improved"
    assert not compare(spent(calls=3), spent(calls=2)).regressed


def test_cost_has_a_one_percent_tolerance_by_default() -> None:
    assert rows(spent(cost=0.002), spent(cost=0.002019))["cost_per_task"] == "ok"
    assert rows(spent(cost=0.002), spent(cost=0.00203))["cost_per_task"] == "regressed"


def test_the_fail_expression_sets_a_tolerance_for_an_exact_figure() -> None:
    verdicts = rows(spent(tokens_in=100), spent(tokens_in=104), "p95:10%,tokens_in_per_task:5%")
    assert verdicts["tokens_in_per_task"] == "ok"
    assert verdicts["tokens_per_task"] == "regressed"  # still exact: not named


def test_runs_without_spend_get_no_exact_rows() -> None:
    assert set(rows(make_result(), make_result())) == {"p95", "throughput"}
    assert rows(make_result(), spent())["llm_calls_per_task"] == "no data"


def test_different_task_counts_say_so_in_the_test_column() -> None:
    base = spent()
    cur = dataclasses.replace(spent(), completed=900)
    row = next(r for r in compare(base, cur).rows if r.metric == "llm_calls_per_task")
    assert row.test == "exact (1000 vs 900 tasks)"


@pytest.mark.parametrize(
    ("metric", "limit", "ok"),
    [
        ("llm_calls_per_task", "<= 1", False),
        ("calls_per_task", "<= 2", True),
        ("tokens_per_task", "<= 3k", True),
        ("tokens_per_task", "<= 0.1k", False),
        ("cost_per_task", "<= $0.002", False),
        ("cost_per_task", "0.0025 USD", True),
        ("tool_rounds_per_task", "<= 1", True),
        ("retries_per_task", 0, True),
    ],
)
def test_spend_budgets(metric: str, limit: object, ok: bool) -> None:
    (check,) = evaluate([parse_budget(metric, limit, "test")], [spent()])
    assert check.ok is ok


def test_a_budget_on_spend_the_run_did_not_measure_fails_when_declared() -> None:
    (check,) = evaluate([parse_budget("llm_calls_per_task", "<= 2", "t")], [make_result()])
    assert (check.ok, check.note) == (False, "not measured")


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("3kk", "'3kk' is not a count such as '<= 2', '3k' (3,000) or '1.5M'"),
        ("<= 2 calls", "is not a count"),
        ("$-1", "is not an amount such as"),
    ],
)
def test_bad_spend_limits_name_what_is_accepted(limit: str, message: str) -> None:
    metric = "cost_per_task" if "$" in limit else "tokens_per_task"
    with pytest.raises(BudgetConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_budget(metric, limit, "where")


TABLE = {"currency": "USD", "gpt-4o-mini": {"input": 0.15, "output": 0.6}}


def test_a_price_table_and_its_patterns() -> None:
    prices = parse_prices({**TABLE, "claude-*": {"input": 3, "output": 15}}, "t")
    assert prices.price_of("gpt-4o-mini") == ModelPrice(0.15, 0.6)
    assert prices.price_of("claude-sonnet-4") == ModelPrice(3.0, 15.0)
    assert prices.price_of("gpt-5") is None
    assert prices.cost("gpt-4o-mini", 1000, 100) == pytest.approx((150 + 60) / 1e6)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({**TABLE, "gpt-4o": {"input": -1, "output": 1}}, "'gpt-4o' input: -1 is not a price"),
        ({**TABLE, "gpt-4o": {"input": 1}}, "'gpt-4o': no output price"),
        ({**TABLE, "gpt-4o": {"input": 1, "ouput": 2}}, "unknown key(s) 'ouput'"),
        ({**TABLE, "gpt-4o": 0.15}, "'gpt-4o': 0.15 is not a table of input and output prices"),
        ({"gpt-4o": {"input": 1, "output": 2}}, "no currency"),
        ({**TABLE, "currency": "dollars"}, "currency = 'dollars' is not a code"),
        ({"currency": "USD"}, "no model is priced"),
    ],
)
def test_a_bad_price_table_names_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(BudgetConfigError) as caught:
        parse_prices(table, "pyproject.toml: [tool.agentperf.prices]")
    assert message in str(caught.value)
    assert str(caught.value).startswith("pyproject.toml: [tool.agentperf.prices]")
    assert "per million tokens" in str(caught.value)  # what is accepted


def test_a_cost_budget_needs_a_table_in_its_currency() -> None:
    budget = parse_budget("cost_per_task", "<= €0.002", "t")
    with pytest.raises(BudgetConfigError, match="needs a price table, and there is none"):
        check_cost_budgets([("test_x: @pytest.mark.llm(cost_per_task=...)", budget)], None)
    prices = parse_prices(TABLE, "t")
    with pytest.raises(BudgetConfigError, match=r"the cost budget is in EUR, but .* is in USD"):
        check_cost_budgets([("test_x", budget)], prices)
    check_cost_budgets([("test_x", parse_budget("cost_per_task", 0.002, "t"))], prices)


def test_growth_since_the_baseline_is_explained() -> None:
    comparison = compare(spent(calls=2, tool_rounds=0), spent(calls=3, tool_rounds=1))
    (text,) = spend_growth("test_a", [comparison])
    assert "llm calls 2 -> 3, tool rounds 0 -> 1 since the baseline" in text
    assert "a new tool round" in text
    assert spend_growth("test_a", [compare(spent(), spent())]) == []


def test_partial_attribution_and_retries_are_recommended_on() -> None:
    texts = recommend([("test_a", [spent(unattributed=200, retries=0.5)])])
    assert any("200 of 200 LLM calls ran outside any task" in t for t in texts)
    assert any("0.50 retries per task" in t for t in texts)
    assert recommend([("test_a", [spent()])]) == []
    # over serve() without the task header: noted on the result, not advised against
    sockets = spent(unattributed=200)
    assert sockets.llm is not None
    sockets = dataclasses.replace(
        sockets, llm=dataclasses.replace(sockets.llm, unattributed_socket_calls=200)
    )
    assert recommend([("test_a", [sockets])]) == []
    assert sockets.llm is not None
    assert (
        "came over mock_llm.serve() without the x-agentperf-task header" in (sockets.llm.notes()[0])
    )
