"""The mock in other processes: its server (``serve(process=True)``) and its replicas.

**serve(process=True)**: the mock's HTTP server in a process of its own, on uvicorn.

The in-process ``serve()`` shares the agent's event loop and core: every request's parsing,
framing and timers are charged to the agent, and at concurrency 100 the mock's server
costs the agent's process about as much CPU as the agent itself. Here the same mock --
the same ``MockCore`` with the same settings: latency models, faults, scripted replies,
streams -- answers from another process, behind uvicorn (httptools parser, uvloop), a
maintained ASGI server that costs about 0.1 ms of CPU per request, on the other core. The
agent's process then does exactly its production work: its HTTP client's pool, sockets
and parsing, which the transport and respx modes cannot see (they sit below the pool).

The parent keeps a pipe to the server process: ``stats()`` asks it for its counters (so
efficiency, calls and faults read as with any other front end), ``configure()`` sends it
the new settings, and closing it collects its final counters into the parent mock's. The
server process ignores Ctrl-C (the parent stops it) and exits when the parent's end of the
pipe closes, so it never outlives its test.

**Replicas** (``MockLLM.replica(seed)``, for ``agent_perf.run(..., processes=N)``): a
picklable recipe that builds, in a worker process, a mock with the same configuration and
its own seed; ``MockLLM.absorb(stats)`` adds the worker's final counters to the test's
mock (:func:`add_stats`), so ``mock_llm.stats()`` counts every call wherever it was made.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from pytest_agentperf.errors import MockConfigError, StateError
from pytest_agentperf.mockllm.core import Incoming, MockCore, MockSettings, Plan
from pytest_agentperf.mockllm.counters import Counters, MockStats
from pytest_agentperf.mockllm.faults import CONNECTION_ERROR

__all__ = [
    "DEFAULT_BACKLOG",
    "MockReplica",
    "ProcessServer",
    "add_stats",
    "check_server_installed",
    "server_main",
    "total_stats",
]

#: The listen backlog of both servers unless ``serve(backlog=...)`` says otherwise: at least
#: the concurrency a test opens connections with (asyncio's default, 100, refuses
#: connections at 500). Linux caps it at ``net.core.somaxconn`` (4096 by default).
DEFAULT_BACKLOG = 4096
START_TIMEOUT = 60.0
STOP_GRACE = 5.0

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_MISSING = (
    "serve(process=True) runs the mock on uvicorn, which is not installed: "
    "pip install 'pytest-agentperf[server]'"
)


def check_server_installed() -> None:
    """Raise :class:`MockConfigError` naming the install command when uvicorn is missing."""
    try:
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MockConfigError(_MISSING + ".") from exc


# -- the parent's side ----------------------------------------------------------------------


class ProcessServer:
    """The mock's server process, seen from the test's process."""

    def __init__(self, settings: MockSettings, host: str, port: int, backlog: int) -> None:
        check_server_installed()
        self._settings = settings
        self._host, self._port, self._backlog = host, port, backlog
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self.url = ""
        self.final: MockStats | None = None

    async def start(self) -> str:
        """Spawn the server process; return its base URL once it listens."""
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        self._process = context.Process(
            target=server_main,
            args=(child_end, self._settings, self._host, self._port, self._backlog),
            name="agentperf-mock-server",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        self._conn = parent_end
        message = await self._first_message()
        if message[0] != "listening":
            self.close_now()
            raise MockConfigError(f"serve(process=True): the server did not start: {message[1]}")
        port = message[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.url = f"http://{host}:{port}/v1"
        return self.url

    async def _first_message(self) -> tuple[Any, ...]:
        conn, process = self._conn, self._process
        assert conn is not None
        assert process is not None
        await _readable((conn.fileno(), process.sentinel), START_TIMEOUT)
        if not conn.poll():
            code = process.exitcode
            if code is None:
                return ("failed", f"it did not listen within {START_TIMEOUT:g} s")
            return ("failed", f"the server process exited with code {code}")
        try:
            message: tuple[Any, ...] = conn.recv()
        except (EOFError, OSError):
            process.join(STOP_GRACE)
            return ("failed", f"the server process exited with code {process.exitcode}")
        return message

    def _ask(self, *request: Any) -> Any:
        if self._conn is None or self._process is None:
            raise StateError("the mock's server process is not running.")
        try:
            self._conn.send(request)
            return self._conn.recv()
        except (EOFError, OSError) as exc:
            raise StateError(
                f"the mock's server process is gone (exit code {self._process.exitcode}): "
                "its statistics are lost."
            ) from exc

    def stats(self) -> MockStats:
        """The server's counters now (a round trip to its process: ~0.1 ms)."""
        if self.final is not None:
            return self.final
        reply: MockStats = self._ask("stats")
        return reply

    def apply(self, settings: MockSettings) -> None:
        """``configure()`` on the parent mock: the server adopts the new settings."""
        self._settings = settings
        if self.final is None and self._conn is not None:
            self._ask("apply", settings)

    def reset(self) -> None:
        """``reset_stats()`` on the parent mock."""
        if self.final is None and self._conn is not None:
            self._ask("reset")

    async def close(self) -> MockStats | None:
        """Stop the server (in-flight responses are cut) and return its final counters."""
        if self._process is None:
            return self.final
        with contextlib.suppress(StateError):
            self.final = self._ask("stop")
        await _readable((self._process.sentinel,), STOP_GRACE)
        self.close_now()
        return self.final

    def close_now(self) -> None:
        """Stop the process without waiting for it (terminate, then kill); idempotent."""
        process, self._process = self._process, None
        if process is not None:
            if process.is_alive():
                process.terminate()
                process.join(STOP_GRACE)
            if process.is_alive():
                process.kill()
                process.join(STOP_GRACE)
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def _readable(fds: Sequence[int], seconds: float) -> None:
    """Wait until one of ``fds`` is readable (a message, a process's exit), ``seconds`` at most."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    for fd in fds:
        loop.add_reader(fd, wake)
    try:
        async with asyncio.timeout(seconds):
            await ready
    except TimeoutError:
        pass
    finally:
        for fd in fds:
            loop.remove_reader(fd)


# -- the server process ---------------------------------------------------------------------


def server_main(
    conn: Connection, settings: MockSettings, host: str, port: int, backlog: int
) -> None:
    """The server process: bind, report the port, serve until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        core = MockCore(settings)
        server = _make_server(core, backlog)
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("listening", sock.getsockname()[1]))
    _run(server, sock, core, conn)


