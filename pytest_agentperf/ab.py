"""``agentperf ab``: the performance suite at a base revision and at the working tree, in turn.

The base revision is checked out into a temporary git worktree; both sides run in this
environment (the same interpreter and installed packages) with their own checkout's source
first on the path (its root, and its ``src/`` folder when it has one), so each side imports
its own code. Each round runs ``pytest --agentperf`` once per side, in an order drawn at
random for the round, with the same ``--agentperf-seed`` for both (a new one each round);
:mod:`pytest_agentperf.verdict.paired` then judges every figure on the paired differences.

Everything that can be wrong with the input is checked before any workload runs: a git
repository, a ``--base`` that names a commit, enough rounds for the signed-rank test to
ever call a change at ``alpha``, pytest options that ``ab`` owns, and both sides'
suites collecting (``pytest --collect-only``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_agentperf.errors import ABError, AgentPerfError
from pytest_agentperf.report.document import read_results
from pytest_agentperf.report.text import render_comparison_table
from pytest_agentperf.result import PerfResult
from pytest_agentperf.verdict.baseline import Comparison, FailRule, index_document, match_results
from pytest_agentperf.verdict.paired import paired_compare
from pytest_agentperf.verdict.significance import min_pairs, smallest_signed_rank_p

__all__ = [
    "DEFAULT_ROUNDS",
    "ABOutcome",
    "ABPlan",
    "Side",
    "base_checkout",
    "check_collects",
    "describe_plan",
    "judge",
    "machine_summary",
    "outcome_document",
    "plan_ab",
    "render_outcome",
    "run_ab",
]

DEFAULT_ROUNDS = 10
#: Options ``ab`` sets itself, or that would write files a paired run must not write.
OWNED = ("--agentperf-json", "--agentperf-html", "--agentperf-save", "--agentperf-compare")
Label = Literal["base", "head"]
Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ABPlan:
    """What an A/B run will do, validated."""

    repo: Path  # the working tree's top level
    subdir: Path  # where the caller stands, relative to ``repo`` (pytest runs there)
    base_rev: str
    base_commit: str
    head_commit: str
    dirty: tuple[str, ...]  # files with uncommitted changes in the working tree
    pytest_args: tuple[str, ...]
    rounds: int
    seed: int
    alpha: float
    rules: tuple[FailRule, ...] | None = None  # None: the default rules


@dataclass(frozen=True, slots=True)
class Side:
    """One side of the A/B: a checkout, where pytest runs in it, and its environment."""

    label: Label
    root: Path
    cwd: Path
    env: dict[str, str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class ABOutcome:
    """The judged comparisons, the order the rounds ran in and what was left out."""

    comparisons: list[tuple[str, Comparison]]  # (node id, comparison of one result)
    order: list[tuple[Label, Label]]
    unpaired: list[str]  # "node id [name]: why"
    results: list[PerfResult]  # every run, both sides, for the machine summary

    @property
    def regressed(self) -> list[tuple[str, Comparison]]:
        return [(n, c) for n, c in self.comparisons if c.regressed]


# -- git -----------------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ABError(
            "agentperf ab needs git on the PATH (it checks the base revision out into a "
            "temporary worktree); install git, or compare saved runs with agentperf compare."
        ) from None


def _repo(cwd: Path) -> Path:
    found = _git(cwd, "rev-parse", "--show-toplevel")
    if found.returncode != 0:
        raise ABError(
            f"{str(cwd)!r} is not inside a git repository ({found.stderr.strip()}); run "
            "agentperf ab from your project's checkout, where --base names a revision."
        )
    return Path(found.stdout.strip())


def _commit(repo: Path, rev: str) -> str:
    found = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if found.returncode != 0 or not found.stdout.strip():
        raise ABError(
            f"--base {rev!r} names no commit in {repo}; use a branch, tag or commit such "
            "as main, origin/main, v1.2 or HEAD~1 (in a shallow CI clone, fetch it first: "
            "git fetch origin main)."
        )
    return found.stdout.strip()


def _dirty(repo: Path) -> tuple[str, ...]:
    status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return tuple(line[3:] for line in status.stdout.splitlines() if line.strip())


# -- the plan ------------------------------------------------------------------------------


def _check_rounds(rounds: int, alpha: float) -> None:
    need = min_pairs(alpha)
    if rounds < need:
        smallest = smallest_signed_rank_p(rounds) if rounds > 0 else 1.0
        raise ABError(
            f"--rounds {rounds} is too few: with {rounds} rounds the smallest p-value the "
            f"signed-rank test can give is 1/2^{max(rounds, 0)} = {smallest:.3g}, which never "
            f"reaches alpha {alpha:g}, so no change could ever be called; use at least {need} "
            f"rounds ({need + 3} or more lets a round or two go the other way)."
        )


def _check_args(args: Sequence[str]) -> None:
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in OWNED:
            raise ABError(
                f"{arg!r} in the pytest arguments: agentperf ab writes each round's results "
                f"itself and saves or compares no baseline; leave out {', '.join(OWNED)} "
                "(use agentperf ab --json FILE for the judged comparison)."
            )


def plan_ab(
    base: str,
    pytest_args: Sequence[str],
    *,
    rounds: int = DEFAULT_ROUNDS,
    alpha: float = 0.01,
    rules: Sequence[FailRule] | None = None,
    seed: int | None = None,
    cwd: Path | None = None,
) -> ABPlan:
    """Validate an A/B run (git, the revision, the rounds, the options); run nothing."""
    _check_rounds(rounds, alpha)
    args = list(pytest_args)
    if args[:1] == ["--"]:
        args = args[1:]
    _check_args(args)
    here = Path.cwd() if cwd is None else cwd
    repo = _repo(here)
    return ABPlan(
        repo=repo,
        subdir=here.resolve().relative_to(repo.resolve()),
        base_rev=base,
        base_commit=_commit(repo, base),
        head_commit=_commit(repo, "HEAD"),
        dirty=_dirty(repo),
        pytest_args=tuple(args),
        rounds=rounds,
        seed=random.SystemRandom().randrange(2**31) if seed is None else seed,
        alpha=alpha,
        rules=None if rules is None else tuple(rules),
    )


# -- the sides -----------------------------------------------------------------------------


def _side(label: Label, root: Path, plan: ABPlan) -> Side:
    first = [str(p) for p in (root / "src", root) if p.is_dir()]
    rest = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*first, *([rest] if rest else [])]))
    return Side(label, root, root / plan.subdir, env)


@contextmanager
def base_checkout(plan: ABPlan) -> Iterator[Path]:
    """The base revision in a temporary git worktree, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="agentperf-ab-"))
    where = folder / "base"
    added = _git(plan.repo, "worktree", "add", "--detach", "--quiet", str(where), plan.base_commit)
    if added.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise ABError(
            f"cannot check {plan.base_rev!r} out into a worktree at {where}: {added.stderr.strip()}"
        )
    try:
        yield where
    finally:
        _git(plan.repo, "worktree", "remove", "--force", str(where))
        shutil.rmtree(folder, ignore_errors=True)
        _git(plan.repo, "worktree", "prune")


