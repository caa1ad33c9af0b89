"""The OpenAI-compatible chat-completions client: requests, replies, SSE, error mapping.

- ``LLMClient`` is the agent's client for its whole life (``open``/``aclose``). It holds
  one ``httpx.AsyncClient`` -- the seam that an injected transport, respx and anything
  else that intercepts httpx plug into -- and bounds each attempt with a hard timeout
  that covers streams. On the real network the client's transport is an
  ``AiohttpTransport`` (aiohttp's pool; see that module for why), and a plain JSON call
  that nothing intercepts goes straight through it, without httpx's request and
  response objects.
- ``send_chat(client, url, request)`` makes one call with any ``httpx.AsyncClient``
  (``LegacyAgent`` uses it with a new client per call).

Hot path, per call: the body is encoded once with orjson, the URL is parsed once, the
headers are built once, no cookie jar runs (an LLM API sets no cookie the agent needs),
and the reply is decoded with orjson. Every httpx error is mapped to the agent's own
exceptions at this boundary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import httpx
import orjson
from multidict import CIMultiDict

from reference_agent.aiohttp_transport import AiohttpTransport
from reference_agent.chat import ChatRequest, ChatResponse, auth_headers, chat_url, parse_completion
from reference_agent.config import AgentConfig
from reference_agent.deadlines import Deadlines
from reference_agent.errors import (
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMServerError,
    LLMStatusError,
    LLMTimeoutError,
)
from reference_agent.pool_reaper import reap_orphaned_connections
from reference_agent.resilience import parse_retry_after
from reference_agent.sse import StreamAccumulator

__all__ = [
    "BorrowedTransport",
    "LLMClient",
    "borrowed",
    "decode_reply",
    "map_httpx_error",
    "map_httpx_errors",
    "send_chat",
    "status_error",
]

_JSON = "application/json"


# -- replies and errors --------------------------------------------------------------------
def decode_reply(status: int, content: bytes, retry_after: str | None) -> ChatResponse:
    """A whole non-streamed reply -> ``ChatResponse``, or the ``LLMError`` it means."""
    if status >= 300:
        raise _status_error(status, content, retry_after)
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise LLMResponseError(
            f"The LLM endpoint answered {status} with a body that is not JSON: "
            f"{content[:200].decode('utf-8', 'replace')!r}"
        ) from exc
    return parse_completion(data)


def status_error(response: httpx.Response) -> LLMStatusError:
    """The exception for a non-2xx response (429 and 5xx are retryable)."""
    return _status_error(
        response.status_code, response.content, response.headers.get("retry-after")
    )


def _status_error(code: int, content: bytes, retry_after: str | None) -> LLMStatusError:
    delay = parse_retry_after(retry_after)
    text = content[:200].decode("utf-8", "replace")
    message = f"The LLM endpoint answered {code}: {text!r}"
    if code == 429:
        return LLMRateLimitError(message, status_code=code, retry_after=delay)
    if code >= 500:
        return LLMServerError(message, status_code=code, retry_after=delay)
    return LLMStatusError(message, status_code=code, retry_after=delay)


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


# -- one call with any client --------------------------------------------------------------
async def send_chat(
    client: httpx.AsyncClient,
    url: str | httpx.URL,
    request: ChatRequest,
    headers: Mapping[str, str] | None = None,
) -> ChatResponse:
    """One chat-completions call (no retry) through ``client.send``; raises only
    ``LLMError`` subclasses (and ``CancelledError``)."""
    merged = {"content-type": _JSON, **(headers or {})}
    outgoing = client.build_request("POST", url, content=request.encode(), headers=merged)
    try:
        response = await client.send(outgoing, stream=True)
        try:
            if request.stream:
                return await _read_stream(response)
            content = await response.aread()
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise map_httpx_error(exc) from exc
    return decode_reply(response.status_code, content, response.headers.get("retry-after"))


async def _read_stream(response: httpx.Response) -> ChatResponse:
    """Accumulate an SSE reply (up to ``[DONE]``), stamping its first token."""
    if response.status_code >= 300:
        raise status_error(await _read(response))
    stream = StreamAccumulator(clock=time.monotonic)
    async for line in response.aiter_lines():
        if stream.feed(line):
            break
    return stream.finish()


async def _read(response: httpx.Response) -> httpx.Response:
    await response.aread()
    return response


# -- the agent's client --------------------------------------------------------------------
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


_Route = Callable[[httpx.URL], httpx.AsyncBaseTransport]


class LLMClient:
    """The agent's pooled client for its whole life (``open``/``aclose``)."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.url = httpx.URL(chat_url(config.base_url))
        self._url = str(self.url)
        self.headers = auth_headers(config.api_key)
        self._client: httpx.AsyncClient | None = None
        self._wire: AiohttpTransport | None = None
        self._route: _Route | None = None
        timeout = httpx.Timeout(config.request_timeout, connect=config.connect_timeout)
        self._timeout = timeout
        self._extensions = {"timeout": timeout.as_dict()}
        self._request_headers = httpx.Headers()
        self._wire_headers: CIMultiDict[str] = CIMultiDict()
        self._deadlines = Deadlines()
        self.reaped = 0
        """Pool slots reclaimed from httpcore's cancellation leak (see ``pool_reaper``)."""

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("LLMClient is not open; call open() first.")
        return self._client

    @property
    def backend(self) -> str:
        """What carries the requests: "transport" (injected), "aiohttp" or "httpx"."""
        if self.config.transport is not None:
            return "transport"
        return self.config.http_backend

    def open(self) -> None:
        if self._client is not None:
            return
        limits = self._limits()
        client = httpx.AsyncClient(
            transport=self._transport(limits),
            headers={**self.headers, "content-type": _JSON},
            limits=limits,
            timeout=self._timeout,
        )
        self._client = client
        # The same headers as client.build_request would send, built once.
        self._request_headers = httpx.Headers({"host": self.url.netloc.decode("ascii")})
        self._request_headers.update(client.headers)
        wire = CIMultiDict(self._request_headers.multi_items())
        wire["accept-encoding"] = "gzip, deflate"  # what aiohttp decodes
        wire.popall("connection", None)  # aiohttp's to say (keep-alive, or close without it)
        self._wire_headers = wire
        # respx (using="httpx") patches this method to put its mock in front: asking it
        # per call keeps the agent interceptable. None: an httpx without it.
        self._route = getattr(client, "_transport_for_url", None)

    def _limits(self) -> httpx.Limits:
        cfg = self.config
        size = cfg.pool_size
        keepalive = size if cfg.pool_max_keepalive is None else cfg.pool_max_keepalive
        return httpx.Limits(
            max_connections=size,
            max_keepalive_connections=keepalive,
            keepalive_expiry=cfg.keepalive_expiry,
        )

    def _transport(self, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
        """The injected transport (borrowed), the aiohttp one, or None: httpx's own."""
        cfg = self.config
        if cfg.transport is not None:
            return BorrowedTransport(cfg.transport)
        if cfg.http_backend != "aiohttp":
            return None
        # https: the CA bundle httpx trusts (certifi; SSL_CERT_FILE/DIR honoured), so both
        # backends trust the same servers. Building it blocks ~50 ms, once.
        verify = httpx.create_ssl_context() if self.url.scheme == "https" else True
        self._wire = AiohttpTransport(limits=limits, timeout=self._timeout, verify=verify)
        return self._wire

    async def aclose(self) -> None:
        self._deadlines.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def chat(
        self, request: ChatRequest, *, limit: float | None, body: bytes | None = None
    ) -> ChatResponse:
        """One attempt, cancelled after ``limit`` seconds (``LLMTimeoutError``,
        retryable); the pool gets its connection back either way. ``body`` is the
        request's encoding when the caller has it already."""
        if body is None:
            body = request.encode()
        if limit is None:
            return await self._attempt(request, body)
        # asyncio.timeout's logic on a timer shared by the attempts (see deadlines.py),
        # and uncancel() to tell this deadline's cancellation from others'.
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        expiry = self._deadlines.arm(task, limit)
        try:
            return await self._attempt(request, body)
        except asyncio.CancelledError as exc:
            if not expiry.fired or expiry.undo() > cancelling:
                raise  # cancelled by someone else (too)
            raise LLMTimeoutError(
                f"LLM call did not finish within its {limit}s attempt timeout",
                retryable=True,
            ) from exc
        finally:
            self._deadlines.disarm(expiry)
            if expiry.fired:
                expiry.undo()  # fired, but the work ended some other way: take it back

    async def _attempt(self, request: ChatRequest, body: bytes) -> ChatResponse:
        client = self.client
        try:
            if request.stream or self._route is None:
                return await self._send_other(client, request, body)
            return decode_reply(*await self._send(body))
        except httpx.HTTPError as exc:
            raise map_httpx_error(exc) from exc
        except asyncio.CancelledError:  # by the attempt timeout, or the task's
            self.reaped += await reap_orphaned_connections(client)
            raise

    async def _send(self, body: bytes) -> tuple[int, bytes, str | None]:
        """A plain JSON call: (status, body, Retry-After), or httpx's exception. One
        coroutine whichever the transport (~100 such chains are alive at once)."""
        assert self._route is not None
        transport = self._route(self.url)
        if transport is self._wire:
            return await transport.post(self._url, self._wire_headers, body)
        if type(transport) is BorrowedTransport:  # its own coroutine layer is not needed
            transport = transport.transport
        response = await transport.handle_async_request(self._request(body))
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        status = response.status_code
        # Header lookups cost (httpx works out the headers' encoding): only on errors.
        return status, content, response.headers.get("retry-after") if status >= 300 else None

    async def _send_other(
        self, client: httpx.AsyncClient, request: ChatRequest, body: bytes
    ) -> ChatResponse:
        """A streamed call (SSE), or any call when httpx has no routing hook."""
        if self._route is None:
            return await send_chat(client, self.url, request, self.headers)
        transport = self._route(self.url)
        response = await transport.handle_async_request(self._request(body))
        try:
            return await _read_stream(response)
        finally:
            await response.aclose()

    def _request(self, body: bytes) -> httpx.Request:
        # stream= skips httpx's header inference (several scans of the header list): the
        # headers are prebuilt, host included, and only the length is per call.
        request = httpx.Request(
            "POST",
            self.url,
            headers=self._request_headers,
            stream=httpx.ByteStream(body),
            extensions=self._extensions,
        )
        request.headers["Content-Length"] = str(len(body))
        request.read()
        return request