def _make_server(core: MockCore, backlog: int) -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:  # the parent decides when the server stops
            yield

    config = uvicorn.Config(
        MockApp(core),
        loop="none",
        http=_protocol(core),
        lifespan="off",
        access_log=False,
        log_level="critical",
        backlog=backlog,
        timeout_keep_alive=60,
        timeout_graceful_shutdown=1,
    )
    return QuietServer(config)


def _protocol(core: MockCore) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools' parser when installed, else h11's), counting
    the connections clients open (``stats().connections_opened``)."""
    base: type[Any]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    except ImportError:  # httptools is not installed
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol

    class Counting(base):  # type: ignore[misc]
        def connection_made(self, transport: Any) -> None:
            core.connection_opened()
            super().connection_made(transport)

    return Counting


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def _run(server: Any, sock: socket.socket, core: MockCore, conn: Connection) -> None:
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve(server, sock, core, conn))


async def _serve(server: Any, sock: socket.socket, core: MockCore, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    stopping: list[bool] = []

    def on_request() -> None:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent is gone: stop at once
            request = ("gone",)
        kind = request[0]
        if kind == "stats":
            conn.send(core.counters.snapshot())
        elif kind == "apply":
            core.apply(request[1])
            conn.send(None)
        elif kind == "reset":
            in_flight = core.counters.in_flight
            core.counters = Counters()
            core.counters.in_flight = in_flight
            conn.send(None)
        else:  # "stop" or "gone"
            loop.remove_reader(conn.fileno())
            stopping.append(kind == "stop")
            server.should_exit = server.force_exit = True

    loop.add_reader(conn.fileno(), on_request)
    await server.serve(sockets=[sock])
    if stopping and stopping[0]:
        with contextlib.suppress(OSError):
            conn.send(core.counters.snapshot())


class MockApp:
    """The mock core as an ASGI application: requests in, plans executed."""

    def __init__(self, core: MockCore) -> None:
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        loop = asyncio.get_running_loop()
        arrival = loop.time()
        body = await _body(receive)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = Incoming(scope["method"], scope["path"], body, headers, None, True)
        plan = self.core.plan(incoming, arrival)
        try:
            await _execute(plan, arrival, loop, receive, send)
        finally:
            self.core.finish(plan, loop.time() - arrival)


async def _body(receive: Receive) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return bytes(body)
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


def _start(plan: Plan) -> dict[str, Any]:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in plan.headers]
    return {"type": "http.response.start", "status": plan.status, "headers": headers}


async def _execute(
    plan: Plan, arrival: float, loop: asyncio.AbstractEventLoop, receive: Receive, send: Send
) -> None:
    """Send ``plan``: sleep to each deadline; faults drop the connection."""
    if plan.fault == CONNECTION_ERROR:
        _abort(send)
        return
    if plan.status == 0:  # a timeout fault: hold until the client gives up or hang passes
        await _hold(receive, arrival + plan.fault_at, loop)
        _abort(send)
        return
    if plan.segments is None or plan.offsets is None:
        delay = arrival + plan.delay - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(_start(plan))
        await send({"type": "http.response.body", "body": plan.body})
        return
    await send(_start(plan))
    for segment, offset in zip(plan.segments, plan.offsets, strict=True):
        if not await _hold(receive, arrival + offset, loop):
            return
        await send({"type": "http.response.body", "body": segment, "more_body": True})
    if plan.fault is not None:  # disconnect, or the stream stalls past the client's timeout
        await _hold(receive, arrival + plan.fault_at, loop)
        _abort(send)
        return
    await send({"type": "http.response.body", "body": b""})


async def _hold(receive: Receive, deadline: float, loop: asyncio.AbstractEventLoop) -> bool:
    """Wait until ``deadline``; False as soon as the client disconnects."""
    delay = deadline - loop.time()
    if delay <= 0:
        return True
    try:
        async with asyncio.timeout(delay):
            message = await receive()
    except TimeoutError:
        return True
    return message.get("type") != "http.disconnect"


def _abort(send: Send) -> None:
    """Drop the connection without an answer, as a crashed upstream would.

    ASGI has no such message: uvicorn's request cycle (the bound ``send``) holds the
    connection's transport, which is aborted (a reset, no response); without it, the
    exception makes the server close the connection (after a 500 if nothing was sent).
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        return
    raise ConnectionAbortedError("mock fault: the connection is dropped")


