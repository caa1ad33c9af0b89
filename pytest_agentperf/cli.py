"""The ``agentperf`` console script: compare results outside pytest, and render reports.

    agentperf compare BASE.json HEAD.json [--fail p95:10%,throughput:-5%] [--alpha 0.01]
    agentperf ab --base REV [--rounds 10] [--fail EXPR] [--json OUT] [-- PYTEST ARGS...]
    agentperf report RESULTS.json [--html OUT.html]
    agentperf baselines [--root .agentperf/baselines]

Exit codes: 0 fine, 1 a regression (``compare``, ``ab``), 2 bad input (a missing or
invalid file, a bad ``--fail`` expression or ``--alpha``, an ``--html`` or ``--json``
destination that cannot be written, a ``--base`` that names no commit, too few
``--rounds``, a suite that does not collect), with the reason on stderr.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_agentperf.ab import (
    DEFAULT_ROUNDS,
    describe_plan,
    outcome_document,
    plan_ab,
    render_outcome,
    run_ab,
)
from pytest_agentperf.errors import AgentPerfError
from pytest_agentperf.files import error_text, unwritable_reason, write_atomic
from pytest_agentperf.report.document import check_document, read_results
from pytest_agentperf.report.text import render_comparison_table, table
from pytest_agentperf.result import PerfResult
from pytest_agentperf.units import format_duration, format_fraction, format_rate
from pytest_agentperf.verdict.baseline import (
    DEFAULT_ALPHA,
    DEFAULT_FAIL_EXPR,
    compare_documents,
    parse_fail_expr,
)
from pytest_agentperf.verdict.recommend import spend_growth
from pytest_agentperf.verdict.store import DEFAULT_ROOT, BaselineStore

__all__ = ["main"]

EXIT_OK, EXIT_REGRESSED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentperf",
        description="Compare pytest-agentperf results and render reports.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cmp = commands.add_parser(
        "compare",
        help="compare two results files; exit 1 on a regression",
        description="Compare HEAD with BASE test by test. A metric regresses when its change "
        "is beyond the --fail limit AND statistically significant. Exit 1 on a regression.",
    )
    cmp.add_argument("base", help="baseline: a results/baseline JSON file or a saved name")
    cmp.add_argument("head", help="current results: a --agentperf-json file")
    cmp.add_argument(
        "--fail",
        default=DEFAULT_FAIL_EXPR,
        metavar="EXPR",
        help="regression limits, e.g. 'p95:10%%,throughput:-5%%' (default: %(default)s)",
    )
    cmp.add_argument(
        "--alpha",
        type=_alpha,
        default=DEFAULT_ALPHA,
        help="significance level, between 0 and 1 (default: %(default)s)",
    )
    cmp.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="where saved baselines are")

    _ab_parser(commands)

    rep = commands.add_parser("report", help="print a results file; write it as HTML")
    rep.add_argument("results", help="a results file written by --agentperf-json")
    rep.add_argument("--html", type=Path, metavar="OUT", help="write a single-file HTML report")

    lst = commands.add_parser("baselines", help="list saved baselines")
    lst.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="where saved baselines are")
    return parser


def _ab_parser(commands: Any) -> None:
    ab = commands.add_parser(
        "ab",
        help="run the suite at a base revision and at the working tree in turn; exit 1 on a "
        "regression",
        description="Paired A/B in one job: run the performance suite at the base revision "
        "(a temporary git worktree, this environment) and at the working tree alternately, "
        "ROUNDS rounds in random order, and judge each figure on the paired differences "
        "(Wilcoxon signed-rank test + the --fail limit). Arguments after the options (or "
        "after --) go to pytest. Exit 1 on a regression.",
    )
    ab.add_argument("--base", required=True, metavar="REV", help="the revision to compare with")
    ab.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help="rounds, each runs both sides once (default: %(default)s)",
    )
    ab.add_argument(
        "--fail",
        default=DEFAULT_FAIL_EXPR,
        metavar="EXPR",
        help="regression limits, e.g. 'p95:10%%,throughput:-5%%' (default: %(default)s)",
    )
    ab.add_argument("--alpha", type=_alpha, default=DEFAULT_ALPHA, help="significance level")
    ab.add_argument("--seed", type=int, help="seed of the rounds' order and workloads")
    ab.add_argument("--json", type=Path, metavar="OUT", help="write the judged comparison")
    ab.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments for pytest")


def _alpha(text: str) -> float:
    """``--alpha``: a significance level, strictly between 0 and 1."""
    try:
        alpha = float(text)
    except ValueError:
        alpha = math.nan
    if not 0.0 < alpha < 1.0:  # also rejects nan
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a significance level; use a number between 0 and 1 (exclusive), "
            "e.g. 0.01 (a change must be that unlikely to be noise to count)"
        )
    return alpha


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "compare":
            return _compare(args)
        if args.command == "ab":
            return _ab(args)
        if args.command == "report":
            return _report(args)
        return _baselines(args)
    except AgentPerfError as exc:
        print(f"agentperf {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _load(spec: str, root: Path) -> dict[str, Any]:
    """A results document from a file path, or from the store when ``spec`` is a saved name;
    checked against the schema either way."""
    path = Path(spec)
    if path.exists() or spec.endswith(".json") or "/" in spec:
        return read_results(path)
    store = BaselineStore(root)
    return check_document(store.load(spec), f"the baseline {str(store.path(spec))!r}")


def _describe(document: dict[str, Any]) -> str:
    env = document.get("environment") or {}
    parts = [
        f"python {env['python']}" if env.get("python") else "",
        str(env.get("platform") or ""),
        f"{env['cpus']} cpus" if env.get("cpus") else "",
        f"commit {str(env['git_commit'])[:10]}" if env.get("git_commit") else "",
        str(document.get("created") or ""),
    ]
    return ", ".join(p for p in parts if p) or "no environment recorded"


def _compare(args: argparse.Namespace) -> int:
    rules = parse_fail_expr(args.fail, where="--fail")
    base, head = _load(args.base, args.root), _load(args.head, args.root)
    print(f"baseline: {args.base} ({_describe(base)})")
    print(f"current:  {args.head} ({_describe(head)})")
    outcomes = compare_documents(base, head, rules, alpha=args.alpha)
    for item in outcomes:
        title = item.nodeid + (f" [{item.name}]" if item.name else "")
        print(f"\n{title}")
        if item.comparison is None:
            print(f"  {item.note}: not compared")
        else:
            print(render_comparison_table(item.comparison))
    regressed = [i for i in outcomes if i.regressed]
    compared = sum(1 for i in outcomes if i.comparison is not None)
    print()
    unsure = [i for i in outcomes if i.comparison is not None and i.comparison.inconclusive]
    if unsure:
        names = ", ".join(i.nodeid + (f" [{i.name}]" if i.name else "") for i in unsure)
        print(
            f"INCONCLUSIVE (not a failure): {len(unsure)} of {compared} compared runs ({names}) "
            "regressed in wall-clock time only while the current machine was materially busier "
            "than the baseline's, and CPU per task does not confirm it."
        )
    if regressed:
        names = ", ".join(i.nodeid + (f" [{i.name}]" if i.name else "") for i in regressed)
        print(f"REGRESSED: {len(regressed)} of {compared} compared runs ({names}).")
        print(
            f"A regression is beyond the limit ({args.fail}) AND significant at {args.alpha:g}; "
            "exact figures (LLM calls, tokens, cost per task) regress on any change beyond "
            "their tolerance."
        )
        growth = [
            t for i in regressed if i.comparison for t in spend_growth(i.nodeid, [i.comparison])
        ]
        if growth:
            print("\n".join(["recommendations:", *(f"  - {t}" for t in growth)]))
        return EXIT_REGRESSED
    print(f"No regression in {compared} compared runs (limits {args.fail}, alpha {args.alpha:g}).")
    return EXIT_OK


def _ab(args: argparse.Namespace) -> int:
    rules = parse_fail_expr(args.fail, where="--fail")
    if args.json is not None and (reason := unwritable_reason(args.json)):
        print(f"agentperf ab: error: cannot write --json {str(args.json)!r}: {reason}.",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    plan = plan_ab(args.base, args.pytest_args, rounds=args.rounds, alpha=args.alpha,
                   rules=rules, seed=args.seed)  # fmt: skip
    print(describe_plan(plan))
    outcome = run_ab(plan, echo=lambda line: print(line, file=sys.stderr, flush=True))
    print(render_outcome(plan, outcome, args.fail))
    if args.json is not None:
        write_atomic({args.json: outcome_document(plan, outcome, args.fail)})
    return EXIT_REGRESSED if outcome.regressed else EXIT_OK


REPORT_HEADERS = ["test", "outcome", "tasks", "throughput", "p50", "p95", "p99", "errors", "eff."]


def _report_rows(document: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for test in document.get("tests", ()):
        nodeid, outcome = str(test.get("nodeid", "?")), str(test.get("outcome", "?"))
        results = [PerfResult.from_dict(r) for r in test.get("results") or ()]
        if not results:
            rows.append([nodeid, outcome, *["-"] * (len(REPORT_HEADERS) - 2)])
        for r in results:
            label = nodeid if len(results) == 1 else f"{nodeid} [{r.name}]"
            rows.append(
                [
                    label,
                    outcome,
                    str(r.total),
                    format_rate(r.throughput),
                    format_duration(r.latency.p50),
                    format_duration(r.latency.p95),
                    format_duration(r.latency.p99),
                    format_fraction(r.error_rate),
                    "-" if r.efficiency is None else f"{r.efficiency:.2f}",
                ]
            )
    return rows


def _report(args: argparse.Namespace) -> int:
    document = read_results(args.results)
    print(f"{args.results} ({_describe(document)})")
    rows = _report_rows(document)
    print(table(REPORT_HEADERS, rows, align="numbers") if rows else "  no performance tests")
    if args.html is not None:
        from pytest_agentperf.report.html import write_html

        try:
            write_html(document, args.html)
        except OSError as exc:
            reason = unwritable_reason(args.html) or error_text(exc)
            print(
                f"agentperf report: error: cannot write the HTML report to {str(args.html)!r}: "
                f"{reason}.",
                file=sys.stderr,
            )
            return EXIT_USAGE
        print(f"HTML report: {args.html}")
    return EXIT_OK


def _baselines(args: argparse.Namespace) -> int:
    infos = BaselineStore(args.root).list()
    if not infos:
        print(f"No baselines in {args.root}.")
        return EXIT_OK
    rows = [[i.name, i.saved_at, _describe({"environment": i.environment})] for i in infos]
    print(table(["name", "saved at (UTC)", "environment"], rows, align="numbers"))
    return EXIT_OK
