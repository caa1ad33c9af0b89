"""pytest-agentperf: performance tests for async LLM agents."""

from __future__ import annotations

from pytest_agentperf.result import LatencySummary, MemoryReport, PerfResult

__all__ = ["LatencySummary", "MemoryReport", "PerfResult"]
