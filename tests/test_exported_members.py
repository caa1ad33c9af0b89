"""The public API is curated: __all__ is sorted, complete and importable."""

from __future__ import annotations

import pytest

import pytest_agentperf
import reference_agent


def test_all_is_sorted_and_importable() -> None:
    for module in (pytest_agentperf, reference_agent):
        assert module.__all__ == sorted(module.__all__), module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_the_names_users_type_are_exported() -> None:
    # The public contract: what the README, the docs and the examples import.
    for name in (
        "AgentPerf",
        "Empirical",
        "Faults",
        "Fixed",
        "LatencySummary",
        "LogNormal",
        "MemoryReport",
        "MemoryTracker",
        "MockLLM",
        "MockStats",
        "Normal",
        "Outage",
        "PerToken",
        "PerfResult",
        "Reply",
        "Script",
        "SelfCheck",
        "SweepResult",
        "ToolCall",
        "Uniform",
        "WindowStats",
        "budget",
        "first_token",
        "merge",
        "LLMSpend",
        "Prices",
        "ModelPrice",
        "task_headers",
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


def test_the_plugin_surface_users_type(pytester: pytest.Pytester) -> None:
    """Fixtures, markers and options keep their names (the entry point finds them)."""
    fixtures = pytester.runpytest("--fixtures")
    for fixture in ("agent_perf", "mock_llm", "memory_tracker", "async_benchmark"):
        fixtures.stdout.fnmatch_lines([f"{fixture} -- *"])
    markers = pytester.runpytest("--markers")
    markers_users_type = (
        *("agentperf", "throughput", "latency", "memory_growth", "error_rate"),
        *("cpu", "llm", "mock_llm"),
    )
    for marker in markers_users_type:
        markers.stdout.fnmatch_lines([f"@pytest.mark.{marker}(*"])
    help_text = pytester.runpytest("--help").stdout.str()
    for option in (
        "--agentperf",
        "--agentperf-json",
        "--agentperf-html",
        "--agentperf-save",
        "--agentperf-compare",
        "--agentperf-compare-fail",
        "--agentperf-scale",
        "--agentperf-seed",
        "--agentperf-budget",
        "--agentperf-backend",
        "--agentperf-ray-address",
        "--mock-llm-host",
        "--mock-llm-allow",
        "--mock-llm-env",
        "--mock-llm-base-url",
    ):
        assert f"{option} " in help_text or f"{option}=" in help_text, option


def test_the_console_script_and_entry_point_are_declared() -> None:
    from importlib.metadata import entry_points

    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins.get("agentperf") == "pytest_agentperf.plugin"
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("agentperf") == "pytest_agentperf.cli:main"


def test_the_run_keywords_users_type() -> None:
    import inspect

    from pytest_agentperf import AgentPerf

    for method in (AgentPerf.run, AgentPerf.run_sync):
        keywords = inspect.signature(method).parameters
        for name in ("tasks", "n", "concurrency", "rate", "duration", "warmup", "name"):
            assert name in keywords, (method.__name__, name)
        for name in ("processes", "workers", "backend"):
            assert name in keywords, (method.__name__, name)
    assert "backend" in inspect.signature(AgentPerf).parameters
    assert "ray_address" in inspect.signature(AgentPerf).parameters


def test_the_agentperf_subcommands_users_type(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_agentperf.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[0] for line in lines if line.startswith("    ") and line.strip()}
    assert {"compare", "report", "baselines", "ab"} <= listed, listed
