"""Fault planning: exact seeded counts, schedules, outages, validation."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from pytest_agentperf.mockllm import Faults, Outage
from pytest_agentperf.mockllm.faults import FaultPlanner


def decisions(faults: Faults, n: int, seed: int = 0, step: float = 0.0) -> list[str | int | None]:
    planner = FaultPlanner(faults, seed)
    return [planner.decide(i * step) for i in range(n)]


def test_rates_give_exact_counts() -> None:
    faults = Faults(rate_limit=0.1, server_error="2.5%", timeout=0.005)
    counts = Counter(decisions(faults, 1000))
    assert counts["rate_limit"] == 100
    assert counts["server_error"] == 25
    assert counts["timeout"] == 5


def test_placement_is_seeded_and_reproducible() -> None:
    faults = Faults(rate_limit=0.1)
    assert decisions(faults, 300, seed=1) == decisions(faults, 300, seed=1)
    assert decisions(faults, 300, seed=1) != decisions(faults, 300, seed=2)


def test_schedules_by_index_and_by_callable() -> None:
    faults = Faults(rate_limit=[0, 2], disconnect=lambda i: i % 5 == 4)
    got = decisions(faults, 10)
    assert got == ["rate_limit", None, "rate_limit", None, "disconnect"] + [None] * 4 + [
        "disconnect"
    ]


def test_outage_window_from_first_call() -> None:
    faults = Faults(outages=[Outage("1s", "2s", status=502)])
    got = decisions(faults, 30, step=0.1)  # calls at 0.0, 0.1, ... 2.9 s
    assert got.count(502) == 10
    assert got[10] == 502
    assert got[20] is None


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"rate_limit": 1.5}, "Faults(rate_limit=...)"),
        ({"timeout": "lots"}, "Faults(timeout=...)"),
        ({"rate_limit": 0.6, "server_error": 0.6}, "add up to 1.2"),
        ({"retry_after": "soon"}, "Faults(retry_after=...)"),
        ({"server_error_codes": (404,)}, "server_error_codes"),
        ({"disconnect": [-1]}, "Faults(disconnect="),
    ],
)
def test_invalid_faults_raise_value_error(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        Faults(**kwargs)  # type: ignore[arg-type]


def test_outage_validation() -> None:
    with pytest.raises(ValueError, match="after start"):
        Outage("2s", "1s")
    with pytest.raises(ValueError, match="status"):
        Outage(0, 1, status=200)
