"""Verdicts that know the machine: the contrast of two runs' machines, and what it changes."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from pytest_agentperf.report.text import inconclusive_warning, render_comparison
from pytest_agentperf.result import PerfResult, SelfCheck
from pytest_agentperf.verdict.baseline import Comparison, compare, parse_fail_expr
from pytest_agentperf.verdict.machine import (
    CPU_ALLOWANCE,
    OTHER_SHARE,
    RUN_QUEUE_WAIT,
    STEAL,
    MachineContrast,
    MachineState,
    busier_reasons,
)
from tests.factories import build_result, lognormal, make_spend

DATA = Path(__file__).parent / "data"
RULES = parse_fail_expr("p95:10%,throughput:-10%,error_rate:0.01")

# ------------------------------------------------------------------------- the contrast


def _state(wait: float | None = 0.01, steal: float | None = 0.0, other: float | None = 0.1,
           cpus: int | None = 2) -> MachineState:  # fmt: skip
    return MachineState(wait, steal, other, cpus, 0.001)


@pytest.mark.parametrize(
    ("base", "cur", "busier"),
    [
        (_state(wait=0.01), _state(wait=0.01 + RUN_QUEUE_WAIT - 1e-9), False),
        (_state(wait=0.01), _state(wait=0.01 + RUN_QUEUE_WAIT), True),
        (_state(wait=0.30), _state(wait=0.01), False),  # quieter is not busier
        (_state(steal=0.0), _state(steal=STEAL - 1e-9), False),
        (_state(steal=0.0), _state(steal=STEAL), True),
        # other processes' CPU decides only where run-queue wait is unknown ...
        (_state(other=0.0), _state(other=2.0), False),
        (_state(wait=None, other=0.0), _state(wait=None, other=OTHER_SHARE * 2), True),
        (_state(wait=None, other=0.0), _state(wait=None, other=OTHER_SHARE * 2 - 0.01), False),
        (_state(other=0.0), _state(wait=None, other=2.0), True),  # ... on either side
        (MachineState(), MachineState(), False),  # an older file: nothing recorded
        (_state(steal=None), _state(steal=None), False),  # not a VM, or not Linux
    ],
)
def test_materially_busier(base: MachineState, cur: MachineState, busier: bool) -> None:
    assert bool(busier_reasons(base, cur)) is busier


def test_the_reasons_and_both_machines_are_described() -> None:
    base, cur = _state(wait=0.01), _state(wait=0.31, other=1.8)
    contrast = MachineContrast(base, cur, busier_reasons(base, cur))
    assert contrast.reasons == ("run-queue wait 1% -> 31% (+30 points >= 5%)",)
    assert contrast.describe().splitlines() == [
        "machine, baseline: run-queue wait 1%, other processes 0.1 of 2 CPUs, steal 0%, "
        "loop lag p99 1.0ms",
        "machine, current:  run-queue wait 31%, other processes 1.8 of 2 CPUs, steal 0%, "
        "loop lag p99 1.0ms",
        "the current run's machine was materially busier: run-queue wait 1% -> 31% "
        "(+30 points >= 5%)",
    ]
    assert MachineContrast.from_dict(contrast.to_dict()) == contrast


# --------------------------------------------------------------- the verdict, constructed


def _result(
    rng: random.Random, *, scale: float = 1.0, cpu: float = 200e-6, wait: float = 0.01
) -> PerfResult:
    """A run with lognormal latencies (x ``scale``), 10 windows carrying ``cpu`` per task."""
    result = build_result(lognormal(rng, 2000, scale=scale), [640 / scale] * 10)
    windows = tuple(
        dataclasses.replace(w, cpu=rng.gauss(cpu, cpu * 0.03) * w.completed)
        for w in result.timeseries
    )
    check = SelfCheck(run_queue_wait=wait, other_cpu=0.2, steal=0.0, cpus=2, loop_lag_p99=0.001)
    return dataclasses.replace(
        result, timeseries=windows, cpu_per_task=cpu, agent_cpu_per_task=cpu * 0.8,
        harness_cpu_per_task=cpu * 0.2, selfcheck=check,
    )  # fmt: skip


def _verdicts(comparison: Comparison) -> dict[str, str]:
    return {row.metric: row.verdict for row in comparison.rows}


def test_a_wall_clock_regression_on_a_busier_machine_is_inconclusive() -> None:
    rng = random.Random(1)
    base, cur = _result(rng), _result(rng, scale=1.25, wait=0.35)
    comparison = compare(base, cur, RULES)
    assert _verdicts(comparison) == {
        "p95": "inconclusive", "throughput": "inconclusive", "error_rate": "ok"
    }  # fmt: skip
    assert not comparison.regressed
    assert comparison.inconclusive
    assert comparison.machine is not None
    assert comparison.machine.busier
    p95 = comparison.rows[0]
    assert p95.p_value is not None
    assert p95.p_value < 0.001
    assert "does not confirm it (needs +25% at 0.01)" in p95.note
    assert p95.note.startswith("the agent's CPU per task ")


def test_the_same_regression_on_an_equally_quiet_machine_fails() -> None:
    rng = random.Random(1)
    comparison = compare(_result(rng), _result(rng, scale=1.25, wait=0.04), RULES)
    assert _verdicts(comparison)["p95"] == "regressed"
    assert comparison.machine is not None
    assert not comparison.machine.busier
    assert comparison.rows[0].note == ""


def test_a_regression_cpu_per_task_confirms_fails_on_a_busier_machine() -> None:
    rng = random.Random(2)
    base, cur = _result(rng), _result(rng, scale=1.25, cpu=260e-6, wait=0.35)
    comparison = compare(base, cur, RULES)
    assert _verdicts(comparison)["p95"] == "regressed"
    assert (
        comparison.rows[0].note
        == "confirmed by the agent's CPU per task +30.0% (99.9% confidence it rose)"
    )


def test_cpu_per_task_must_rise_beyond_what_contention_does_and_the_limit() -> None:
    rng = random.Random(3)
    base = _result(rng)
    cur = _result(rng, scale=1.25, cpu=240e-6, wait=0.35)  # +20%: contention can do that
    row = compare(base, cur, RULES).rows[0]
    assert row.verdict == "inconclusive"
    assert "+20.0%" in row.note
    assert row.note.endswith(f"(needs +{CPU_ALLOWANCE * 100:g}% at 0.01)")
    # a limit above the allowance is what CPU per task must pass, as a share of the
    # baseline figure for an absolute rule (p95:40% of the baseline p95)
    cur = _result(rng, scale=1.5, cpu=280e-6, wait=0.35)  # +40%
    relative = compare(base, cur, parse_fail_expr("p95:45%")).rows[0]
    assert relative.verdict == "inconclusive"
    assert relative.note.endswith("(needs +45% at 0.01)")
    absolute = compare(base, cur, parse_fail_expr(f"p95:{base.latency.p95 * 0.35 * 1e3:.4f}ms"))
    assert absolute.rows[0].verdict == "regressed"
    assert absolute.rows[0].note.startswith("confirmed by the agent's CPU per task +40.")


def test_without_cpu_figures_nothing_can_confirm() -> None:
    rng = random.Random(4)
    base = dataclasses.replace(_result(rng), cpu_per_task=None, agent_cpu_per_task=None)
    cur = _result(rng, scale=1.3, wait=0.4)
    row = compare(base, cur, RULES).rows[0]
    assert row.verdict == "inconclusive"
    assert row.note == "no agent CPU per task was measured to confirm it"


def test_more_llm_calls_per_task_confirm_a_wall_clock_regression() -> None:
    rng = random.Random(6)
    base = dataclasses.replace(_result(rng), llm=make_spend(calls=2))
    cur = dataclasses.replace(_result(rng, scale=1.4, wait=0.4), llm=make_spend(calls=3))
    rows = {r.metric: r for r in compare(base, cur, RULES).rows}
    assert rows["llm_calls_per_task"].verdict == "regressed"
    assert rows["p95"].verdict == "regressed"
    assert rows["p95"].note == "confirmed by llm_calls_per_task 2 -> 3 (exact)"


def test_figures_a_busy_machine_does_not_move_are_judged_as_ever() -> None:
    rng = random.Random(5)
    base = _result(rng)
    cur = dataclasses.replace(_result(rng, wait=0.4), failed=200)
    rows = {r.metric: r for r in compare(base, cur, RULES).rows}
    assert rows["error_rate"].verdict == "regressed"
    assert rows["error_rate"].note == ""


def test_the_failure_text_names_both_machines_and_what_to_do() -> None:
    rng = random.Random(1)
    comparison = compare(_result(rng), _result(rng, scale=1.25, wait=0.35), RULES)
    text = render_comparison(comparison)
    lines = text.splitlines()
    assert lines[0].startswith("INCONCLUSIVE against the baseline (run): p95 +2")
    assert lines[0].endswith(
        "but this run's machine was materially busier and CPU per task does not confirm it."
    )
    assert "95% interval" in lines[1]
    assert any(line.startswith("  machine, baseline: run-queue wait 1%") for line in lines)
    assert any(line.startswith("  machine, current:  run-queue wait 35%") for line in lines)
    assert lines[-1].startswith("Decide it on the same machine state: a paired A/B run")
    warning = inconclusive_warning(comparison)
    assert "materially busier (run-queue wait 1% -> 35% (+34 points >= 5%)) and CPU" in warning
    again = Comparison.from_dict(json.loads(json.dumps(comparison.to_dict())))
    assert again == comparison


# ------------------------------------------------------------ the verdict, on recorded runs


def _recorded(name: str) -> PerfResult:
    document = json.loads((DATA / name).read_text())
    return PerfResult.from_dict(document["tests"][0]["results"][0])


def test_recorded_quiet_and_busy_runs_of_the_same_code() -> None:
    # Recorded on a 2-vCPU guest with benchmarks/bench_busy.py (see tests/verdict/data/):
    # the same suite with no burner and with two. The busy run's p95 (+53%), throughput and
    # process CPU per task (+25%: the harness's timed regions) passed their limits with
    # >99.9% confidence -- the false alarm of issue 18 -- and are inconclusive now: the
    # agent's own CPU per task moved +2%.
    quiet, busy = _recorded("quiet.json"), _recorded("busy.json")
    comparison = compare(quiet, busy, parse_fail_expr("p95:10%,throughput:-10%,cpu_per_task:10%"))
    assert comparison.machine is not None
    assert comparison.machine.busier
    for row in comparison.rows:
        assert row.p_value is not None
        assert row.p_value < 0.01
        assert abs(row.change or 0) > 0.10
        assert row.verdict == "inconclusive"
        assert row.note.startswith("the agent's CPU per task +2.0% ")
    assert not comparison.regressed


def test_recorded_busy_run_with_more_cpu_per_task_still_fails() -> None:
    # The same load, and an agent that burns 40 µs more CPU per task: CPU per task shows it.
    quiet, slower = _recorded("quiet.json"), _recorded("busy-cpu.json")
    comparison = compare(quiet, slower, parse_fail_expr("p95:10%,throughput:-10%"))
    assert comparison.machine is not None
    assert comparison.machine.busier
    assert comparison.regressed
    regressed = [r for r in comparison.rows if r.verdict == "regressed"]
    assert all(r.note.startswith("confirmed by the agent's CPU per task +") for r in regressed)
