"""Zero-change interception of httpx2, and the guard that keeps requests in the process.

Two patches, installed while at least one ``MockLLM`` is active and restored after the last
one stops:

- **httpx2 interception**, the way respx intercepts httpx: ``httpx2.AsyncClient`` and
  ``httpx2.Client`` choose a transport per request in ``_transport_for_url``; the patched
  method hands back the mock's transport for a mocked host. Every httpx2 client is
  covered, whatever transport it was built with (the SDKs build their own), and the cost
  per request is one host look-up on top of the mock's own transport. A client built on
  a mock transport (``httpx2_transport()``) keeps it.
- **The network guard**, where a socket would be opened: the connections of httpcore and
  httpcore2 (what httpx's and httpx2's network transports run on) refuse to connect for a
  host that is neither mocked nor allowed, and the client gets its own ``ConnectError``
  naming the host and how to mock or allow it. Everything that answers above the socket
  keeps working: in-process transports (``MockTransport``, ``ASGITransport``...), respx
  routes (also in respx's default httpcore mode), pytest-httpx2. httpx requests for
  mocked hosts are answered by the mock's respx router before they reach a transport.

Patches are class attributes, installed once for all active mocks; a patch that someone
else has patched over since is left in place (it passes straight through once no mock is
active) rather than torn out from under them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_agentperf.mockllm.counters import Counters
from pytest_agentperf.mockllm.hosts import HostPattern, HostSet

if TYPE_CHECKING:
    from pytest_agentperf.mockllm.core import MockCore

__all__ = [
    "Interceptor",
    "active_interceptors",
    "blocked_message",
    "flush_exporters",
    "served",
    "unserved",
]

_ACTIVE: list[Interceptor] = []
# The URLs of every mock's serve() while it listens: in-process, so always let through.
_SERVED = HostSet()


def active_interceptors() -> tuple[Interceptor, ...]:
    """The interceptors of the mocks active now, innermost last."""
    return tuple(_ACTIVE)


def blocked_message(url: Any) -> str:
    """Why a request was refused, and the ways to fix it."""
    port = f":{url.port}" if url.port is not None else ""
    origin = f"{url.scheme}://{url.host}{port}"
    return (
        f"mock LLM: blocked a request to {origin} ({url.host}{port} is not mocked or allowed; "
        "nothing leaves the process while the mock is active). To answer it with the mock, "
        f"add {origin!r} to its hosts; to let it through to the network, add "
        f"'{url.host}{port}' to its allow-list: MockLLM(hosts=[...], allow=[...]), "
        "@pytest.mark.mock_llm(hosts=[...], allow=[...]) or the ini keys mock_llm_hosts / "
        "mock_llm_allow."
    )


def served(pattern: HostPattern) -> None:
    """A mock's server listens at ``pattern``: let clients reach it, whichever mock is active."""
    _SERVED.extend((pattern,))


def unserved(pattern: HostPattern) -> None:
    """That server has closed."""
    _SERVED.remove(pattern)


def flush_exporters() -> None:
    """Export now what SDKs export on their own later, while the mock still answers it.

    The OpenAI Agents SDK batches its traces and posts them from a thread every few
    seconds and at exit; flushed here, they reach the mock (``stats().telemetry``) rather
    than the network once the mock has stopped. Only SDKs already imported are touched.
    """
    tracing = sys.modules.get("agents.tracing")
    provider = getattr(tracing, "get_trace_provider", None)
    if provider is None:
        return
    with contextlib.suppress(Exception):  # an exporter's own failure is not the test's
        provider().force_flush()


def _label(url: Any) -> str:
    return f"{url.host}:{url.port}" if url.port is not None else str(url.host)


class Interceptor:
    """One mock's side of the patches: its hosts, its httpx2 transports, its counters."""

    __slots__ = ("allowed", "async2", "core", "mocked", "sync2")

    def __init__(self, core: MockCore, mocked: HostSet, allowed: HostSet) -> None:
        self.core = core
        self.mocked = mocked
        self.allowed = allowed
        self.async2: Any = None
        self.sync2: Any = None

    def start(self) -> None:
        """Join the active mocks (installing the patches for the first one)."""
        if self in _ACTIVE:
            return
        if self.async2 is None:
            self._make_httpx2_transports()
        if not _ACTIVE:
            _PATCHES.install()
        _ACTIVE.append(self)

    def stop(self) -> None:
        """Leave; the last one out restores the patched methods."""
        if self in _ACTIVE:
            _ACTIVE.remove(self)
            if not _ACTIVE:
                _PATCHES.uninstall()

    @property
    def active(self) -> bool:
        return self in _ACTIVE

    def record_blocked(self, url: Any) -> None:
        counters: Counters = self.core.counters
        label = _label(url)
        counters.blocked[label] = counters.blocked.get(label, 0) + 1

    def _make_httpx2_transports(self) -> None:
        if _httpx2_module() is None:
            return
        from pytest_agentperf.mockllm._httpx2 import (
            HTTPX2,
            Httpx2SyncTransport,
            Httpx2Transport,
        )
        from pytest_agentperf.mockllm.transports import HttpxFront

        front = HttpxFront(self.core, HTTPX2)
        self.async2 = Httpx2Transport(front)
        self.sync2 = Httpx2SyncTransport(front)


