"""pytest-agentperf: performance tests for async LLM agents.

The names users type are re-exported here; everything else is an implementation detail.
"""

from __future__ import annotations

from pytest_agentperf.budgets import budget
from pytest_agentperf.errors import (
    AgentPerfError,
    BudgetConfigError,
    TargetError,
    UnitError,
)
from pytest_agentperf.load import AgentPerf
from pytest_agentperf.memory import MemoryTracker
from pytest_agentperf.merge import merge
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
from pytest_agentperf.result import (
    LatencySummary,
    MemoryReport,
    PerfResult,
    SelfCheck,
    WindowStats,
)
from pytest_agentperf.sweep import SweepResult
from pytest_agentperf.targets import first_token

__all__ = [
    "AgentPerf",
    "AgentPerfError",
    "BudgetConfigError",
    "Empirical",
    "Faults",
    "Fixed",
    "LatencySummary",
    "LogNormal",
    "MemoryReport",
    "MemoryTracker",
    "MockLLM",
    "MockStats",
    "MockToolCall",
    "Normal",
    "Outage",
    "PerToken",
    "PerfResult",
    "Reply",
    "Script",
    "SelfCheck",
    "SweepResult",
    "TargetError",
    "ToolCall",
    "Uniform",
    "UnitError",
    "WindowStats",
    "budget",
    "first_token",
    "merge",
]
