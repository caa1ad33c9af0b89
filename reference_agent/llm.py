"""The OpenAI-compatible chat-completions client: requests, replies, SSE, error mapping.

- ``send_chat(client, url, request)`` makes one call with any ``httpx.AsyncClient``: plain
  JSON or streamed (SSE ``data:`` lines up to ``[DONE]``), recording when the first token
  arrived. Every httpx error is mapped to the agent's own exceptions at this boundary.
- ``LLMClient`` owns one pooled ``httpx.AsyncClient`` (connection limits, keep-alive,
  injectable transport) and bounds each attempt with a hard timeout that covers streams.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from reference_agent.chat import ChatRequest, ChatResponse, auth_headers, chat_url, parse_completion
from reference_agent.config import AgentConfig
from reference_agent.errors import (
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMServerError,
    LLMStatusError,
    LLMTimeoutError,
)
from reference_agent.poolfix import reap_orphaned_connections
from reference_agent.resilience import parse_retry_after
from reference_agent.sse import StreamAccumulator

__all__ = [
    "BorrowedTransport",
    "LLMClient",
    "borrowed",
    "map_httpx_error",
    "map_httpx_errors",
    "send_chat",
    "status_error",
]


# -- one call ------------------------------------------------------------------------------
async def send_chat(
    client: httpx.AsyncClient,
    url: str,
    request: ChatRequest,
    headers: Mapping[str, str] | None = None,
) -> ChatResponse:
    """One chat-completions call (no retry); raises only ``LLMError`` subclasses (and
    ``CancelledError``)."""
    with map_httpx_errors():
        if request.stream:
            return await _send_stream(client, url, request, headers)
        response = await client.post(url, json=request.body(), headers=headers)
        if response.status_code >= 300:
            raise status_error(response)
        return parse_completion(_json(response))


async def _send_stream(
    client: httpx.AsyncClient,
    url: str,
    request: ChatRequest,
    headers: Mapping[str, str] | None,
) -> ChatResponse:
    async with client.stream("POST", url, json=request.body(), headers=headers) as response:
        if response.status_code >= 300:
            await response.aread()
            raise status_error(response)
        stream = StreamAccumulator(clock=time.monotonic)
        async for line in response.aiter_lines():
            if stream.feed(line):
                break
        return stream.finish()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise LLMResponseError(
            f"The LLM endpoint answered {response.status_code} with a body that is not "
            f"JSON: {response.text[:200]!r}"
        ) from exc


def status_error(response: httpx.Response) -> LLMStatusError:
    """The exception for a non-2xx response (429 and 5xx are retryable)."""
    code = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    message = f"The LLM endpoint answered {code}: {response.text[:200]!r}"
    if code == 429:
        return LLMRateLimitError(message, status_code=code, retry_after=retry_after)
    if code >= 500:
        return LLMServerError(message, status_code=code, retry_after=retry_after)
    return LLMStatusError(message, status_code=code, retry_after=retry_after)


def map_httpx_error(exc: httpx.HTTPError) -> LLMError:
    """httpx's exception -> the agent's (retryable: connect failures, connect and read
    timeouts; not: write/pool timeouts, dropped connections, protocol errors)."""
    what = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.ConnectTimeout | httpx.ReadTimeout):
        return LLMTimeoutError(f"LLM call timed out ({what})", retryable=True)
    if isinstance(exc, httpx.PoolTimeout):
        return LLMTimeoutError(
            f"No pooled connection became free in time ({what})", trips_breaker=False
        )
    if isinstance(exc, httpx.TimeoutException):
        return LLMTimeoutError(f"LLM call timed out ({what})")
    if isinstance(exc, httpx.ConnectError):
        return LLMConnectionError(f"Could not connect to the LLM endpoint ({what})", retryable=True)
    if isinstance(exc, httpx.TransportError):
        return LLMConnectionError(f"The connection to the LLM endpoint failed ({what})")
    return LLMError(f"LLM call failed ({what})")


@contextmanager
def map_httpx_errors() -> Iterator[None]:
    """Translate httpx errors raised inside into ``LLMError``s (``raise ... from exc``)."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise map_httpx_error(exc) from exc


# -- the pooled client ---------------------------------------------------------------------
class BorrowedTransport(httpx.AsyncBaseTransport):
    """Wraps an injected transport so that closing the agent's client leaves it open: the
    caller owns it (several agents may share one mock)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        return None


def borrowed(transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncBaseTransport | None:
    return None if transport is None else BorrowedTransport(transport)


class LLMClient:
    """One pooled ``httpx.AsyncClient`` for an agent's whole life (``open``/``aclose``)."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.url = chat_url(config.base_url)
        self.headers = auth_headers(config.api_key)
        self._client: httpx.AsyncClient | None = None
        self.reaped = 0
        """Pool slots reclaimed from httpcore's cancellation leak (see ``poolfix``)."""

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("LLMClient is not open; call open() first.")
        return self._client

    def open(self) -> None:
        if self._client is not None:
            return
        cfg = self.config
        size = cfg.pool_size
        keepalive = size if cfg.pool_max_keepalive is None else cfg.pool_max_keepalive
        self._client = httpx.AsyncClient(
            transport=borrowed(cfg.transport),
            headers=self.headers,
            limits=httpx.Limits(
                max_connections=size,
                max_keepalive_connections=keepalive,
                keepalive_expiry=cfg.keepalive_expiry,
            ),
            timeout=httpx.Timeout(cfg.request_timeout, connect=cfg.connect_timeout),
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def chat(self, request: ChatRequest, *, limit: float | None) -> ChatResponse:
        """One attempt, cancelled after ``limit`` seconds (``LLMTimeoutError``,
        retryable); the pool gets its connection back either way."""
        client = self.client
        try:
            async with asyncio.timeout(limit):
                return await send_chat(client, self.url, request)
        except asyncio.CancelledError:
            self.reaped += await reap_orphaned_connections(client)
            raise
        except TimeoutError as exc:
            if isinstance(exc, LLMError):
                raise
            self.reaped += await reap_orphaned_connections(client)
            raise LLMTimeoutError(
                f"LLM call did not finish within its {limit}s attempt timeout",
                retryable=True,
            ) from exc
