"""The layers the tree shows are the layers the imports respect (read with ``ast``).

foundation (errors, files, clocks, units, result, metrics, protocols, spend)
  <- engine, memory, mockllm        (never import each other's internals upward)
  <- verdict
  <- report
  <- plugin, cli, ab                (nothing imports plugin or cli; only cli imports ab)

Every import counts, including those inside functions and under ``TYPE_CHECKING``: a lazy
import hides a dependency, it does not remove it. And there are no cycles between modules.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import pytest_agentperf
from pytest_agentperf import errors

PACKAGE = Path(pytest_agentperf.__file__).parent
ROOT = PACKAGE.parent
FOUNDATION = {"errors", "files", "clocks", "units", "result", "metrics", "protocols", "spend"}
LAYERS = {  # a module may import from its own layer and the layers with a smaller number
    **dict.fromkeys(FOUNDATION, 0),
    "engine": 1,
    "memory": 1,
    "mockllm": 1,
    "verdict": 2,
    "report": 3,
    "plugin": 4,
    "cli": 4,
    "ab": 4,
    "__init__": 5,  # the public API re-exports from everywhere
}
# Same-layer packages that must not depend on each other.
SIBLINGS = {"engine", "memory", "mockllm"}


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): path
        for path in PACKAGE.rglob("*.py")
    }


def _imports(module: str, path: Path) -> Iterator[str]:
    """The pytest_agentperf modules ``module`` imports (resolved, relative ones too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        yield from (n for n in names if n.startswith("pytest_agentperf"))


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted import name refers to (``a.b.C`` -> ``a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _part(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {_resolve(n, modules) for n in _imports(module, path)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def test_every_module_is_in_a_layer() -> None:
    unknown = sorted({_part(m) for m in _modules()} - set(LAYERS))
    assert not unknown, f"modules outside the layers: {unknown}; add them to LAYERS"


def test_imports_point_down_the_layers() -> None:
    upward = []
    for module, targets in _graph().items():
        for target in targets:
            if target == "pytest_agentperf":
                if module != "pytest_agentperf":
                    upward.append(f"{module} -> {target} (import from the module, not the API)")
                continue
            mine, theirs = _part(module), _part(target)
            if LAYERS[theirs] > LAYERS[mine]:
                upward.append(f"{module} -> {target}")
            elif mine != theirs and {mine, theirs} <= SIBLINGS:
                upward.append(f"{module} -> {target} (sibling layers)")
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == "pytest_agentperf" or nxt.endswith(".__init__"):
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state and module != "pytest_agentperf":
            visit(module, [module])
    cycles = [c for c in cycles if not _package_init_edge(c, graph)]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _package_init_edge(cycle: list[str], graph: dict[str, set[str]]) -> bool:
    """A package's ``__init__`` importing its own submodules is not a cycle of concern."""
    return any(
        a.count(".") < b.count(".") and b.startswith(a + ".") for a, b in itertools.pairwise(cycle)
    )


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from pytest_agentperf.plugin import settings\n")
    names = list(_imports("pytest_agentperf.engine.m", source))
    assert "pytest_agentperf.plugin.settings" in names


# -- errors -------------------------------------------------------------------------------


def test_every_error_class_is_exported() -> None:
    classes = [
        name
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.AgentPerfError)
    ]
    missing = sorted(set(classes) - set(pytest_agentperf.__all__))
    assert not missing, f"errors users can catch but not import: {missing}"


# -- docstrings that name files -----------------------------------------------------------

_PATH = re.compile(r"\b((?:docs|tests|examples|benchmarks)/[\w./-]+\.(?:md|py|yml|json))")


def _named_paths() -> Iterator[tuple[Path, str]]:
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "reference_agent").rglob("*.py")]:
        for match in _PATH.finditer(path.read_text(encoding="utf-8")):
            yield path, match.group(1)


@pytest.mark.parametrize(
    ("source", "named"),
    [pytest.param(s, n, id=f"{s.name}:{n}") for s, n in _named_paths()],
)
def test_a_path_named_in_the_code_exists(source: Path, named: str) -> None:
    assert (ROOT / named).exists(), f"{source.relative_to(ROOT)} names {named}, which is missing"


def test_the_path_checker_finds_paths() -> None:
    found = _PATH.findall("see docs/engine.md and tests/engine/test_runner.py, not docs/x")
    assert found == ["docs/engine.md", "tests/engine/test_runner.py"]
