"""Front ends for httpx-style clients: the plan executor, the transports and the respx router.

``HttpxFront`` is written once against a ``Flavour`` -- the response, stream and exception
classes of one client library -- so ``httpx`` and ``httpx2`` share every line of logic.
Delays are deadlines: each segment is due at ``arrival + offset``, so sleeping late for one
chunk does not push the next one back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx
from respx.models import AllMockedAssertionError, PassThrough

from pytest_agentperf.clocks import GC_CPU, clock_overhead
from pytest_agentperf.mockllm.core import Incoming, MockCore, Plan
from pytest_agentperf.mockllm.faults import CONNECTION_ERROR, TIMEOUT
from pytest_agentperf.mockllm.hosts import HostSet

__all__ = ["Flavour", "HttpxFront", "MockRouter", "MockTransport", "PlanStreamMixin"]

_MESSAGES = {
    TIMEOUT: "The read operation timed out (emulated by the mock LLM).",
    CONNECTION_ERROR: "Connection refused (injected by the mock LLM).",
}
_HEADER_SETS = 4096
_DISCONNECT = "peer closed connection without sending complete message body (mock LLM)"


@dataclass(frozen=True, slots=True)
class Flavour:
    """The classes of one HTTP client library (httpx or httpx2)."""

    response: Callable[..., Any]
    stream: Callable[..., Any]
    bytestream: Callable[[bytes], Any]
    read_timeout: Callable[..., Exception]
    connect_error: Callable[..., Exception]
    protocol_error: Callable[..., Exception]
    headers_class: Callable[..., Any]
    _headers: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def headers(self, pairs: Any) -> Any:
        """``pairs`` as the library's ``Headers``, built once per distinct set.

        A response copies the ``Headers`` it is given, which costs a third of normalising
        the pairs again on every answer; the set of distinct header lists is small (they
        differ by content-length), and bounded here.
        """
        built = self._headers.get(pairs)
        if built is None:
            if len(self._headers) >= _HEADER_SETS:
                self._headers.clear()
            built = self._headers[pairs] = self.headers_class(pairs)
        return built

    def error(self, fault: str | None, request: Any) -> Exception:
        """The client's own exception for ``fault``."""
        if fault == TIMEOUT:
            return self.read_timeout(_MESSAGES[TIMEOUT], request=request)
        if fault == CONNECTION_ERROR:
            return self.connect_error(_MESSAGES[CONNECTION_ERROR], request=request)
        return self.protocol_error(_DISCONNECT, request=request)


async def sleep_until(deadline: float, loop: asyncio.AbstractEventLoop) -> None:
    """Sleep until the loop's clock reads ``deadline`` (no-op when already past).

    On return the clock has reached ``deadline`` (the loop may wake a timer up to its
    clock resolution early), so a plan that ran to its end counts exactly its end.
    """
    while (delay := deadline - loop.time()) > 0:  # noqa: ASYNC110 - a deadline, not a poll
        await asyncio.sleep(delay)


class PlanStreamMixin:
    """A response body that sends a plan's segments on their deadlines, then its fault."""

    def __init__(
        self,
        front: HttpxFront,
        plan: Plan,
        arrival: float,
        loop: asyncio.AbstractEventLoop,
        request: Any,
        timed: bool = False,
    ) -> None:
        self._front = front
        self._plan = plan
        self._arrival = arrival
        self._loop = loop
        self._request = request
        self._open = True
        self._timed = timed  # the request is one the mock times its own CPU on

    def _close(self) -> None:
        if self._open:
            self._open = False
            self._front.core.finish(self._plan, self._loop.time() - self._arrival)

    def __aiter__(self) -> AsyncIterator[bytes]:
        segments = self._segments()
        if not self._timed:
            return segments
        return _TimedIterator(segments, self._front.core.counters.cpu.timed)

    async def _segments(self) -> AsyncIterator[bytes]:
        plan, arrival, loop = self._plan, self._arrival, self._loop
        assert plan.segments is not None
        assert plan.offsets is not None
        try:
            for segment, offset in zip(plan.segments, plan.offsets, strict=True):
                await sleep_until(arrival + offset, loop)
                now = loop.time()  # when the segment actually goes out (inter-token latency)
                if not plan.sent:
                    plan.sent_first = now
                plan.sent_last = now
                plan.sent += 1
                yield segment
            if plan.fault is not None:
                await sleep_until(arrival + plan.fault_at, loop)
                raise self._front.flavour.error(plan.fault, self._request)
        finally:
            self._close()

    async def aclose(self) -> None:
        self._close()


class _TimedIterator:
    """An async iterator whose every ``__anext__`` runs through ``timed`` (CPU per step)."""

    __slots__ = ("_inner", "_timed")

    def __init__(
        self, inner: AsyncIterator[bytes], timed: Callable[[Awaitable[bytes]], Awaitable[bytes]]
    ) -> None:
        self._inner = inner
        self._timed = timed

    def __aiter__(self) -> _TimedIterator:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        return self._timed(self._inner.__anext__())


class HttpStream(PlanStreamMixin, httpx.AsyncByteStream):
    """``PlanStreamMixin`` for httpx."""


