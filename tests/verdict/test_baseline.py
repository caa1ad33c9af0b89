from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from pytest_agentperf.errors import BaselineError, CompareExprError
from pytest_agentperf.report.text import render_comparison
from pytest_agentperf.verdict.baseline import (
    Comparison,
    FailRule,
    compare,
    compare_documents,
    default_rules,
    match_results,
    parse_fail_expr,
)
from pytest_agentperf.verdict.store import BaselineStore, load_document
from tests.factories import build_result, document, entry, lognormal

# ----------------------------------------------------------------- parse_fail_expr


def test_parse_several_rules() -> None:
    rules = parse_fail_expr("p95:10%, throughput:-5%,efficiency:-0.05")
    assert rules == [
        FailRule("p95", 0.10, True, "up"),
        FailRule("throughput", 0.05, True, "down"),
        FailRule("efficiency", 0.05, False, "down"),
    ]


def test_parse_absolute_quantities_and_unsigned() -> None:
    p99, thr, err = parse_fail_expr("p99:20ms,throughput:50/s,error_rate:0.01")
    assert p99.threshold == pytest.approx(0.02)
    assert not p99.relative
    assert (thr.threshold, thr.direction) == (50.0, "down")
    assert str(thr) == "throughput:-50.0/s"
    assert err == FailRule("error_rate", 0.01, False, "up")


def test_default_rules() -> None:
    assert [str(r) for r in default_rules()] == ["p95:+10%", "throughput:-10%"]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "is empty"),
        ("p97:10%", "unknown metric 'p97'"),
        ("p95", "is not metric:change"),
        ("p95:-10%", "wrong sign: p95 regresses by an increase"),
        ("throughput:+5%", "wrong sign: throughput regresses by a decrease"),
        ("p95:ten%", "not a number"),
        ("p95:10parsecs", "not a number"),
        ("p95:10%,p95:5%", "appears twice"),
    ],
)
def test_parse_rejects_with_a_clear_message(expr: str, message: str) -> None:
    with pytest.raises(CompareExprError, match=message) as info:
        parse_fail_expr(expr, where="--agentperf-compare-fail")
    text = str(info.value)
    assert "--agentperf-compare-fail" in text
    if "twice" not in message:
        assert "throughput, efficiency, p50, p90, p95, p99, p999, mean_latency, error_rate" in text


# ------------------------------------------------------------------------- compare


def test_same_distribution_never_regresses(rng: random.Random) -> None:
    rules = parse_fail_expr("p50:5%,p95:10%,p99:10%,mean:5%,throughput:-10%")
    for _ in range(40):
        base = build_result(lognormal(rng, 2000), [rng.gauss(400, 20) for _ in range(20)])
        cur = build_result(lognormal(rng, 2000), [rng.gauss(400, 20) for _ in range(20)])
        comparison = compare(base, cur, rules)
        assert not comparison.regressed, render_comparison(comparison)


def test_twenty_percent_slower_always_regresses(rng: random.Random) -> None:
    for _ in range(40):
        base = build_result(lognormal(rng, 2000), [rng.gauss(400, 20) for _ in range(20)])
        cur = build_result(
            lognormal(rng, 2000, scale=1.2), [rng.gauss(400 / 1.2, 20) for _ in range(20)]
        )
        comparison = compare(base, cur)
        assert comparison.regressed
        assert [r.verdict for r in comparison.rows] == ["regressed", "regressed"]


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20250101)


def test_beyond_threshold_but_not_significant_passes(rng: random.Random) -> None:
    # 12 noisy samples a side: the point p95 may move 30% without meaning anything.
    base = build_result([0.010, 0.011, 0.012, 0.013, 0.05, 0.012, 0.011, 0.010, 0.013, 0.2])
    cur = build_result([0.010, 0.011, 0.012, 0.013, 0.05, 0.012, 0.011, 0.010, 0.013, 0.3])
    row = compare(base, cur, parse_fail_expr("p95:10%")).rows[0]
    assert row.change is not None
    assert row.change > 0.1
    assert row.verdict == "not significant"


def test_significant_but_within_threshold_passes(rng: random.Random) -> None:
    base = build_result(lognormal(rng, 2000))
    cur = build_result(lognormal(rng, 2000, scale=1.05))  # +5%: detectable, allowed
    comparison = compare(base, cur, parse_fail_expr("p50:10%"))
    assert comparison.rows[0].verdict == "ok"
    assert not comparison.regressed


def test_tail_only_regression_is_caught(rng: random.Random) -> None:
    base = build_result(lognormal(rng, 2000))
    body = sorted(lognormal(rng, 2000))
    cur = build_result(body[:1880] + [v * 1.6 for v in body[1880:]])
    row = compare(base, cur, parse_fail_expr("p95:10%")).rows[0]
    assert row.verdict == "regressed"
    assert row.test == "Mann-Whitney U + p95 quantile test"


def test_improvement_is_reported_not_failed(rng: random.Random) -> None:
    base = build_result(lognormal(rng, 2000, scale=1.3))
    cur = build_result(lognormal(rng, 2000))
    comparison = compare(base, cur, parse_fail_expr("p95:10%"))
    assert comparison.rows[0].verdict == "improved"
    assert not comparison.regressed