# -- the patched methods --------------------------------------------------------------------


def _refuse(url: Any) -> bool:
    """Whether a request to ``url`` must not reach the network (records it if so)."""
    host, port = url.host, url.port
    if _SERVED.match(host, port):
        return False
    for interceptor in _ACTIVE:
        if interceptor.mocked.match(host, port) or interceptor.allowed.match(host, port):
            return False
    _ACTIVE[-1].record_blocked(url)
    return True


class _Target:
    """An httpcore request's URL as ``blocked_message`` reads one (str host, int port)."""

    __slots__ = ("host", "port", "scheme")

    def __init__(self, url: Any) -> None:
        self.scheme = url.scheme.decode("ascii")
        self.host = url.host.decode("ascii").lower()
        port = url.port
        self.port = None if (self.scheme, port) in (("http", 80), ("https", 443)) else port


def _async_guard(original: Any, connect_error: Callable[..., Exception]) -> Callable[..., Any]:
    async def _connect(self: Any, request: Any) -> Any:
        if _ACTIVE:
            target = _Target(request.url)
            if _refuse(target):
                raise connect_error(blocked_message(target))
        return await original(self, request)

    return _connect


def _sync_guard(original: Any, connect_error: Callable[..., Exception]) -> Callable[..., Any]:
    def _connect(self: Any, request: Any) -> Any:
        if _ACTIVE:
            target = _Target(request.url)
            if _refuse(target):
                raise connect_error(blocked_message(target))
        return original(self, request)

    return _connect


def _dispatch(original: Any, mine: type[Any], attribute: str) -> Callable[..., Any]:
    """``_transport_for_url`` answering mocked hosts with the mock's transport."""

    def _transport_for_url(self: Any, url: Any) -> Any:
        transport = original(self, url)
        if not _ACTIVE or isinstance(transport, mine):
            return transport
        host, port = url.host, url.port
        for interceptor in reversed(_ACTIVE):
            if interceptor.mocked.match(host, port):
                return getattr(interceptor, attribute)
        return transport

    return _transport_for_url


class _ClassPatch:
    """One class attribute replaced while installed."""

    __slots__ = ("make", "name", "original", "owner", "replacement")

    def __init__(self, owner: type[Any], name: str, make: Callable[[Any], Any]) -> None:
        self.owner = owner
        self.name = name
        self.make = make
        self.original: Any = None
        self.replacement: Any = None

    def install(self) -> None:
        self.original = self.owner.__dict__[self.name]
        self.replacement = self.make(self.original)
        setattr(self.owner, self.name, self.replacement)

    def uninstall(self) -> None:
        if self.owner.__dict__.get(self.name) is self.replacement:
            setattr(self.owner, self.name, self.original)
        # else: patched over since; ours stays below, passing through while nothing is active
        self.original = self.replacement = None


class _Patches:
    """Every patch, built on first use (httpx2 is optional)."""

    def __init__(self) -> None:
        self._patches: list[_ClassPatch] | None = None
        self.installed = False

    def _build(self) -> list[_ClassPatch]:
        import httpcore

        patches = _guards(httpcore)
        httpx2 = _httpx2_module()
        if httpx2 is not None:
            import httpcore2

            from pytest_agentperf.mockllm._httpx2 import Httpx2SyncTransport, Httpx2Transport

            patches += [
                _ClassPatch(
                    httpx2.AsyncClient,
                    "_transport_for_url",
                    lambda o: _dispatch(o, Httpx2Transport, "async2"),
                ),
                _ClassPatch(
                    httpx2.Client,
                    "_transport_for_url",
                    lambda o: _dispatch(o, Httpx2SyncTransport, "sync2"),
                ),
                *_guards(httpcore2),
            ]
        return patches

    def install(self) -> None:
        if self.installed:
            return
        # built anew each time: the classes of the modules imported now (a test runner may
        # have re-imported httpcore2 since, and a patch on the old class would do nothing)
        self._patches = self._build()
        for patch in self._patches:
            patch.install()
        self.installed = True

    def uninstall(self) -> None:
        if not self.installed or self._patches is None:
            return
        for patch in reversed(self._patches):
            patch.uninstall()
        self.installed = False


def _guards(core: Any) -> list[_ClassPatch]:
    """The guards on one httpcore flavour's connections (async and sync)."""
    error = core.ConnectError
    return [
        _ClassPatch(core.AsyncHTTPConnection, "_connect", lambda o: _async_guard(o, error)),
        _ClassPatch(core.HTTPConnection, "_connect", lambda o: _sync_guard(o, error)),
    ]


_PATCHES = _Patches()


def _httpx2_module() -> Any:
    try:
        import httpx2
    except ImportError:  # pragma: no cover - httpx2 is an optional extra
        return None
    return httpx2