HTTPX = Flavour(
    response=httpx.Response,
    stream=HttpStream,
    bytestream=httpx.ByteStream,
    read_timeout=httpx.ReadTimeout,
    connect_error=httpx.ConnectError,
    protocol_error=httpx.RemoteProtocolError,
    headers_class=httpx.Headers,
)


_running_loop = asyncio.get_running_loop


def _read_timeout(request: Any) -> float | None:
    timeout = request.extensions.get("timeout")
    return timeout.get("read") if timeout else None


class HttpxFront:
    """Executes plans for one client flavour: ``await respond(request)``."""

    __slots__ = ("core", "flavour")

    def __init__(self, core: MockCore, flavour: Flavour) -> None:
        self.core = core
        self.flavour = flavour

    def _incoming(self, request: Any, body: bytes) -> Incoming:
        url = request.url
        return Incoming(request.method, url.path, body, request.headers, _read_timeout(request))

    def respond(self, request: Any) -> Awaitable[Any]:
        """The response to an httpx/httpx2 request, after the planned delay (awaitable).

        One request in 16 is timed, step by step, on the thread CPU clock (the mock's own
        CPU in this process: ``stats().harness_cpu``); the others run untouched.
        """
        cpu = self.core.counters.cpu
        if cpu.due():
            return cpu.timed(self._respond(request, timed=True))
        return self._respond(request)

    async def _respond(self, request: Any, timed: bool = False) -> Any:
        loop = _running_loop()
        arrival = loop.time()
        try:  # a body built from json=/content= is already read: skip a coroutine
            body = request.content
        except Exception:  # a streamed body (RequestNotRead)
            body = await request.aread()
        timeout = request.extensions.get("timeout")
        incoming = Incoming(
            request.method,
            request.url.path,
            body,
            request.headers,
            timeout.get("read") if timeout else None,
        )
        plan = self.core.plan(incoming, arrival)
        if plan.segments is not None:
            stream = self.flavour.stream(self, plan, arrival, loop, request, timed)
            headers = self.flavour.headers(plan.headers)
            return self.flavour.response(plan.status, headers=headers, stream=stream)
        try:
            if plan.fault is not None:
                await sleep_until(arrival + plan.fault_at, loop)
                raise self.flavour.error(plan.fault, request)
            if plan.delay > 0:
                await sleep_until(arrival + plan.delay, loop)
            return self._complete(plan, plan.body)
        finally:
            self.core.finish(plan, loop.time() - arrival)

    def _complete(self, plan: Plan, body: bytes) -> Any:
        # stream= rather than content=, which re-encodes; plain plans carry content-length
        flavour = self.flavour
        headers = flavour.headers(plan.headers)
        return flavour.response(plan.status, headers=headers, stream=flavour.bytestream(body))

    def respond_sync(self, request: Any) -> Any:
        """The same for a blocking client: sleeps the thread, returns the body at once."""
        cpu = self.core.counters.cpu
        if not cpu.due():
            return self._respond_sync(request)
        g0, c0 = GC_CPU[0], time.thread_time()  # the thread's CPU: the sleep costs none
        try:
            return self._respond_sync(request)
        finally:
            cpu.add(time.thread_time() - c0 - clock_overhead() - (GC_CPU[0] - g0))

    def _respond_sync(self, request: Any) -> Any:
        arrival = time.monotonic()
        plan = self.core.plan(self._incoming(request, request.read()), arrival)
        try:
            body = plan.body if plan.segments is None else b"".join(plan.segments)
            deadline = arrival + plan.end
            while (delay := deadline - time.monotonic()) > 0:
                time.sleep(delay)
            if plan.fault is not None:
                raise self.flavour.error(plan.fault, request)
            return self._complete(plan, body)
        finally:
            self.core.finish(plan, time.monotonic() - arrival)


class MockTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` answering every request from the mock (no patching)."""

    def __init__(self, front: HttpxFront) -> None:
        self._respond = front.respond
        # the client awaits the front directly: one coroutine less per request
        self.handle_async_request = front.respond  # type: ignore[method-assign,assignment]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = await self._respond(request)
        return response


_ORIGIN = respx.Route()


class MockRouter(respx.MockRouter):
    """A respx router that hands requests for the mocked hosts straight to the mock.

    It skips respx's route matching and call recording: no per-call history (memory stays
    bounded) and no per-route cost. Requests to other hosts go to the next router, or,
    when this router is the last one, on to the client's own transport -- where the
    network guard (``intercept.py``) refuses any host that is not allowed.
    """

    def __init__(self, front: HttpxFront, hosts: HostSet, using: str = "httpx") -> None:
        super().__init__(assert_all_called=False, assert_all_mocked=True, using=using)
        self._front = front
        self._hosts = hosts

    def _not_mine(self, request: httpx.Request) -> Exception:
        routers = self.Mocker.routers if self.Mocker else []
        if routers and routers[-1] is self:
            return PassThrough("not a mocked host", request=request, origin=_ORIGIN)
        return AllMockedAssertionError(f"RESPX: {request!r} not mocked!")

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if not self._hosts.match(url.host, url.port):
            raise self._not_mine(request)
        response: httpx.Response = await self._front.respond(request)
        return response

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if not self._hosts.match(url.host, url.port):
            raise self._not_mine(request)
        response: httpx.Response = self._front.respond_sync(request)
        return response
