"""Budget parsing, evaluation and the failure table, as pure functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from pytest_agentperf.errors import BudgetConfigError
from pytest_agentperf.metrics import METRICS
from pytest_agentperf.plugin.markers import budget
from pytest_agentperf.report.text import render_budget_failure, render_checks
from pytest_agentperf.result import PerfResult, SelfCheck
from pytest_agentperf.units import Bound
from pytest_agentperf.verdict.budgets import (
    Budget,
    evaluate,
    evaluate_budgets,
    parse_budget,
    resolve,
    select,
)

MakeResult = Callable[..., PerfResult]


@pytest.mark.parametrize(
    ("metric", "value", "bound"),
    [
        ("throughput", ">= 400/s", Bound(">=", 400.0)),
        ("throughput", 400, Bound(">=", 400.0)),
        ("throughput", "1200/min", Bound(">=", 20.0)),
        ("p95", "<= 150ms", Bound("<=", 0.15)),
        ("p95", 0.15, Bound("<=", 0.15)),
        ("p95", "< 2s", Bound("<", 2.0)),
        ("error_rate", "<= 1%", Bound("<=", 0.01)),
        ("error_rate", 0.01, Bound("<=", 0.01)),
        ("efficiency", ">= 0.9", Bound(">=", 0.9)),
        ("memory_growth", "<= 2MB", Bound("<=", 2 * 1024.0**2)),
        ("memory_growth", 2, Bound("<=", 2 * 1024.0**2)),
        ("memory_per_task", 512, Bound("<=", 512.0)),
        ("ttft_p95", "80ms", Bound("<=", 0.08)),
    ],
)
def test_parse_budget_units_and_defaults(metric: str, value: str | float, bound: Bound) -> None:
    parsed = parse_budget(metric, value, "here")
    assert parsed.bound.op == bound.op
    assert parsed.bound.limit == pytest.approx(bound.limit)


@pytest.mark.parametrize(
    ("metric", "value", "accepted"),
    [
        ("p95", "1O0ms", "a duration such as '<= 150ms'"),
        ("throughput", "fast", "a rate such as '>= 400/s'"),
        ("error_rate", "150%", "a fraction such as '<= 1%'"),
        ("p95", True, "a duration"),
        ("p95", [1], "a duration"),
        ("p95", None, "a limit; leave the keyword out to set no limit (a limit is a duration"),
        ("p95", "5m", "a duration such as '<= 150ms' or a number of seconds ('m' is ambiguous"),
        ("efficiency", "-5%", "a ratio such as '>= 0.9', '90%' or 1.2"),
    ],
)
def test_parse_budget_rejects_bad_values(metric: str, value: object, accepted: str) -> None:
    with pytest.raises(BudgetConfigError) as info:
        parse_budget(metric, value, "test_x: @latency(p95=...)")
    assert str(info.value).startswith(f"test_x: @latency(p95=...): {value!r} is not {accepted}")


def test_parse_budget_rejects_unknown_metric() -> None:
    with pytest.raises(
        BudgetConfigError, match=r"where: unknown metric 'p96'; accepted: throughput"
    ):
        parse_budget("p96", "1s", "where")


def test_resolve_takes_the_first_tier_per_metric() -> None:
    marker = {"p95": parse_budget("p95", "100ms", "m", "marker")}
    cli = {
        "p95": parse_budget("p95", "200ms", "c", "cli"),
        "throughput": parse_budget("throughput", 5, "c", "cli"),
    }
    ini = {
        "error_rate": parse_budget("error_rate", "1%", "i", "pyproject"),
        "throughput": parse_budget("throughput", 9, "i", "pyproject"),
    }
    resolved = {b.metric: b for b in resolve(marker, cli, ini)}
    assert resolved["p95"].source == "marker"
    assert resolved["p95"].bound.limit == pytest.approx(0.1)
    assert resolved["throughput"].source == "cli"
    assert resolved["error_rate"].source == "pyproject"


def test_render_checks_exact_table(make_result: MakeResult) -> None:
    budgets = resolve(
        {
            m: parse_budget(m, v, "t")
            for m, v in [("p95", "100ms"), ("throughput", ">= 400/s"), ("error_rate", "1%")]
        }
    )
    checks = evaluate(budgets, [make_result(p95=0.142, throughput=312.0)])
    assert render_checks(checks) == (
        "agentperf budget missed: throughput 312/s (limit >= 400/s), "
        "p95 142.0ms (limit <= 100.0ms)\n"
        "  metric      limit       measured  by\n"
        "  throughput  >= 400/s    312/s     -88.0/s (-22.0%) under\n"
        "  p95         <= 100.0ms  142.0ms   +42.0ms (+42.0%) over\n"
        "  error_rate  <= 1.00%    0.00%     ok"
    )


def test_checks_name_the_result_when_there_are_several(make_result: MakeResult) -> None:
    checks = evaluate(
        [parse_budget("p95", "100ms", "t")], [make_result("a"), make_result("b", p95=0.3)]
    )
    text = render_checks(checks)
    assert "  result  metric  limit" in text
    assert "  b       p95     <= 100.0ms  300.0ms   +200.0ms (+200.0%) over" in text


def test_check_to_dict_matches_the_contract(make_result: MakeResult) -> None:
    (check,) = evaluate([parse_budget("p95", "150ms", "t")], [make_result(p95=0.12)])
    data = check.to_dict()
    assert data["metric"] == "p95"
    assert data["op"] == "<="
    assert data["ok"] is True
    assert data["limit"] == pytest.approx(0.15)
    assert data["measured"] == pytest.approx(0.12)
    assert data["margin"] == pytest.approx(-0.2)
    assert data["source"] == "marker"


def test_memory_budget_fails_only_on_a_significant_trend(make_result: MakeResult) -> None:
    limit = [parse_budget("memory_growth", "1MB", "t")]
    noisy = evaluate(limit, [make_result(growth=5 * 1024.0**2, leak=False)])
    leaky = evaluate(limit, [make_result(growth=5 * 1024.0**2, leak=True)])
    small_leak = evaluate(limit, [make_result(growth=0.5 * 1024.0**2, leak=True)])
    assert noisy[0].ok
    assert noisy[0].note == "no significant growth trend"
    assert not leaky[0].ok
    assert small_leak[0].ok


def test_unmeasured_metric_fails_a_marker_budget_but_not_a_default(make_result: MakeResult) -> None:
    result = make_result(efficiency=None)
    from_marker = evaluate([parse_budget("efficiency", 0.9, "t", "marker")], [result])
    from_cli = evaluate([parse_budget("efficiency", 0.9, "t", "cli")], [result])
    assert [c.ok for c in from_marker] == [False]
    assert from_marker[0].note == "not measured"
    assert from_cli == []


def test_judge_no_workload_fails_only_when_budgets_are_declared() -> None:
    declared = [parse_budget("p95", "150ms", "t")]
    failed = evaluate_budgets(declared, [], declared=True)
    assert failed.outcome == "budget-failed"
    assert "declares budgets (p95 <= 150.0ms) but ran no workload" in render_budget_failure(failed)
    assert evaluate_budgets(declared, [], declared=False).outcome == "passed"


def test_budget_on_selects_results(make_result: MakeResult) -> None:
    results = [make_result("warm", p95=1.0), make_result("main")]
    assert [r.name for r in select(results, "last")] == ["main"]
    assert [r.name for r in select(results, "main")] == ["main"]
    assert len(select(results, "all")) == 2
    p95 = [parse_budget("p95", "150ms", "t")]
    assert evaluate_budgets(p95, results, budget_on="main").outcome == "passed"
    assert evaluate_budgets(p95, results, budget_on="all").outcome == "budget-failed"
    missing = evaluate_budgets(p95, results, budget_on="nope", declared=True)
    assert "budget_on='nope' matches none of the results ('warm', 'main')" in render_budget_failure(
        missing
    )


def test_budget_maps_keys_to_markers() -> None:
    marks = budget(throughput=">= 400/s", efficiency=0.9, p95="150ms", max_latency="1s",
                   error_rate="1%", memory_growth="2MB")  # fmt: skip
    by_name = {m.name: m.kwargs for m in marks}
    assert by_name == {
        "throughput": {"min": ">= 400/s", "efficiency": 0.9},
        "latency": {"p95": "150ms", "max": "1s"},
        "error_rate": {"max": "1%"},
        "memory_growth": {"max_mb": "2MB"},
    }

    @budget(p95="1s")
    def decorated() -> None: ...

    assert [m.name for m in decorated.pytestmark] == ["latency"]


def test_budget_rejects_unknown_keys() -> None:
    with pytest.raises(
        BudgetConfigError, match=r"budget\(\) got unknown limit\(s\) 'p96'; accepted: throughput"
    ):
        budget(p96="1s")


def test_every_metric_has_a_budget_key() -> None:
    assert all(m.marker is not None for m in METRICS.values())


@pytest.mark.parametrize(
    ("metric", "value", "text"),
    [
        ("p95", "150ms", "<= 150.0ms"),
        ("p99", "< 2s", "< 2.00s"),
        ("throughput", "400/s", ">= 400/s"),
        ("efficiency", "90%", ">= 0.90"),
        ("error_rate", "1%", "<= 1.00%"),
        ("memory_growth", "2MB", "<= 2.0MiB"),
        ("memory_per_task", "1KB", "<= 1.0KiB"),
    ],
)
def test_budget_describes_its_bound_in_the_metric_unit(metric: str, value: str, text: str) -> None:
    assert parse_budget(metric, value, "t").describe() == text


def test_describe_of_a_bare_bound() -> None:
    assert Budget("p95", Bound("<=", 1.0)).describe() == "<= 1.00s"


def _leaky(make_result: MakeResult, name: str, growth: float) -> PerfResult:
    result = make_result(name, growth=growth, leak=True)
    assert result.memory is not None
    memory = replace(result.memory, diagnosis=f"diagnosis of {name}", reason="it grows")
    return replace(result, memory=memory)


def test_a_failed_memory_budget_adds_the_fit_and_the_diagnosis(make_result: MakeResult) -> None:
    limit = [parse_budget("memory_growth", "1MB", "t")]
    result = _leaky(make_result, "run", 5 * 1024**2)
    verdict = evaluate_budgets(limit, [result])
    table, details = render_budget_failure(verdict).split("\n\n")
    assert table == render_checks(verdict.checks)
    assert result.memory is not None
    assert details == result.memory.describe()
    assert details.splitlines()[0].startswith(
        "memory growth 5.0MiB over 1,000 measured tasks: 5,243 B/task (95% CI 0 .. 1)"
    )
    assert "leak: yes (it grows)" in details.splitlines()
    assert details.endswith("diagnosis of run")


def test_memory_details_only_for_results_whose_memory_budget_failed(
    make_result: MakeResult,
) -> None:
    budgets = [parse_budget("memory_growth", "1MB", "t"), parse_budget("p95", "1s", "t")]
    results = [
        _leaky(make_result, "small", 0.5 * 1024**2),  # under the limit
        _leaky(make_result, "big", 5 * 1024**2),
        make_result("no-memory", p95=2.0),  # no memory report: nothing to describe
    ]
    text = render_budget_failure(evaluate_budgets(budgets, results))
    assert "memory of 'big':\nmemory growth 5.0MiB" in text
    assert text.endswith("diagnosis of big")
    assert "small" not in text.split("\n\n", 1)[1]
    assert "diagnosis of small" not in text
    # A latency miss alone adds nothing.
    assert "\n\n" not in render_budget_failure(evaluate_budgets([budgets[1]], [results[2]]))


def test_a_result_that_measured_no_task_fails_every_budget(make_result: MakeResult) -> None:
    empty = replace(
        make_result("warm", completed=0, failed=0),
        selfcheck=SelfCheck(warnings=("lag", "measured no task: the task iterator was empty")),
    )
    budgets = [parse_budget("error_rate", "<= 1%", "here", "pyproject")]
    verdict = evaluate_budgets(budgets, [make_result("ok"), empty])
    assert verdict.outcome == "budget-failed"
    assert verdict.problem == (
        "agentperf budget not met: the run 'warm' measured no task: the task iterator was "
        "empty; its figures meet no budget (error_rate <= 1.00%)."
    )
    assert evaluate_budgets(budgets, [make_result("ok")]).outcome == "passed"
    assert evaluate_budgets([], [empty]).outcome == "passed"  # no budget to fail; warned


def test_budget_rejects_bad_values_naming_budget() -> None:
    with pytest.raises(BudgetConfigError) as info:
        budget(throughput="fast")
    assert str(info.value) == (
        "budget(throughput=...): 'fast' is not a rate such as '>= 400/s', '1200/min' or a "
        "number of tasks per second."
    )
    with pytest.raises(BudgetConfigError, match=r"^budget\(p95=\.\.\.\): None is not a limit"):
        budget(p95=None)  # type: ignore[arg-type]
