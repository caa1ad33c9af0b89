"""The compatibility matrix: the mock LLM against real agent stacks, each in its own environment.

    nox -s compat                      # every stack (what .ci/run does)
    nox -s "compat(stack='litellm')"   # one stack
    nox -l                             # the sessions

The stacks' pins conflict (llama-index-llms-openai needs openai<3, instructor pulls openai
down), so each session installs the project plus one stack into a fresh environment, with
uv when it is installed (seconds per environment instead of minutes), and runs that stack's
tests under ``pytest --agentperf`` with the plain ``mock_llm`` fixture. The tests live in
``tests/compat/``; the main test run does not collect them.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes" if os.environ.get("AGENTPERF_NOX_REUSE") else "no"
nox.options.sessions = ["compat"]

#: One line per stack: what it installs beside the project, as its docs say to.
STACKS: dict[str, list[str]] = {
    "openai": ["openai>=3"],
    "anthropic": ["anthropic>=2"],
    "pydantic_ai": ["pydantic-ai-slim[openai]>=1.0"],
    "openai_agents": ["openai-agents>=0.24"],
    "langgraph": ["langchain-openai>=1.0", "langgraph>=1.0"],
    "litellm": ["litellm>=1.70"],
    "llama_index": ["llama-index-llms-openai>=0.5", "llama-index-core>=0.14"],
    "instructor": ["instructor>=1.10"],
}

#: Set for the tests' process: which stack runs, and what a stack needs to import offline.
ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm would fetch its cost map at import
    "OTEL_SDK_DISABLED": "true",
}


_VERSIONS = """
import importlib.metadata as m, sys
found = []
for name in sys.argv[1:]:
    try:
        found.append(f"{name} {m.version(name)}")
    except m.PackageNotFoundError:
        pass
print("versions:", ", ".join(found))
"""


def _dist(requirement: str) -> str:
    """The distribution a requirement names (``pydantic-ai-slim[openai]>=1.0`` -> ...)."""
    for stop in "[<>=!~ ":
        requirement = requirement.split(stop, 1)[0]
    return requirement


@nox.session(python=False, name="compat-list")
def compat_list(session: nox.Session) -> None:
    """Print the stacks and what each installs."""
    for stack, packages in STACKS.items():
        session.log(f"{stack}: {' '.join(packages)}")


@nox.session
@nox.parametrize("stack", list(STACKS))
def compat(session: nox.Session, stack: str) -> None:
    """One stack's agent, with no injection, under ``pytest --agentperf`` and ``mock_llm``."""
    session.install("-e", ".[httpx2]", *STACKS[stack])
    names = [_dist(package) for package in STACKS[stack]] + ["openai", "httpx", "httpx2"]
    session.run("python", "-c", _VERSIONS, *names)
    session.run(
        "pytest",
        "-c",
        "tests/compat/pytest.ini",
        "--rootdir",
        "tests/compat",
        "--agentperf",
        f"tests/compat/test_{stack}.py",
        *session.posargs,
        env={**ENV, "AGENTPERF_COMPAT_STACK": stack},
    )
