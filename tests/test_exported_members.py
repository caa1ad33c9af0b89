"""The public API is curated: __all__ is sorted, complete and importable."""

from __future__ import annotations

import pytest_agentperf
import reference_agent


def test_all_is_sorted_and_importable() -> None:
    for module in (pytest_agentperf, reference_agent):
        assert module.__all__ == sorted(module.__all__), module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_design_names_are_exported() -> None:
    # The names DESIGN.md promises users.
    for name in (
        "budget",
        "Faults",
        "LogNormal",
        "Fixed",
        "Uniform",
        "Normal",
        "Empirical",
        "PerToken",
        "MockLLM",
        "PerfResult",
        "AgentPerf",
    ):
        assert name in pytest_agentperf.__all__
    for name in (
        "BaseAgent",
        "Task",
        "TaskStatus",
        "TaskResult",
        "TaskHandle",
        "AgentConfig",
        "ImprovedAgent",
        "LegacyAgent",
    ):
        assert name in reference_agent.__all__


def test_public_objects_belong_to_the_package() -> None:
    for name in pytest_agentperf.__all__:
        obj = getattr(pytest_agentperf, name)
        module = getattr(obj, "__module__", "pytest_agentperf")
        assert module.startswith("pytest_agentperf"), (name, module)
