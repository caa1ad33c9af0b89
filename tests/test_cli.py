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


# -- bad input: exit 2 with the reason on stderr -------------------------------------------


@pytest.mark.parametrize("alpha", ["-1", "0", "1", "2", "nan", "inf", "abc"])
def test_compare_alpha_outside_zero_one_exits_two(
    files: dict[str, str], capsys: pytest.CaptureFixture[str], alpha: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["compare", files["base"], files["slow"], "--alpha", alpha])
    assert info.value.code == 2
    assert (
        f"agentperf compare: error: argument --alpha: {alpha!r} is not a significance level; "
        "use a number between 0 and 1 (exclusive), e.g. 0.01"
    ) in capsys.readouterr().err


def _damage(source: str, tmp_path: Path, how: str) -> str:
    doc = json.loads(Path(source).read_text())
    if how == "tests-ints":
        doc["tests"] = [1, 2]
    elif how == "latency-string":
        doc["tests"][0]["results"][0]["latency"] = "fast"
    elif how == "environment-list":
        doc["environment"] = [1]
    else:
        doc["tests"][0]["results"] = 5
    return _write(tmp_path / f"{how}.json", doc)


DAMAGE = {
    "tests-ints": "tests[0]: 1 is not an object",
    "latency-string": "tests[0].results[0].latency: 'fast' is not an object",
    "environment-list": "environment: [1] is not an object",
    "results-int": "tests[0].results: 5 is not an array",
}


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("command", ["report", "compare-head", "compare-base"])
def test_a_document_of_the_wrong_shape_exits_two_naming_the_place(
    tmp_path: Path,
    files: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    how: str,
    command: str,
) -> None:
    bad = _damage(files["base"], tmp_path, how)
    args = {
        "report": ["report", bad],
        "compare-head": ["compare", files["base"], bad],
        "compare-base": ["compare", bad, files["same"]],
    }[command]
    assert main(args) == 2
    err = capsys.readouterr().err
    name = "report" if command == "report" else "compare"
    assert err.startswith(
        f"agentperf {name}: error: {bad!r} is not a valid pytest-agentperf results document: "
        f"{DAMAGE[how]}"
    ), err
    assert "Traceback" not in err


def test_a_saved_baseline_of_the_wrong_shape_exits_two(
    tmp_path: Path, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "baselines"
    doc = json.loads(Path(files["base"]).read_text())
    doc["tests"] = [1]
    BaselineStore(root).save("main", doc)
    assert main(["compare", "main", files["same"], "--root", str(root)]) == 2
    assert (
        f"error: the baseline {str(root / 'main.json')!r} is not a valid pytest-agentperf "
        "results document: tests[0]: 1 is not an object"
    ) in capsys.readouterr().err


def test_report_html_that_cannot_be_written_exits_two(
    tmp_path: Path, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("")
    cases = {
        tmp_path / "afile" / "r.html": f"{str(tmp_path / 'afile')!r} is a file, so the folder",
        tmp_path: f"{str(tmp_path)!r} is a folder, not a file",
    }
    if Path("/proc/self").is_dir():  # Linux: a filesystem that takes no new files
        cases[Path("/proc/agentperf-report.html")] = "No such file or directory"
    for target, reason in cases.items():
        assert main(["report", files["base"], "--html", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            f"agentperf report: error: cannot write the HTML report to {str(target)!r}: "
        ), err
        assert reason in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "afile",
        "base.json",
        "same.json",
        "slow.json",
    ]


def test_compare_gates_the_spend_figures_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    from tests.factories import make_result, make_spend

    def doc(calls: float) -> dict[str, Any]:
        result = dataclasses.replace(make_result(), llm=make_spend(calls=calls))
        return document(entry("tests/test_perf.py::test_agent", result))

    base = _write(tmp_path / "base.json", doc(2))
    same = _write(tmp_path / "same.json", doc(2))
    more = _write(tmp_path / "more.json", doc(3))
    assert main(["compare", base, same, "--fail", "exact"]) == 0
    assert "llm_calls_per_task" in capsys.readouterr().out
    assert main(["compare", base, more]) == 1
    out = capsys.readouterr().out
    assert "exact figures (LLM calls, tokens, cost per task) regress on any change" in out
    assert "per task, llm calls 2 -> 3 since the baseline; likely a new LLM call" in out


def test_compare_on_a_busier_machine_is_inconclusive_and_exits_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = Path(__file__).parent / "verdict" / "data"
    assert main(["compare", str(data / "quiet.json"), str(data / "busy.json")]) == 0
    out = capsys.readouterr().out
    assert "95% interval" in out
    assert "  machine, current:  run-queue wait 54%" in out
    assert (
        out.rstrip()
        .splitlines()[-2]
        .startswith(
            "INCONCLUSIVE (not a failure): 1 of 1 compared runs (test_perf.py::test_support_agent"
        )
    )
    assert main(["compare", str(data / "quiet.json"), str(data / "busy-cpu.json")]) == 1
    assert "p95: confirmed by the agent's CPU per task +50.1%" in capsys.readouterr().out