def _pytest(side: Side, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        command, cwd=side.cwd, env=side.env, capture_output=True, text=True, check=False
    )


def _tail(proc: subprocess.CompletedProcess[str], lines: int = 15) -> str:
    """What pytest said that matters: its error lines (``E ...``, ``ERROR ...``), else its
    last lines."""
    said = proc.stdout.strip().splitlines()
    errors = [line for line in said if line.startswith(("E ", "ERROR"))]
    shown = errors[:lines] if errors else (said + proc.stderr.strip().splitlines())[-lines:]
    return "\n".join("    " + line for line in shown)


def check_collects(side: Side, plan: ABPlan) -> None:
    """Collect the suite on ``side`` (no workload runs); :class:`ABError` when it fails."""
    proc = _pytest(side, ["--collect-only", "-q", "--agentperf", *plan.pytest_args])
    if proc.returncode == 0:
        return
    what = "the base revision's" if side.label == "base" else "the working tree's"
    problem = "collects no tests" if proc.returncode == 5 else "does not collect"
    raise ABError(
        f"{what} suite {problem} (pytest --collect-only exited {proc.returncode} in "
        f"{side.cwd}, arguments {' '.join(plan.pytest_args) or '(none)'}); nothing was run. "
        f"Fix the suite or the arguments, or pick another --base. pytest said:\n{_tail(proc)}"
    )


