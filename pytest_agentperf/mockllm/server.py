"""``serve()``: the mock as a real HTTP/1.1 server on 127.0.0.1, so pooling is measurable.

Built on asyncio streams with ``h11`` (already installed with httpx) for the protocol:
h11 gets HTTP/1.1 framing right -- keep-alive cycles, ``Connection: close``, chunked request
and response bodies, pipelining errors -- without hand-written parsing, for a few
microseconds per request. Streams are sent with chunked transfer-encoding. Faults are real:
connection errors and disconnects abort the socket, timeouts hold the response until the
client gives up (its own timeout) or ``Faults.hang`` passes. Every wait watches the socket,
so a client that goes away mid-answer ends it at once, as over the transports.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from typing import Any

import h11

from pytest_agentperf.errors import MockConfigError
from pytest_agentperf.mockllm.core import Incoming, MockCore, Plan
from pytest_agentperf.mockllm.faults import CONNECTION_ERROR

__all__ = ["MockServer", "check_loopback"]

_READ = 65536


def check_loopback(host: str) -> str:
    """``host`` if it is a loopback address; the mock never listens anywhere else."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise MockConfigError(
            f"serve(host={host!r}) is not a loopback address; the mock LLM only listens on "
            "127.0.0.1, ::1 or localhost."
        )
    return host


class MockServer:
    """One listening socket; connections and in-flight responses are tracked for shutdown."""

    def __init__(
        self, core: MockCore, host: str = "127.0.0.1", port: int = 0, backlog: int = 4096
    ) -> None:
        self._core = core
        self._host = check_loopback(host)
        self._port = port
        self._backlog = backlog  # asyncio's default (100) refuses connections at 500
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.url = ""

    async def start(self) -> str:
        """Listen; return the base URL (``http://127.0.0.1:PORT/v1``)."""
        self._server = await asyncio.start_server(
            self._connection, self._host, self._port, backlog=self._backlog
        )
        port = self._server.sockets[0].getsockname()[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.url = f"http://{host}:{port}/v1"
        return self.url

    def close_now(self) -> None:
        """Stop listening and abort every connection (safe to call twice, and from sync code)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()

    async def close(self) -> None:
        """``close_now()``, then wait for the connection tasks to end."""
        self.close_now()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._core.connection_opened()
        conn = h11.Connection(h11.SERVER)
        try:
            while await self._timed_exchange(conn, reader, writer):
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    def _timed_exchange(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Awaitable[bool]:
        """``_exchange``, timed step by step on the thread CPU clock for one request in 16
        (the server's HTTP work is the mock's CPU, not the agent's: ``harness_cpu``)."""
        exchange = self._exchange(conn, reader, writer)
        cpu = self._core.counters.cpu
        return cpu.timed(exchange) if cpu.due() else exchange

    async def _exchange(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; whether the connection can take another."""
        received = await _read_request(conn, reader)
        if received is None:
            return False
        request, body = received
        loop = asyncio.get_running_loop()
        arrival = loop.time()
        target = request.target.decode("latin-1").split("?", 1)[0]
        headers = _Headers(request.headers)
        incoming = Incoming(request.method.decode("ascii"), target, body, headers, None, True)
        plan = self._core.plan(incoming, arrival)
        try:
            kept = await _send(conn, reader, writer, plan, arrival, loop)
        finally:
            self._core.finish(plan, loop.time() - arrival)
        return kept and conn.our_state is h11.DONE and conn.their_state is h11.DONE


class _Headers(Mapping[str, str]):
    """h11's header pairs as a ``str`` mapping, decoded only if the core looks (a 404)."""

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: Sequence[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._decoded: dict[str, str] | None = None

    def _dict(self) -> dict[str, str]:
        if self._decoded is None:
            self._decoded = {k.decode("latin-1"): v.decode("latin-1") for k, v in self._raw}
        return self._decoded

    def __getitem__(self, key: str) -> str:
        return self._dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """One header (``key`` in lower case) without decoding the others: the hot path's
        look-up of the task header."""
        wanted = key.encode("latin-1")
        for name, value in self._raw:
            if name == wanted:
                return value.decode("latin-1")
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())


async def _hold(
    conn: h11.Connection,
    reader: asyncio.StreamReader,
    deadline: float,
    loop: asyncio.AbstractEventLoop,
) -> bool:
    """Wait until the loop's clock reads ``deadline``; False as soon as the client is gone.

    Reads the socket meanwhile, so a client that closes its end (a cancelled call, a stream
    closed early, its own timeout) is seen at once; bytes it sends (a pipelined request)
    go to ``conn`` for the next cycle. Per wait: one timer and one pending read, cancelled
    at the deadline (a due deadline costs nothing).
    """
    while loop.time() < deadline:
        try:
            async with asyncio.timeout_at(deadline):
                data = await reader.read(_READ)
        except TimeoutError:
            continue  # the clock may be a hair short of the deadline: check again
        if not data:
            return False
        conn.receive_data(data)
    return not reader.at_eof()


async def _read_request(
    conn: h11.Connection, reader: asyncio.StreamReader
) -> tuple[h11.Request, bytes] | None:
    request: h11.Request | None = None
    body: list[bytes] = []
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(_READ))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, b"".join(body)
        else:  # ConnectionClosed, or PAUSED after a protocol violation
            return None


async def _send(
    conn: h11.Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    plan: Plan,
    arrival: float,
    loop: asyncio.AbstractEventLoop,
) -> bool:
    """Send the plan; False when the connection was dropped on purpose."""
    if plan.fault == CONNECTION_ERROR:
        return False
    if plan.status == 0:  # a timeout fault: hold until the client gives up or hang passes
        await _hold(conn, reader, arrival + plan.fault_at, loop)
        return False
    if plan.segments is None or plan.offsets is None:
        if plan.delay > 0 and not await _hold(conn, reader, arrival + plan.delay, loop):
            return False
        writer.write(
            conn.send(h11.Response(status_code=plan.status, headers=list(plan.headers)))
            + conn.send(h11.Data(data=plan.body))
            + conn.send(h11.EndOfMessage())
        )
        await writer.drain()
        return True
    writer.write(conn.send(h11.Response(status_code=plan.status, headers=list(plan.headers))))
    for segment, offset in zip(plan.segments, plan.offsets, strict=True):
        if not await _hold(conn, reader, arrival + offset, loop) or writer.transport.is_closing():
            return False
        writer.write(conn.send(h11.Data(data=segment)))
        await writer.drain()
        _sent(plan, loop.time())
    if plan.fault is not None:  # disconnect, or the stream stalls past the client's timeout
        await _hold(conn, reader, arrival + plan.fault_at, loop)
        return False
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()
    return True


def _sent(plan: Plan, now: float) -> None:
    """Note that a segment of ``plan`` went out at ``now`` (for inter-token latency)."""
    if not plan.sent:
        plan.sent_first = now
    plan.sent_last = now
    plan.sent += 1
