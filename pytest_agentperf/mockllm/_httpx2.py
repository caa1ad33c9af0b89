"""The httpx2 flavour, for the official ``openai`` and ``anthropic`` SDKs.

Imported only by ``MockLLM.httpx2_transport()``: httpx2 is an optional extra.
"""

from __future__ import annotations

import httpx2

from pytest_agentperf.mockllm.transports import Flavour, HttpxFront, PlanStreamMixin

__all__ = ["HTTPX2", "Httpx2SyncTransport", "Httpx2Transport"]


class Httpx2Stream(PlanStreamMixin, httpx2.AsyncByteStream):
    """``PlanStreamMixin`` for httpx2."""


HTTPX2 = Flavour(
    response=httpx2.Response,
    stream=Httpx2Stream,
    bytestream=httpx2.ByteStream,
    read_timeout=httpx2.ReadTimeout,
    connect_error=httpx2.ConnectError,
    protocol_error=httpx2.RemoteProtocolError,
    headers_class=httpx2.Headers,
)


class Httpx2Transport(httpx2.AsyncBaseTransport):
    """An ``httpx2.AsyncBaseTransport`` answering every request from the mock."""

    def __init__(self, front: HttpxFront) -> None:
        self._respond = front.respond
        # the client awaits the front directly: one coroutine less per request
        self.handle_async_request = front.respond  # type: ignore[method-assign,assignment]

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response: httpx2.Response = await self._respond(request)
        return response


class Httpx2SyncTransport(httpx2.BaseTransport):
    """The same for a blocking ``httpx2.Client`` (intercepted, never injected by hand)."""

    def __init__(self, front: HttpxFront) -> None:
        self._respond = front.respond_sync

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response: httpx2.Response = self._respond(request)
        return response