def test_throughput_with_few_windows_is_tested_through_latency(rng: random.Random) -> None:
    base = build_result(lognormal(rng, 2000))  # no windows: throughput = concurrency / mean
    cur = build_result(lognormal(rng, 2000, scale=1.25))
    row = compare(base, cur, parse_fail_expr("throughput:-10%")).rows[0]
    assert row.verdict == "regressed"
    assert row.test == "Mann-Whitney U on latencies"


def test_efficiency_absolute_rule(rng: random.Random) -> None:
    windows = [rng.gauss(400, 10) for _ in range(10)]
    base = build_result(lognormal(rng, 500), windows, efficiency=0.9)
    cur = build_result(lognormal(rng, 500), [w * 0.8 for w in windows], efficiency=0.72)
    row = compare(base, cur, parse_fail_expr("efficiency:-0.05")).rows[0]
    assert row.change == pytest.approx(-0.18)
    assert (row.verdict, row.test) == ("regressed", "Mann-Whitney U on windows")


def test_error_rate_rule(rng: random.Random) -> None:
    base = build_result(lognormal(rng, 1000), failed=5)
    cur = build_result(lognormal(rng, 1000), failed=60)
    row = compare(base, cur, parse_fail_expr("error_rate:0.01")).rows[0]
    assert row.verdict == "regressed"
    assert row.test == "two-proportion z-test"


def test_missing_metric_and_missing_samples() -> None:
    base = build_result([0.01] * 3 + [0.02] * 3)
    cur = build_result([0.03] * 3 + [0.04] * 3)
    rows = compare(base, cur, parse_fail_expr("p95:10%,efficiency:-5%")).rows
    assert [r.verdict for r in rows] == ["untested", "no data"]


def test_render_and_round_trip(rng: random.Random) -> None:
    base = build_result(lognormal(rng, 2000), name="steady")
    cur = build_result(lognormal(rng, 2000, scale=1.3), name="steady")
    comparison = compare(base, cur, parse_fail_expr("p95:10%,throughput:-10%"))
    text = render_comparison(comparison)
    assert text.startswith("REGRESSED against the baseline (steady): p95 +")
    for word in ("metric", "baseline", "current", "change", "confidence", ">99.9%", "+10%"):
        assert word in text
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["regressed"] is True
    assert data["rows"][0]["baseline"] == pytest.approx(base.latency.p95)
    assert data["rows"][0]["confidence"] > 0.999
    assert Comparison.from_dict(data) == comparison


def test_match_results_by_name_then_order(rng: random.Random) -> None:
    a, b = build_result([0.01] * 9, name="a"), build_result([0.01] * 9, name="b")
    assert match_results([a, b], [b, a]) == [(b, b), (a, a)]
    assert match_results([a, a], [b]) == [(a, b)]
    assert match_results([a], [b, a]) == [(None, b), (a, a)]


def test_compare_documents(rng: random.Random) -> None:
    base = document(entry("t.py::test_a", build_result(lognormal(rng, 2000))))
    head = document(
        entry("t.py::test_a", build_result(lognormal(rng, 2000, scale=1.3))),
        entry("t.py::test_new", build_result(lognormal(rng, 100))),
    )
    out = compare_documents(base, head)
    assert [(c.nodeid, c.regressed, c.note) for c in out] == [
        ("t.py::test_a", True, ""),
        ("t.py::test_new", False, "not in the baseline"),
    ]


# --------------------------------------------------------------------------- store


def test_store_save_load_latest_and_list(tmp_path: Path, rng: random.Random) -> None:
    store = BaselineStore(tmp_path / "baselines")
    doc = document(entry("t.py::test_a", build_result(lognormal(rng, 50))))
    first = store.save("main", doc)
    assert first == tmp_path / "baselines" / "main.json"
    saved = json.loads(first.read_text())
    assert (saved["schema"], saved["version"], saved["name"]) == (
        "pytest-agentperf/baseline",
        1,
        "main",
    )
    assert saved["environment"]["hostname"] == "ci"
    assert store.load("main") == doc
    store.save("feature", document())
    assert store.latest() == "feature"
    assert store.load(None) == document()
    assert [i.name for i in store.list()] == ["main", "feature"]
    assert not list((tmp_path / "baselines").glob("*.tmp"))  # atomic: no leftovers


def test_store_errors(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    with pytest.raises(BaselineError, match="No baseline saved in"):
        store.load(None)
    store.save("main", document())
    with pytest.raises(BaselineError, match=r"No baseline named 'nope'.*saved baselines: main"):
        store.load("nope")
    with pytest.raises(BaselineError, match="not a valid baseline name"):
        store.save("../escape", document())
    with pytest.raises(BaselineError, match="Cannot save"):
        store.save("bad", {"x": math.nan})


def test_load_document_errors(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(BaselineError, match="is not valid JSON"):
        load_document(bad_json)
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something-else"}')
    with pytest.raises(BaselineError, match="is not a pytest-agentperf results file"):
        load_document(other)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**document(), "version": 99}))
    with pytest.raises(BaselineError, match="format version 99"):
        load_document(newer)
    with pytest.raises(BaselineError, match="does not exist"):
        load_document(tmp_path / "missing.json")
