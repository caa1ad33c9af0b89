"""An httpx transport on aiohttp's connection pool, and the agent's direct path through it.

Why: over real sockets, httpx 0.28's own pool (httpcore 1.0) does bookkeeping that grows
with the number of connections on every request: at 100 connections it costs 8-13 ms of
CPU per request, against ~0.25 ms for aiohttp on the same server (measured by
``benchmarks/bench_agents.py --sockets``). So ``LLMClient`` keeps an ``httpx.AsyncClient``
as its seam -- an injected transport, respx patching (``using="httpx"``) and anything else
that intercepts httpx clients keep working -- and moves the bytes with aiohttp:

- ``AiohttpTransport`` is an ``httpx.AsyncBaseTransport``: any httpx request (streams
  included) goes over one ``aiohttp.ClientSession``, with aiohttp's errors mapped to
  httpx's, so the agent's error mapping sees httpx exceptions whichever transport ran.
- ``AiohttpTransport.post`` is the direct path the agent takes for a plain JSON call when
  the client would send through this very transport (nothing intercepts it): no httpx
  ``Request``/``Response`` objects at all, the same pool, the same limits and errors.

Pool: at most ``max_connections`` requests hold a connection at once; a request that
waits longer than the pool timeout for one fails with ``httpx.PoolTimeout``, as with
httpx's own pool. ``max_keepalive_connections=0`` closes every connection after its
response. aiohttp's connector frees the slot of a request cancelled at any point (its
pool does not have httpcore's cancellation leak, see ``pool_reaper``). Cookies are never
stored (an LLM API sets none the agent needs). Proxies from the environment are httpx's
business: its client mounts a proxy transport of its own for the URLs they cover.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
import yarl
from multidict import CIMultiDict

__all__ = ["AiohttpTransport", "map_aiohttp_error"]

_Timeouts = Mapping[str, float | None]


def map_aiohttp_error(exc: aiohttp.ClientError, request: httpx.Request | None) -> httpx.HTTPError:
    """aiohttp's exception -> the httpx exception httpx's own transport raises for it."""
    what = f"{type(exc).__name__}: {exc}"
    mapped: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        mapped = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        mapped = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        mapped = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        mapped = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError):
        mapped = httpx.ReadError
    elif isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        mapped = httpx.UnsupportedProtocol
    else:
        mapped = httpx.TransportError
    return mapped(what, request=request) if request is not None else mapped(what)


@contextmanager
def _mapped(request: httpx.Request | None) -> Iterator[None]:
    try:
        yield
    except aiohttp.ClientError as exc:
        raise map_aiohttp_error(exc, request) from exc


class _Body(httpx.AsyncByteStream):
    """A response body read from aiohttp as it arrives (SSE streams stay live); closing it
    returns the connection (or drops it, when unread) and frees the pool slot."""

    __slots__ = ("_request", "_response", "_slots")

    def __init__(
        self, response: aiohttp.ClientResponse, slots: asyncio.Semaphore, request: httpx.Request
    ) -> None:
        self._response = response
        self._slots: asyncio.Semaphore | None = slots
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        with _mapped(self._request):
            while chunk := await content.readany():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests over one aiohttp ``ClientSession`` (opened on first use).

    ``limits`` and ``timeout`` have httpx's meaning: the pool size and keep-alive, and the
    connect/read/pool timeouts used when a request carries none (``post`` always uses
    them). ``verify`` is True (the system's CA store), False, or an ``ssl.SSLContext``.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits | None = None,
        timeout: httpx.Timeout | None = None,
        verify: Any = True,
    ) -> None:
        limits = limits or httpx.Limits()
        self._limits = limits
        self._size = limits.max_connections or 2**31
        self._timeout = (timeout or httpx.Timeout(5.0)).as_dict()
        self._verify = verify
        self._slots = asyncio.Semaphore(self._size)
        self._direct_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeout.get("connect")
        )
        self._session: aiohttp.ClientSession | None = None
        self._client_timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        self._urls: dict[str, yarl.URL] = {}
        self._closed = False

    @property
    def in_use(self) -> int:
        """Requests holding a pool slot now (a response counts until it is closed)."""
        return self._size - self._slots._value

    # -- the session -----------------------------------------------------------------------
    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("AiohttpTransport is closed.")
        limits = self._limits
        keepalive: dict[str, Any] = {"force_close": True}  # no keep-alive: close after each
        if limits.max_keepalive_connections != 0:
            keepalive = {"keepalive_timeout": limits.keepalive_expiry or None}
        connector = aiohttp.TCPConnector(
            limit=0,  # the slots semaphore bounds requests, so that pool waits are timed
            ssl=self._verify,
            **keepalive,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes by content-encoding, as for its own pool
            trust_env=False,  # httpx's client mounts its own proxy transports from the env
        )
        return self._session

    def _client_timeout(self, timeouts: _Timeouts) -> aiohttp.ClientTimeout:
        key = (timeouts.get("connect"), timeouts.get("read"))
        found = self._client_timeouts.get(key)
        if found is None:
            found = aiohttp.ClientTimeout(total=None, sock_connect=key[0], sock_read=key[1])
            self._client_timeouts[key] = found
        return found

    def _yarl(self, url: str) -> yarl.URL:
        found = self._urls.get(url)
        if found is None:
            if len(self._urls) > 256:  # the agent uses one URL; others are not kept forever
                self._urls.clear()
            found = self._urls[url] = yarl.URL(url, encoded=True)
        return found

    async def _take_slot(self, pool_timeout: float | None, request: httpx.Request | None) -> None:
        slots = self._slots
        if not slots.locked():
            await slots.acquire()  # returns at once
            return
        try:
            async with asyncio.timeout(pool_timeout):
                await slots.acquire()
        except TimeoutError:
            what = f"no pooled connection became free within {pool_timeout}s"
            error = httpx.PoolTimeout(what, request=request) if request else httpx.PoolTimeout(what)
            raise error from None

    # -- httpx's transport interface -------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: _Timeouts = request.extensions.get("timeout") or self._timeout
        session = self._session or self._open()
        try:
            data: Any = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # streamed upload: aiohttp chunks it
            request.headers.pop("transfer-encoding", None)
        await self._take_slot(timeouts.get("pool"), request)
        try:
            with _mapped(request):
                response = await session.request(
                    request.method,
                    self._yarl(str(request.url)),
                    headers=request.headers.multi_items(),
                    data=data,
                    allow_redirects=False,
                    timeout=self._client_timeout(timeouts),
                )
        except BaseException:
            self._slots.release()
            raise
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response, self._slots, request),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- the direct path -------------------------------------------------------------------
    async def post(
        self, url: str, headers: CIMultiDict[str], body: bytes
    ) -> tuple[int, bytes, str | None]:
        """POST ``body`` and read the whole reply: (status, body, Retry-After header).

        Raises httpx's exceptions, like ``handle_async_request``. Connecting and waiting
        for a pooled connection are timed; reading is not (no timer per chunk): the caller
        bounds the whole call, as the agent's per-attempt deadline does."""
        session = self._session or self._open()
        await self._take_slot(self._timeout.get("pool"), None)
        try:
            response = await session.request(
                "POST",
                self._yarl(url),
                headers=headers,
                data=body,
                allow_redirects=False,
                auto_decompress=True,
                timeout=self._direct_timeout,
            )
            try:
                content = await response.read()
            finally:
                response.release()
        except aiohttp.ClientError as exc:
            raise map_aiohttp_error(exc, None) from exc
        finally:
            self._slots.release()
        status = response.status
        return status, content, response.headers.get("Retry-After") if status >= 300 else None