def _run_once(side: Side, plan: ABPlan, seed: int, out: Path) -> dict[str, Any]:
    # one token: pytest takes a separate value that names an existing file for a path to
    # find the rootdir from, and the results file lives outside the checkout
    args = [*plan.pytest_args, "--agentperf", f"--agentperf-json={out}"]
    if not any(a.split("=", 1)[0] == "--agentperf-seed" for a in plan.pytest_args):
        args += ["--agentperf-seed", str(seed)]
    proc = _pytest(side, args)
    if proc.returncode not in (0, 1) or not out.is_file():
        raise ABError(
            f"the {side.label} run exited {proc.returncode} and wrote no results at {out} "
            f"(in {side.cwd}); pytest said:\n{_tail(proc)}"
        )
    try:
        return read_results(out)
    except AgentPerfError as exc:
        raise ABError(f"the {side.label} run's results cannot be read: {exc}") from exc


# -- rounds and the verdict ----------------------------------------------------------------


def _rounds(
    plan: ABPlan, sides: dict[Label, Side], work: Path, echo: Echo
) -> tuple[list[dict[Label, dict[str, Any]]], list[tuple[Label, Label]]]:
    rng = random.Random(plan.seed)
    documents: list[dict[Label, dict[str, Any]]] = []
    order: list[tuple[Label, Label]] = []
    for i in range(plan.rounds):
        first: Label = rng.choice(("base", "head"))
        pair: tuple[Label, Label] = (first, "head" if first == "base" else "base")
        docs: dict[Label, dict[str, Any]] = {}
        took = []
        for label in pair:
            started = time.perf_counter()
            docs[label] = _run_once(sides[label], plan, plan.seed + i, work / f"{i}-{label}.json")
            took.append(f"{label} {time.perf_counter() - started:.1f}s")
        echo(f"round {i + 1}/{plan.rounds}: {', '.join(took)}")
        documents.append(docs)
        order.append(pair)
    return documents, order


def judge(rounds: Sequence[dict[Label, dict[str, Any]]], plan: ABPlan) -> ABOutcome:
    """Pair each result's runs over the rounds and judge them (no I/O)."""
    paired: dict[tuple[str, int], list[tuple[PerfResult, PerfResult]]] = {}
    unpaired: dict[str, str] = {}
    everything: list[PerfResult] = []
    for docs in rounds:
        base, head = index_document(docs["base"]), index_document(docs["head"])
        everything += [r for rs in (*base.values(), *head.values()) for r in rs]
        for nodeid, results in head.items():
            for k, (b, h) in enumerate(match_results(base.get(nodeid, []), results)):
                label = nodeid + (f" [{h.name}]" if h.name else "")
                if b is None:
                    unpaired[label] = "only at the head (a new test or run)"
                else:
                    paired.setdefault((nodeid, k), []).append((b, h))
        for nodeid in base.keys() - head.keys():
            unpaired[nodeid] = "only at the base (removed or failing at the head)"
    comparisons = [
        (nodeid, paired_compare(pairs, plan.rules, alpha=plan.alpha))
        for (nodeid, _), pairs in paired.items()
    ]
    notes = [f"{label}: {why}" for label, why in unpaired.items()]
    return ABOutcome(comparisons, [], notes, everything)


def run_ab(plan: ABPlan, echo: Echo) -> ABOutcome:
    """Check both sides collect, run the rounds, judge them."""
    with base_checkout(plan) as base_root, tempfile.TemporaryDirectory() as work:
        sides: dict[Label, Side] = {
            "base": _side("base", base_root, plan),
            "head": _side("head", plan.repo, plan),
        }
        for side in sides.values():
            check_collects(side, plan)
        documents, order = _rounds(plan, sides, Path(work), echo)
    outcome = judge(documents, plan)
    return ABOutcome(outcome.comparisons, order, outcome.unpaired, outcome.results)


