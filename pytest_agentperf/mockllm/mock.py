"""``MockLLM``: configuration, statistics and the four ways in, over one ``MockCore``."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from pytest_agentperf.errors import MockConfigError
from pytest_agentperf.mockllm.core import MockCore, MockSettings
from pytest_agentperf.mockllm.counters import Counters, MockStats
from pytest_agentperf.mockllm.faults import Faults
from pytest_agentperf.mockllm.hosts import (
    DEFAULT_HOSTS,
    EnvPatch,
    HostSet,
    parse_host,
    parse_hosts,
    resolve_env,
)
from pytest_agentperf.mockllm.intercept import Interceptor, flush_exporters, served, unserved
from pytest_agentperf.mockllm.models import LatencyLike, as_model
from pytest_agentperf.mockllm.process import (
    DEFAULT_BACKLOG,
    MockReplica,
    ProcessServer,
    add_stats,
    check_server_installed,
    total_stats,
)
from pytest_agentperf.mockllm.replies import as_scripts
from pytest_agentperf.mockllm.server import MockServer, check_loopback
from pytest_agentperf.mockllm.transports import HTTPX, HttpxFront, MockRouter, MockTransport

if TYPE_CHECKING:
    import httpx2

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_HOSTS", "MockLLM"]

# A loopback address and a port nothing listens on: an unpatched client fails fast, locally.
DEFAULT_BASE_URL = "http://127.0.0.1:9/v1"


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET


def _output_tokens(value: object) -> int | tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 1 <= value[0] <= value[1]
    ):
        return (value[0], value[1])
    raise MockConfigError(
        f"configure(output_tokens={value!r}) is not accepted; use an int >= 1 or a range "
        "(low, high) with 1 <= low <= high."
    )


def _embedding_dim(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise MockConfigError(f"configure(embedding_dim={value!r}) must be an int >= 1.")


def _seed(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise MockConfigError(f"configure(seed={value!r}) must be an int.")


def _faults(value: object) -> Faults | None:
    if value is None or isinstance(value, Faults):
        return value
    raise MockConfigError(f"configure(faults={value!r}) must be a Faults(...) or None.")


class MockLLM:
    """A fake OpenAI/Anthropic API with latency models, streaming and fault injection.

    ``start()``/``stop()`` (or ``async with``) make every ``httpx`` and ``httpx2`` client
    reach the mock for its ``hosts`` (``base_url``'s host, the OpenAI and Anthropic APIs
    by default), block requests to any other host not in ``allow``, and set the SDKs'
    environment (``env``) where the test has not set it; ``httpx_transport()`` and
    ``httpx2_transport()`` are transports to inject instead; ``serve()`` is a real server
    on 127.0.0.1.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        latency: LatencyLike = None,
        ttft: LatencyLike = None,
        itl: LatencyLike = None,
        output_tokens: int | tuple[int, int] = 16,
        faults: Faults | None = None,
        seed: int = 0,
        replies: object = None,
        embedding_dim: int = 16,
        respx_using: str = "httpx",
        hosts: object = DEFAULT_HOSTS,
        allow: object = (),
        env: object = True,
    ) -> None:
        if not isinstance(base_url, str) or "://" not in base_url:
            raise MockConfigError(
                f"base_url={base_url!r} is not accepted; use a URL such as "
                f"{DEFAULT_BASE_URL!r} or 'https://api.openai.com/v1'."
            )
        self._base_url = base_url.rstrip("/")
        # what a replica in another process is built with (replica())
        self._options = {"base_url": base_url, "respx_using": respx_using, "hosts": hosts}
        self._options.update(allow=allow, env=env)
        own = parse_host(self._base_url, "base_url")
        self._hosts = HostSet((own, *parse_hosts(hosts, "hosts")))
        self._allow = HostSet(parse_hosts(allow, "allow"))
        self._env = EnvPatch(resolve_env(env, self._base_url))
        self._core = MockCore(MockSettings())
        self.configure(
            latency=latency,
            ttft=ttft,
            itl=itl,
            output_tokens=output_tokens,
            faults=faults,
            seed=seed,
            replies=replies,
            embedding_dim=embedding_dim,
        )
        self._front = HttpxFront(self._core, HTTPX)
        self._router = MockRouter(self._front, self._hosts, using=respx_using)
        self._interceptor = Interceptor(self._core, self._hosts, self._allow)
        self._started = False
        self._servers: set[MockServer] = set()
        self._processes: set[ProcessServer] = set()  # serve(process=True)

    # -- configuration --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where patched httpx clients reach the mock (OpenAI style, ending in ``/v1``)."""
        return self._base_url

    @property
    def hosts(self) -> tuple[str, ...]:
        """The mocked hosts as given (``base_url`` first)."""
        return tuple(p.spec for p in self._hosts.patterns)

    @property
    def allow(self) -> tuple[str, ...]:
        """The hosts let through to the network while the mock is active."""
        return tuple(p.spec for p in self._allow.patterns)

    @property
    def env(self) -> dict[str, str]:
        """The environment set while active, where not already set."""
        return dict(self._env.wanted)

    def configure(
        self,
        *,
        latency: LatencyLike | _Unset = UNSET,
        ttft: LatencyLike | _Unset = UNSET,
        itl: LatencyLike | _Unset = UNSET,
        output_tokens: int | tuple[int, int] | _Unset = UNSET,
        faults: Faults | _Unset | None = UNSET,
        seed: int | _Unset = UNSET,
        replies: object = UNSET,
        embedding_dim: int | _Unset = UNSET,
    ) -> Self:
        """Change what is given, keep the rest; ``None`` clears. Re-seeds, restarts faults.

        ``latency`` is the time to a complete (non-streaming) answer; ``ttft`` the time to a
        stream's first token and ``itl`` the gap between tokens (when only ``latency`` is
        set, a stream's first token comes after ``latency``; when only ``ttft``/``itl`` are,
        a plain answer takes ``ttft + itl * (tokens - 1)``). An explicit zero
        (``latency=0`` or ``Fixed(0)``) means zero; ``None`` means no model.
        """
        current = self._core.settings
        changes: dict[str, Any] = {}
        for name, model in (("latency", latency), ("ttft", ttft), ("itl", itl)):
            if not isinstance(model, _Unset):
                changes[name] = as_model(model, name)
        checks = {
            "output_tokens": (output_tokens, _output_tokens),
            "faults": (faults, _faults),
            "seed": (seed, _seed),
            "embedding_dim": (embedding_dim, _embedding_dim),
            "replies": (replies, lambda v: tuple(as_scripts(v))),
        }
        for name, (value, check) in checks.items():
            if value is not UNSET:
                changes[name] = check(value)
        self._core.apply(dataclasses.replace(current, **changes))
        for server in getattr(self, "_processes", ()):
            server.apply(self._core.settings)
        return self

    @property
    def settings(self) -> MockSettings:
        """The resolved configuration."""
        return self._core.settings

    # -- statistics -----------------------------------------------------------------------

    def stats(self) -> MockStats:
        """A frozen snapshot of the counters (with those of its servers in other
        processes, read from them now)."""
        own = self._core.counters.snapshot()
        if not self._processes:
            return own
        return total_stats(own, [server.stats() for server in self._processes])

    def reset_stats(self) -> None:
        """Zero the counters (calls in flight still finish correctly)."""
        in_flight = self._core.counters.in_flight
        self._core.counters = Counters()
        self._core.counters.in_flight = in_flight
        for server in self._processes:
            server.reset()

    def replica(self, seed: int) -> MockReplica:
        """A picklable recipe for this mock in another process, with ``seed``: what each
        worker of ``agent_perf.run(..., processes=N)`` builds its own mock from.

        The replica also lets its clients reach this mock's servers (its ``allow``).
        """
        served = [s.url for s in self._servers] + [p.url for p in self._processes]
        options = dict(self._options)
        allow = options["allow"]
        given = [allow] if isinstance(allow, str) else list(allow)  # type: ignore[call-overload]
        options["allow"] = [*given, *served]
        return MockReplica(type(self), options, self._core.settings, seed)

    def absorb(self, stats: MockStats) -> None:
        """Add another process's counters (a replica's, at its end) to this mock's."""
        add_stats(self._core.counters, stats)

    def reset_history(self) -> None:
        """Drop per-call history (the respx router's call log); counters are kept.

        The mock's own router records nothing, so this only matters if routes were added
        to ``router`` by hand.
        """
        self._router.reset()

    @property
    def router(self) -> MockRouter:
        """The respx router used for patching (a ``respx.MockRouter``)."""
        return self._router

    # -- ways in --------------------------------------------------------------------------

    def start(self) -> None:
        """Intercept httpx (through respx) and httpx2 for the mocked hosts, block other
        hosts that are not allowed, and set the SDKs' environment where it is unset."""
        if not self._started:
            self._router.start()
            self._interceptor.start()
            self._env.apply()
            self._started = True

    def stop(self) -> None:
        """Undo ``start()`` and close servers still open; safe to call twice."""
        if self._started:
            flush_exporters()
            self._started = False
            self._env.restore()
            self._interceptor.stop()
            self._router.stop(quiet=True)
        for server in list(self._servers):
            server.close_now()
        self._servers.clear()
        for process in list(self._processes):
            process.close_now()
        self._processes.clear()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        servers, processes = list(self._servers), list(self._processes)
        self._processes.clear()
        for process in processes:
            self._collect(await process.close())
        self.stop()
        for server in servers:
            await server.close()

    def httpx_transport(self) -> httpx.AsyncBaseTransport:
        """A transport for ``httpx.AsyncClient(transport=...)``; no patching, cheapest."""
        return MockTransport(self._front)

    def httpx2_transport(self) -> httpx2.AsyncBaseTransport:
        """A transport for ``httpx2.AsyncClient`` (what the openai/anthropic SDKs take)."""
        try:
            from pytest_agentperf.mockllm._httpx2 import HTTPX2, Httpx2Transport
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "httpx2_transport() needs httpx2: pip install 'pytest-agentperf[httpx2]'."
            ) from exc
        return Httpx2Transport(HttpxFront(self._core, HTTPX2))

    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        process: bool = False,
        backlog: int = DEFAULT_BACKLOG,
    ) -> AbstractAsyncContextManager[str]:
        """A real HTTP/1.1 server on a loopback address: ``async with mock.serve() as url``.

        ``url`` is its base URL (``http://127.0.0.1:PORT/v1``). Only loopback hosts are
        accepted (``ValueError`` otherwise). ``process=True`` serves from a process of its
        own, on uvicorn (the ``server`` extra), so the server's CPU is not charged to the
        agent's process; its statistics read as usual. ``backlog`` is the listen queue:
        at least the concurrency the clients open connections with.
        """
        if not isinstance(backlog, int) or isinstance(backlog, bool) or backlog < 1:
            raise MockConfigError(f"serve(backlog={backlog!r}) must be an int >= 1.")
        if process:
            check_server_installed()  # here, not when entered: the error points at the call
            return self._serve_process(check_loopback(host), port, backlog)
        return self._serve(check_loopback(host), port, backlog)

    @contextlib.asynccontextmanager
    async def _serve(self, host: str, port: int, backlog: int) -> AsyncIterator[str]:
        server = MockServer(self._core, host, port, backlog)
        url = await server.start()
        self._servers.add(server)
        own = parse_host(url, "serve()")
        served(own)  # the guard lets clients reach the mock's own server
        try:
            yield url
        finally:
            unserved(own)
            self._servers.discard(server)
            await server.close()

    @contextlib.asynccontextmanager
    async def _serve_process(self, host: str, port: int, backlog: int) -> AsyncIterator[str]:
        server = ProcessServer(self._core.settings, host, port, backlog)
        url = await server.start()
        self._processes.add(server)
        own = parse_host(url, "serve()")
        served(own)
        try:
            yield url
        finally:
            unserved(own)
            if server in self._processes:  # (not already closed by stop())
                self._processes.discard(server)
                self._collect(await server.close())

    def _collect(self, final: MockStats | None) -> None:
        """A closed server process's last counters become this mock's own."""
        if final is not None:
            add_stats(self._core.counters, final)

    def __repr__(self) -> str:
        stats = self._core.counters
        state = "patching" if self._started else "idle"
        return (
            f"<MockLLM {self._base_url} {state} calls={stats.calls} "
            f"in_flight={stats.in_flight} servers={len(self._servers) + len(self._processes)}>"
        )
