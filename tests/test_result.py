"""PerfResult travels through JSON unchanged (reports, xdist, baselines rely on it)."""

from __future__ import annotations

import json
import math

from pytest_agentperf.result import (
    PerfResult,
)
from tests.factories import full_result


def test_round_trip_through_json() -> None:
    result = full_result()
    data = json.loads(json.dumps(result.to_dict()))
    assert PerfResult.from_dict(data) == result


def test_derived_rates() -> None:
    result = full_result()
    assert result.total == 4
    assert result.success_rate == 0.75
    assert result.error_rate == 0.25
    assert result.warnings == ("loop lag high",)


def test_unknown_keys_from_newer_writers_are_ignored() -> None:
    data = full_result().to_dict()
    data["added_in_a_later_version"] = 1
    data["latency"]["p9999"] = 0.1
    assert PerfResult.from_dict(data).completed == 3


def test_null_floats_from_json_read_back_as_nan() -> None:
    data = full_result().to_dict()
    data["latency"]["p999"] = None  # how the JSON writer stores NaN
    data["timeseries"][0]["p95"] = None
    back = PerfResult.from_dict(data)
    assert math.isnan(back.latency.p999)
    assert math.isnan(back.timeseries[0].p95)


def test_achieved_rate_prefers_the_engines_start_based_figure() -> None:
    result = full_result()
    assert result.achieved_rate == result.total / result.duration  # no engine figure
    measured = PerfResult.from_dict({**result.to_dict(), "extra": {"achieved_rate": 2.9}})
    assert measured.achieved_rate == 2.9
