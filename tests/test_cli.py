from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from pytest_agentperf.cli import main
from pytest_agentperf.verdict.store import BaselineStore
from tests.factories import build_result, document, entry, lognormal


def _write(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    rng = random.Random(42)
    windows = [rng.gauss(400, 15) for _ in range(10)]

    def doc(scale: float) -> dict[str, Any]:
        result = build_result(lognormal(rng, 2000, scale=scale), [w / scale for w in windows])
        return document(entry("tests/test_perf.py::test_agent", result))

    return {
        "base": _write(tmp_path / "base.json", doc(1.0)),
        "same": _write(tmp_path / "same.json", doc(1.0)),
        "slow": _write(tmp_path / "slow.json", doc(1.25)),
    }


def test_compare_same_code_exits_zero(
    files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", files["base"], files["same"]]) == 0
    out = capsys.readouterr().out
    assert "tests/test_perf.py::test_agent [run]" in out
    assert "metric" in out
    assert "confidence" in out
    assert "No regression in 1 compared runs" in out


def test_compare_regression_exits_one(
    files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", files["base"], files["slow"], "--fail", "p95:10%"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSED: 1 of 1 compared runs (tests/test_perf.py::test_agent [run])" in out
    assert "p95" in out
    assert "throughput" not in out.split("REGRESSED:")[0].split("[run]")[1]


def test_compare_bad_expression_exits_two(
    files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", files["base"], files["same"], "--fail", "p42:10%"]) == 2
    err = capsys.readouterr().err
    assert "agentperf compare: error: 'p42:10%' in the fail expression" in err
    assert "unknown metric" in err


def test_compare_missing_and_invalid_files_exit_two(
    tmp_path: Path, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(tmp_path / "nope.json"), files["same"]]) == 2
    assert "nope.json' does not exist" in capsys.readouterr().err
    bad = _write(tmp_path / "bad.json", {"hello": 1})
    assert main(["compare", bad, files["same"]]) == 2
    assert "is not a pytest-agentperf results file" in capsys.readouterr().err


def test_compare_against_a_saved_baseline_name(
    tmp_path: Path, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "baselines"
    BaselineStore(root).save("main", json.loads(Path(files["base"]).read_text()))
    assert main(["compare", "main", files["slow"], "--root", str(root)]) == 1
    assert main(["baselines", "--root", str(root)]) == 0
    assert "main" in capsys.readouterr().out


def test_usage_error_is_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "compare" in capsys.readouterr().out


def test_report_table_and_html(
    tmp_path: Path, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out_html = tmp_path / "out" / "report.html"
    assert main(["report", files["base"], "--html", str(out_html)]) == 0
    out = capsys.readouterr().out
    assert "tests/test_perf.py::test_agent" in out
    assert "throughput" in out
    assert "p95" in out
    assert f"HTML report: {out_html}" in out
    assert out_html.read_text().startswith("<!DOCTYPE html>")