def outcome_document(plan: ABPlan, outcome: ABOutcome, fail: str) -> str:
    """The ``--json`` file: the plan, the order of the rounds and every comparison."""
    data = {
        "schema": "pytest-agentperf/ab",
        "version": 1,
        "base": {"rev": plan.base_rev, "commit": plan.base_commit},
        "head": {"commit": plan.head_commit, "uncommitted": list(plan.dirty)},
        "rounds": plan.rounds,
        "seed": plan.seed,
        "order": [list(pair) for pair in outcome.order],
        "alpha": plan.alpha,
        "fail": fail,
        "regressed": bool(outcome.regressed),
        "comparisons": [{"nodeid": n, **c.to_dict()} for n, c in outcome.comparisons],
        "unpaired": outcome.unpaired,
    }
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


# -- what is printed -----------------------------------------------------------------------


def describe_plan(plan: ABPlan) -> str:
    """The run's header: both revisions, the rounds and the pytest arguments."""
    head = f"the working tree at {plan.head_commit[:10]}"
    if plan.dirty:
        shown = ", ".join(plan.dirty[:5]) + (", ..." if len(plan.dirty) > 5 else "")
        files = "1 file" if len(plan.dirty) == 1 else f"{len(plan.dirty)} files"
        head += f" + uncommitted changes in {files} ({shown})"
    lines = [
        f"A/B: base {plan.base_rev} ({plan.base_commit[:10]}) against {head}",
        f"{plan.rounds} rounds, each running both sides in a random order (seed {plan.seed}); "
        f"pytest arguments: {' '.join(plan.pytest_args) or '(none)'}",
    ]
    if plan.base_commit == plan.head_commit and not plan.dirty:
        lines.append("base and head are the same code: an A/A run, which shows the noise")
    return "\n".join(lines)


def _range(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    return "-" if not values else f"{fmt(min(values))}..{fmt(max(values))}"


def machine_summary(results: Sequence[PerfResult]) -> str:
    """The machine's load over every run of both sides, as ranges."""
    checks = [r.selfcheck for r in results]
    waits = [c.run_queue_wait for c in checks if c.run_queue_wait is not None]
    others = [c.other_cpu for c in checks if c.other_cpu is not None]
    cpus = max((c.cpus for c in checks if c.cpus), default=None)
    text = f"machine during the rounds: run-queue wait {_range(waits, lambda v: f'{v:.0%}')}"
    if others:
        of = f" of {cpus}" if cpus else ""
        text += f", other processes {_range(others, lambda v: f'{v:.1f}')}{of} CPUs"
    return text


def render_outcome(plan: ABPlan, outcome: ABOutcome, fail: str) -> str:
    """Every comparison's table, what could not be paired, and the one-line verdict."""
    lines = [machine_summary(outcome.results)]
    for nodeid, comparison in outcome.comparisons:
        lines += ["", nodeid + (f" [{comparison.name}]" if comparison.name else "")]
        lines.append(render_comparison_table(comparison))
    lines += [f"  not compared: {note}" for note in outcome.unpaired]
    lines.append("")
    rule = (
        f"A regression is beyond the limit ({fail}) AND significant at {plan.alpha:g} by "
        f"Wilcoxon's signed-rank test over the {plan.rounds} paired rounds; 'change' is the "
        "median paired change (Hodges-Lehmann), 'rounds' the smallest and largest of a round."
    )
    compared = len(outcome.comparisons)
    if outcome.regressed:
        names = ", ".join(n + (f" [{c.name}]" if c.name else "") for n, c in outcome.regressed)
        lines.append(f"REGRESSED: {len(outcome.regressed)} of {compared} compared runs ({names}).")
    else:
        lines.append(f"No regression in {compared} compared runs.")
    lines.append(rule)
    return "\n".join(lines)
