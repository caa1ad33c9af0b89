"""pytest-agentperf: performance tests for async LLM agents.

The names users type are re-exported here; everything else is an implementation detail.
The layers (each imports only from those above it): foundation (``errors``, ``units``,
``result``, ``metrics``, ``protocols``, ``files``, ``clocks``); ``engine``, ``memory`` and
``mockllm``; ``verdict``; ``report``; ``plugin`` and ``cli``. See ``docs/architecture.md``.
"""

from __future__ import annotations

from pytest_agentperf.engine.asyncbench import AsyncBenchmark
from pytest_agentperf.engine.merge import merge
from pytest_agentperf.engine.runner import AgentPerf
from pytest_agentperf.engine.sweep import SweepResult, SweepStep
from pytest_agentperf.engine.targets import first_token
from pytest_agentperf.engine.workers import WorkerContext
from pytest_agentperf.errors import (
    ABError,
    AgentPerfError,
    BaselineError,
    BudgetConfigError,
    CompareExprError,
    LoadConfigError,
    MemoryConfigError,
    MockConfigError,
    ResultError,
    StateError,
    TargetError,
    UnitError,
    WorkerError,
)
from pytest_agentperf.memory import MemoryTracker
from pytest_agentperf.mockllm import (
    Empirical,
    Faults,
    Fixed,
    LogNormal,
    MockLLM,
    MockStats,
    MockToolCall,
    Normal,
    Outage,
    PerToken,
    Reply,
    Script,
    ToolCall,
    Uniform,
)
from pytest_agentperf.plugin.markers import budget
from pytest_agentperf.report.records import TestRecord
from pytest_agentperf.result import (
    Distribution,
    LatencySummary,
    LLMSpend,
    MemoryReport,
    MemorySample,
    PerfResult,
    SelfCheck,
    WindowStats,
)
from pytest_agentperf.spend import ModelPrice, Prices, task_headers

__all__ = [
    "ABError",
    "AgentPerf",
    "AgentPerfError",
    "AsyncBenchmark",
    "BaselineError",
    "BudgetConfigError",
    "CompareExprError",
    "Distribution",
    "Empirical",
    "Faults",
    "Fixed",
    "LLMSpend",
    "LatencySummary",
    "LoadConfigError",
    "LogNormal",
    "MemoryConfigError",
    "MemoryReport",
    "MemorySample",
    "MemoryTracker",
    "MockConfigError",
    "MockLLM",
    "MockStats",
    "MockToolCall",
    "ModelPrice",
    "Normal",
    "Outage",
    "PerToken",
    "PerfResult",
    "Prices",
    "Reply",
    "ResultError",
    "Script",
    "SelfCheck",
    "StateError",
    "SweepResult",
    "SweepStep",
    "TargetError",
    "TestRecord",
    "ToolCall",
    "Uniform",
    "UnitError",
    "WindowStats",
    "WorkerContext",
    "WorkerError",
    "budget",
    "first_token",
    "merge",
    "task_headers",
]
