"""CPU per task as a budget and in a baseline comparison (the registry's ``cpu`` test)."""

from __future__ import annotations

import random
from dataclasses import replace

from pytest_agentperf.metrics import METRICS, lookup
from pytest_agentperf.plugin.markers import budget
from pytest_agentperf.result import PerfResult, WindowStats
from pytest_agentperf.verdict.baseline import compare, parse_fail_expr
from pytest_agentperf.verdict.budgets import evaluate, parse_budget
from pytest_agentperf.verdict.recommend import recommend
from tests.factories import build_result


def _with_cpu(per_task: float, *, seed: int, windows: int = 12) -> PerfResult:
    """A run whose windows each used ``per_task`` of CPU per task, +-5% noise."""
    rng = random.Random(seed)
    base = build_result([0.05 + 0.001 * (i % 7) for i in range(300)], [500.0] * windows)
    series = tuple(
        replace(w, cpu=per_task * w.completed * rng.uniform(0.95, 1.05)) for w in base.timeseries
    )
    return replace(
        base,
        timeseries=series,
        cpu_per_task=per_task,
        harness_cpu_per_task=per_task / 10,
        agent_cpu_per_task=per_task * 0.9,
    )


def test_cpu_budgets_go_through_the_cpu_marker() -> None:
    (mark,) = budget(cpu_per_task="<= 500us", capacity_per_core=">= 1000/s")
    assert mark.name == "cpu"
    assert mark.kwargs == {"per_task": "<= 500us", "capacity_per_core": ">= 1000/s"}
    result = _with_cpu(600e-6, seed=1)  # agent 540 µs: capacity 1,852/s per core
    checks = evaluate(
        [
            parse_budget("cpu_per_task", "<= 500us", "here"),
            parse_budget("capacity_per_core", ">= 1000/s", "here"),
        ],
        [result],
    )
    assert [(c.metric, c.ok) for c in checks] == [
        ("cpu_per_task", False),
        ("capacity_per_core", True),
    ]
    assert METRICS["cpu_per_task"].format(600e-6) == "600µs"
    assert lookup("capacity_per_core") is METRICS["capacity_per_core"]


def test_a_real_cpu_increase_regresses_and_noise_does_not() -> None:
    rules = parse_fail_expr("cpu_per_task:10%")
    base = _with_cpu(500e-6, seed=1)
    (worse,) = compare(base, _with_cpu(650e-6, seed=2), rules).rows
    assert worse.verdict == "regressed"
    assert worse.test == "Mann-Whitney U on per-window CPU"
    assert worse.change is not None
    assert abs(worse.change - 0.3) < 1e-9
    (same,) = compare(base, _with_cpu(510e-6, seed=3), rules).rows
    assert same.verdict == "ok"
    (better,) = compare(base, _with_cpu(350e-6, seed=4), rules).rows
    assert better.verdict == "improved"


def test_too_few_windows_with_cpu_leave_the_change_untested() -> None:
    rules = parse_fail_expr("cpu_per_task:10%")
    base = _with_cpu(500e-6, seed=1, windows=3)
    (row,) = compare(base, _with_cpu(900e-6, seed=2, windows=3), rules).rows
    assert row.verdict == "untested"
    no_windows = replace(_with_cpu(900e-6, seed=2), timeseries=(WindowStats(0, 1, 5, 0, 5, 0, 0),))
    (row,) = compare(base, no_windows, rules).rows
    assert row.verdict == "untested"


def test_low_efficiency_is_blamed_on_the_agents_cpu_when_it_caps_a_core() -> None:
    slow = replace(
        _with_cpu(760e-6, seed=1),
        throughput=1200.0,
        efficiency=0.6,  # Little's law allows 2,000/s
        concurrency=100,
        mean_injected_latency=0.05,
        agent_cpu_per_task=700e-6,
    )
    (text,) = recommend([("t.py::test_a", [slow])])
    assert "the agent's own CPU (700µs per task) caps one core near 1,429/s" in text
    roomy = replace(slow, agent_cpu_per_task=100e-6)  # 10,000/s per core: something else
    (text,) = recommend([("t.py::test_a", [roomy])])
    assert "connection-pool limit" in text
    # far below its CPU cap, one call in flight of 100: a serialised agent
    serial = replace(slow, throughput=19.4, efficiency=0.0097)
    (text,) = recommend([("t.py::test_a", [serial])])
    assert "it kept 0.97 LLM calls in flight on average of the 100 its workers allowed" in text
    assert "serialises its calls" in text