# -- replicas and statistics ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class MockReplica:
    """A picklable recipe for a mock configured as another, with its own seed.

    ``kind`` is the mock's class (``MockLLM``, pickled by reference), ``options`` the
    original's constructor arguments (base URL, hosts, allowed hosts, environment, respx
    mode), ``settings`` its resolved configuration.
    """

    kind: Callable[..., Any]
    options: Mapping[str, Any]
    settings: MockSettings
    seed: int

    def __call__(self) -> Any:
        """The mock, built here (a ``MockLLM``, not started)."""
        mock = self.kind(**self.options)
        mock._core.apply(dataclasses.replace(self.settings, seed=self.seed))
        return mock


#: MockStats fields whose Counters attribute has another name.
_RENAMED = {"peak_concurrency": "peak", "injected_latency_total": "injected"}
#: Not added: derived from others, or about the process that counted them (the mock's own
#: CPU: the engine charges it to the harness of *that* process, never of another one).
_SKIPPED = frozenset({"mean_injected_latency", "harness_cpu"})


def add_stats(counters: Counters, stats: MockStats) -> None:
    """Add ``stats`` (another process's mock) to ``counters``: numbers and per-key counts
    add up (peaks too: the processes ran side by side), and the calls that injected
    latency are recovered from the mean, so the merged mean stays exact. The other
    process's ``harness_cpu`` is not added: it was not spent in this process."""
    for field in dataclasses.fields(stats):
        name = field.name
        if name in _SKIPPED:
            continue
        value = getattr(stats, name)
        attribute = _RENAMED.get(name, name)
        if isinstance(value, dict):
            mine: dict[Any, Any] = getattr(counters, attribute)
            for key, count in value.items():
                _add_count(mine, key, count)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            setattr(counters, attribute, getattr(counters, attribute) + value)
    mean = stats.mean_injected_latency
    if mean:
        counters.latency_calls += round(stats.injected_latency_total / mean)


def _add_count(table: dict[Any, Any], key: Any, count: Any) -> None:
    """``table[key] += count``; a tuple of counts (tokens in and out) adds element-wise."""
    if isinstance(count, tuple | list):
        current = table.setdefault(key, [0] * len(count))
        for i, part in enumerate(count):
            current[i] += part
    else:
        table[key] = table.get(key, 0) + count


def total_stats(own: MockStats, others: Sequence[MockStats]) -> MockStats:
    """``own`` plus ``others``, as one snapshot."""
    counters = Counters()
    for stats in (own, *others):
        add_stats(counters, stats)
    return counters.snapshot()
