"""Exceptions of reference_agent: one module, each class says when it is raised.

Lower-level errors (httpx, asyncio) are translated at the boundary with
``raise Mapped(...) from exc``, so callers only ever catch these types.

Two attributes drive the resilience layer:

- ``retryable``: the retry policy may try the call again (429, 5xx, connect failures,
  connect/read timeouts and the agent's own per-attempt timeout).
- ``trips_breaker``: the failure says the upstream is unhealthy and counts towards the
  circuit breaker's failure rate (a 400 does not; a 503 does). One that does not trip it
  counts as a success only when the upstream answered (a 4xx); a local one that never
  reached it (no pooled connection) is not counted at all.
"""

from __future__ import annotations

__all__ = [
    "AgentConfigError",
    "AgentError",
    "AgentStateError",
    "CircuitOpenError",
    "LLMConnectionError",
    "LLMError",
    "LLMRateLimitError",
    "LLMResponseError",
    "LLMServerError",
    "LLMStatusError",
    "LLMTimeoutError",
    "TaskCancelledError",
    "TaskRejectedError",
    "TaskTimeoutError",
    "ToolError",
]


class AgentError(Exception):
    """Base class of every error raised by reference_agent."""


class AgentConfigError(AgentError, ValueError):
    """Raised when an ``AgentConfig`` field has a value outside what is accepted.

    The message names the field, the value given and what is accepted.
    """


class AgentStateError(AgentError, RuntimeError):
    """Raised when an operation is not allowed in the agent's lifecycle state.

    For example submitting a task before ``start()`` or after ``stop()`` began.
    """


class TaskRejectedError(AgentError):
    """Raised when a task is not admitted: the queue stayed full for the admission timeout,
    the agent began stopping while the task waited for room, or the caller of ``submit``
    was cancelled while it waited (``submit`` then raises ``CancelledError``).

    It is the ``error`` of a ``TaskResult`` whose status is ``REJECTED``.
    """


class TaskTimeoutError(AgentError, TimeoutError):
    """Raised when a task runs longer than its timeout; its work has been cancelled.

    It is the ``error`` of a ``TaskResult`` whose status is ``TIMED_OUT``.
    """


class TaskCancelledError(AgentError):
    """Raised when a task is cancelled (by its handle or by shutdown) before it finished.

    It is the ``error`` of a ``TaskResult`` whose status is ``CANCELLED``.
    """


class ToolError(AgentError):
    """Raised when the model asks for a tool that is not registered, or the tool-call loop
    needs more rounds than allowed."""


class CircuitOpenError(AgentError):
    """Raised when the circuit breaker is open (or half-open with every probe slot taken)
    and the call fails fast without reaching the upstream."""

    def __init__(self, message: str, *, retry_in: float | None = None) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class LLMError(AgentError):
    """Raised when a call to the LLM endpoint fails; subclasses say how."""

    retryable: bool = False
    trips_breaker: bool = True

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        trips_breaker: bool | None = None,
    ) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable
        if trips_breaker is not None:
            self.trips_breaker = trips_breaker


class LLMConnectionError(LLMError):
    """Raised when the connection to the LLM endpoint fails: refused or unreachable
    (retryable, nothing was sent) or dropped mid-response (not retryable)."""


class LLMTimeoutError(LLMError, TimeoutError):
    """Raised when an attempt times out: connecting, reading, or the agent's own per-attempt
    timeout (retryable); writing or waiting for a pooled connection (not retryable)."""


class LLMResponseError(LLMError):
    """Raised when the endpoint answers 2xx with a body that is not a valid chat completion
    (bad JSON, bad SSE stream, an error object inside the stream)."""


class LLMStatusError(LLMError):
    """Raised when the endpoint answers with a non-2xx status that is not 429 or 5xx.

    A client error (4xx) is the caller's fault: not retried, not counted by the breaker.
    """

    trips_breaker = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        retry_after: float | None = None,
        retryable: bool | None = None,
        trips_breaker: bool | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable, trips_breaker=trips_breaker)
        self.status_code = status_code
        self.retry_after = retry_after


class LLMRateLimitError(LLMStatusError):
    """Raised when the endpoint answers 429 Too Many Requests (retryable; honours
    ``Retry-After``)."""

    retryable = True
    trips_breaker = True


class LLMServerError(LLMStatusError):
    """Raised when the endpoint answers with a 5xx status (retryable; honours
    ``Retry-After``)."""

    retryable = True
    trips_breaker = True
