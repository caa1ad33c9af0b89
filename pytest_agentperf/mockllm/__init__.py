"""A mock LLM for performance tests: OpenAI (chat completions, Responses, embeddings) and
Anthropic wire formats, latency models, streaming, fault injection, forced tools and
structured output, and four ways in (interception of every httpx and httpx2 client for the
mocked hosts, httpx and httpx2 transports, a real loopback server)."""

from __future__ import annotations

from pytest_agentperf.mockllm.counters import MockStats
from pytest_agentperf.mockllm.faults import Faults, Outage
from pytest_agentperf.mockllm.mock import DEFAULT_BASE_URL, DEFAULT_HOSTS, MockLLM
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
    "DEFAULT_HOSTS",
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
