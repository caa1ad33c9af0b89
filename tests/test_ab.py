"""``agentperf ab``: bad input refused before any workload runs, and a real paired run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pytest_agentperf import ab
from pytest_agentperf.cli import main
from pytest_agentperf.errors import ABError

SUITE = """\
import asyncio

import pytest
from settings import DELAY


async def call(task):
    await asyncio.sleep(DELAY)


@pytest.mark.agentperf
async def test_sleepy(agent_perf):
    await agent_perf.run(call, n=40, concurrency=4, name="sleepy")
"""


INI = "[pytest]\naddopts = -p no:cacheprovider\nasyncio_default_fixture_loop_scope = function\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A downstream project in git: one performance test sleeping ``settings.DELAY``."""
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "test_perf.py").write_text(SUITE)
    (repo / "settings.py").write_text("DELAY = 0.02\n")
    (repo / "pytest.ini").write_text(INI)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    return repo


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


# -- bad input ---------------------------------------------------------------------------


def test_a_revision_that_does_not_exist(project: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.chdir(project)
    err = _error(capsys, ["ab", "--base", "no-such-branch"])
    assert f"--base 'no-such-branch' names no commit in {project}" in err
    assert "use a branch, tag or commit such as main" in err


def test_too_few_rounds_for_the_test_to_call_anything(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    err = _error(capsys, ["ab", "--base", "HEAD", "--rounds", "6"])
    assert "--rounds 6 is too few" in err
    assert "1/2^6 = 0.0156, which never reaches alpha 0.01" in err
    assert "use at least 7 rounds" in err
    # a looser alpha needs fewer rounds
    with pytest.raises(ABError, match="use at least 5 rounds"):
        ab.plan_ab("HEAD", [], rounds=4, alpha=0.05, cwd=project)
    assert ab.plan_ab("HEAD", [], rounds=5, alpha=0.05, cwd=project).rounds == 5


def test_not_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    err = _error(capsys, ["ab", "--base", "main"])
    assert "is not inside a git repository" in err
    assert "run agentperf ab from your project's checkout" in err


@pytest.mark.parametrize(
    "option", ["--agentperf-save=main", "--agentperf-json", "--agentperf-compare"]
)
def test_options_ab_owns(project: Path, option: str) -> None:
    with pytest.raises(ABError, match="agentperf ab writes each round's results itself"):
        ab.plan_ab("HEAD", ["--", "-q", option], cwd=project)


def test_a_base_whose_suite_does_not_collect_stops_before_any_workload(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "test_perf.py").write_text("def broken(:\n")
    _git(project, "commit", "-qam", "broken")
    (project / "test_perf.py").write_text(SUITE)  # fixed in the working tree only

    def no_workload(*args: object) -> None:
        raise AssertionError("a workload ran")

    monkeypatch.setattr(ab, "_run_once", no_workload)
    plan = ab.plan_ab("HEAD", [], rounds=7, cwd=project)
    with pytest.raises(ABError) as info:
        ab.run_ab(plan, echo=lambda line: None)
    text = str(info.value)
    assert text.startswith("the base revision's suite does not collect (pytest --collect-only ")
    assert "nothing was run" in text
    assert "SyntaxError" in text
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=project, capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
    assert len(worktrees.splitlines()) == 1  # the temporary worktree is gone


def test_the_plan_says_what_is_compared(project: Path) -> None:
    plan = ab.plan_ab("HEAD", ["-k", "sleepy"], rounds=7, seed=3, cwd=project)
    assert plan.dirty == ()
    assert plan.pytest_args == ("-k", "sleepy")
    assert "an A/A run, which shows the noise" in ab.describe_plan(plan)
    (project / "settings.py").write_text("DELAY = 0.03\n")
    plan = ab.plan_ab("HEAD", [], rounds=7, seed=3, cwd=project)
    assert plan.dirty == ("settings.py",)
    assert "+ uncommitted changes in 1 file (settings.py)" in ab.describe_plan(plan)


# -- a paired run ------------------------------------------------------------------------


def test_a_slower_working_tree_regresses(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "settings.py").write_text("DELAY = 0.03\n")  # +50% on every task
    monkeypatch.chdir(project)
    out = project.parent / "ab.json"
    argv = ["ab", "--base", "HEAD", "--rounds", "5", "--alpha", "0.05", "--seed", "7",
            "--fail", "p50:10%", "--json", str(out), "--", "-q"]  # fmt: skip
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.count("round ") == 5
    lines = captured.out.splitlines()
    assert lines[0].startswith("A/B: base HEAD (")
    assert any(line.startswith("machine during the rounds: run-queue wait ") for line in lines)
    header = next(line for line in lines if line.strip().startswith("metric"))
    assert header.split() == ["metric", "base", "head", "change", "95%", "interval", "rounds",
                              "fail", "at", "confidence", "verdict"]  # fmt: skip
    row = next(line for line in lines if line.strip().startswith("p50")).split()
    assert row[-1] == "REGRESSED"
    assert row[-2] == "96.9%"
    assert "REGRESSED: 1 of 1 compared runs (test_perf.py::test_sleepy [sleepy])." in lines
    document = json.loads(out.read_text())
    assert document["regressed"]
    assert document["rounds"] == 5
    assert all(sorted(pair) == ["base", "head"] for pair in document["order"])
    (comparison,) = document["comparisons"]
    assert comparison["nodeid"] == "test_perf.py::test_sleepy"
    assert comparison["rounds"] == 5
    (p50,) = comparison["rows"]
    assert 0.3 < p50["change"] < 0.7
    assert p50["spread"][0] > 0.1
