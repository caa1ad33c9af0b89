"""reference_agent: a production-grade async LLM agent and the blocking design it replaces.

``BaseAgent`` is the execution core (priority queue, bounded admission, N workers, per-task
timeouts, graceful shutdown, statistics); subclass it and implement ``process_task``.
``ImprovedAgent`` adds the reference LLM workload (pooled client, cache with single-flight,
retry, circuit breaker); ``LegacyAgent`` is the serialised design it replaces.
"""

from __future__ import annotations

from reference_agent.agent import ImprovedAgent
from reference_agent.base import AgentState, BaseAgent
from reference_agent.cache import CacheBackend, MemoryCacheBackend, SingleFlightCache
from reference_agent.chat import ChatRequest, ChatResponse, ToolCall
from reference_agent.config import AgentConfig
from reference_agent.errors import (
    AgentConfigError,
    AgentError,
    AgentStateError,
    CircuitOpenError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMServerError,
    LLMStatusError,
    LLMTimeoutError,
    TaskCancelledError,
    TaskRejectedError,
    TaskTimeoutError,
    ToolError,
)
from reference_agent.legacy import LegacyAgent
from reference_agent.metrics import AgentStatistics, HealthReport, LatencyStats
from reference_agent.resilience import BreakerState, CircuitBreaker, RetryPolicy
from reference_agent.task import Task, TaskHandle, TaskResult, TaskStatus, TaskTimings

__all__ = [
    "AgentConfig",
    "AgentConfigError",
    "AgentError",
    "AgentState",
    "AgentStateError",
    "AgentStatistics",
    "BaseAgent",
    "BreakerState",
    "CacheBackend",
    "ChatRequest",
    "ChatResponse",
    "CircuitBreaker",
    "CircuitOpenError",
    "HealthReport",
    "ImprovedAgent",
    "LLMConnectionError",
    "LLMError",
    "LLMRateLimitError",
    "LLMResponseError",
    "LLMServerError",
    "LLMStatusError",
    "LLMTimeoutError",
    "LatencyStats",
    "LegacyAgent",
    "MemoryCacheBackend",
    "RetryPolicy",
    "SingleFlightCache",
    "Task",
    "TaskCancelledError",
    "TaskHandle",
    "TaskRejectedError",
    "TaskResult",
    "TaskStatus",
    "TaskTimeoutError",
    "TaskTimings",
    "ToolCall",
    "ToolError",
]
