"""A mock LLM for performance tests: OpenAI and Anthropic wire formats, latency models,
streaming, fault injection, and four ways in (respx patching, httpx and httpx2 transports,
a real loopback server)."""

from __future__ import annotations

from pytest_agentperf.mockllm.counters import MockStats
from pytest_agentperf.mockllm.faults import Faults, Outage
from pytest_agentperf.mockllm.mock import DEFAULT_BASE_URL, MockLLM
from pytest_agentperf.mockllm.models import (
    Empirical,
    Fixed,
    LatencyModel,
    LogNormal,
    Normal,
    PerToken,
    Uniform,
)
from pytest_agentperf.mockllm.replies import LLMRequest, MockToolCall, Reply, Script, ToolCall

__all__ = [
    "DEFAULT_BASE_URL",
    "Empirical",
    "Faults",
    "Fixed",
    "LLMRequest",
    "LatencyModel",
    "LogNormal",
    "MockLLM",
    "MockStats",
    "MockToolCall",
    "Normal",
    "Outage",
    "PerToken",
    "Reply",
    "Script",
    "ToolCall",
    "Uniform",
]
