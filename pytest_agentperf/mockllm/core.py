"""The one handler core: a normalised request in, a response plan out.

``MockCore.plan()`` is synchronous and does no I/O: it routes, parses the body, picks the
reply, draws the fault and the delays, updates the counters and returns a ``Plan`` -- the
status, headers, body or stream segments, and *when* each is due as an offset from the
request's arrival. The front ends (respx, the httpx and httpx2 transports, the socket
server) only execute plans: they sleep until ``arrival + offset`` (deadlines, so timer
overshoot never accumulates across chunks), raise their own client's exceptions for
faults, and call ``finish()`` when the response is over -- sent, failed, or abandoned by
its client. ``finish()`` is the one place injected latency is counted.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pytest_agentperf.mockllm import wire, wire_responses
from pytest_agentperf.mockllm.counters import Counters
from pytest_agentperf.mockllm.faults import (
    CONNECTION_ERROR,
    DISCONNECT,
    MALFORMED,
    RATE_LIMIT,
    SERVER_ERROR,
    TIMEOUT,
    FaultPlanner,
    Faults,
)
from pytest_agentperf.mockllm.models import LatencyModel
from pytest_agentperf.mockllm.replies import LLMRequest, Reply, Script, ScriptBook
from pytest_agentperf.mockllm.structured import BadRequest, Forced, inspect_request
from pytest_agentperf.mockllm.tokens import ESTIMATE, TokenCounter
from pytest_agentperf.spend import TASK_HEADER, TaskSpend, current_spend, spend_for_header

__all__ = ["Incoming", "MockCore", "MockSettings", "Plan"]


def _json_decoder() -> Callable[[bytes], Any]:
    """orjson's decoder when installed (a few microseconds less per request), else json's.

    Both raise a ``ValueError`` subclass on bad input.
    """
    try:
        import orjson
    except ImportError:
        decode = json.JSONDecoder().decode
        return lambda body: decode(body.decode())  # str: json skips detecting the encoding
    return orjson.loads


JSON_HEADERS: Final = (("content-type", "application/json"),)
SSE_HEADERS: Final = (("content-type", "text/event-stream; charset=utf-8"),)
CLIENT_TIMEOUT: Final = "client_timeout"
_ROUTES_KEPT: Final = 64  # distinct unknown routes counted by name; the rest as "other"
_TELEMETRY_BODY: Final = b"{}"
_decode: Final = _json_decoder()
# the fields a request's tools and output format live in (inspect_request reads them)
_SHAPE_FIELDS: Final = frozenset(
    ("tools", "tool_choice", "response_format", "text", "output_config", "output_format")
)
_MALFORMED_EVENT: Final = {
    wire.OPENAI: b'data: {"choices": [{"delta": \n\n',
    wire.ANTHROPIC: b'event: content_block_delta\ndata: {"type": "content_block_delta", \n\n',
}


@dataclass(slots=True)
class Incoming:
    """A request as every front end hands it to the core."""

    method: str
    path: str
    body: bytes
    headers: Mapping[str, str]
    read_timeout: float | None = None
    socket: bool = False  # served over a real socket (serve()): no context crosses it


@dataclass(slots=True)
class Plan:
    """What to answer and when, as offsets in seconds from the request's arrival.

    Plain answers send ``headers`` and ``body`` at ``delay``. Streams send the headers at
    once and ``segments[i]`` at ``offsets[i]``. ``fault`` (``"timeout"``,
    ``"connection_error"``, ``"disconnect"``) happens at ``fault_at``, after the segments.
    ``end`` is when the whole plan is over.
    """

    status: int
    headers: Sequence[tuple[str, str]] = JSON_HEADERS
    body: bytes = b""
    delay: float = 0.0
    segments: Sequence[bytes] | None = None
    offsets: Sequence[float] | None = None
    fault: str | None = None
    fault_at: float = 0.0
    # what the task's spend needs at finish(): the front ends note when each stream
    # segment actually went out (the first, the last, and how many)
    spend: TaskSpend | None = None
    sent_first: float = 0.0
    sent_last: float = 0.0
    sent: int = 0

    @property
    def end(self) -> float:
        """Seconds from arrival to the plan's last act: its fault, last segment or answer."""
        if self.fault is not None:
            return self.fault_at
        offsets = self.offsets
        return offsets[-1] if offsets else self.delay


@dataclass(frozen=True, slots=True)
class MockSettings:
    """Everything ``configure()`` sets, resolved."""

    latency: LatencyModel | None = None
    ttft: LatencyModel | None = None
    itl: LatencyModel | None = None
    output_tokens: int | tuple[int, int] = 16
    faults: Faults | None = None
    seed: int = 0
    replies: tuple[Script, ...] = ()
    embedding_dim: int = 16


class MockCore:
    """Settings, random state and counters, and ``plan()``."""

    def __init__(self, settings: MockSettings) -> None:
        self.counters = Counters()
        self.tokens = TokenCounter()
        self._models: dict[str, str] = {}
        self.apply(settings)

    def apply(self, settings: MockSettings) -> None:
        """Adopt new settings; re-seeds and restarts fault schedules."""
        self.settings = settings
        self._rng = random.Random(f"agentperf-mockllm-latency-{settings.seed}")
        # structured values draw from their own stream: they never shift the latencies
        self._values = random.Random(f"agentperf-mockllm-values-{settings.seed}")
        faults = settings.faults
        self._faults = FaultPlanner(faults, settings.seed) if faults and faults.active else None
        self._scripts = ScriptBook(settings.replies)
        self._scripted = bool(self._scripts)

    # -- entry points ---------------------------------------------------------------------

    def plan(self, request: Incoming, now: float) -> Plan:
        """The plan for ``request`` arriving at monotonic time ``now``. Call ``finish()`` after."""
        counters = self.counters
        endpoint = wire.endpoint_for(request.path)
        if endpoint == wire.TELEMETRY:
            return self._telemetry()
        counters.calls += 1
        counters.in_flight += 1
        if counters.in_flight > counters.peak:
            counters.peak = counters.in_flight
        spend = None if endpoint is None else self._attribute(request)
        plan = self._route(request, endpoint, now, spend)
        plan.spend = spend
        if plan.status:
            counters.by_status[plan.status] = counters.by_status.get(plan.status, 0) + 1
        return plan

    def _attribute(self, request: Incoming) -> TaskSpend | None:
        """The slot of the task that made ``request`` (its context, or over sockets its
        header), counting the call there; a call outside any task is counted apart."""
        spend = current_spend()
        if spend is None:
            # in process the context always crosses; only a socket needs the header (and
            # reading a client's Headers costs ~2 us a call)
            if request.socket:
                spend = spend_for_header(request.headers.get(TASK_HEADER))
            if spend is None:
                self.counters.unattributed_calls += 1
                self.counters.unattributed_socket_calls += request.socket
                return None
        spend.call(hash(request.body))
        return spend

    def _telemetry(self) -> Plan:
        """A trace export (openai-agents): answered at once, not an LLM call."""
        self.counters.telemetry += 1
        self.counters.in_flight += 1  # finish() takes it back
        return Plan(200, _sized(JSON_HEADERS, _TELEMETRY_BODY), _TELEMETRY_BODY)

    def finish(self, plan: Plan, elapsed: float) -> None:
        """``plan``'s response is over (sent, failed or abandoned), ``elapsed`` s after arrival.

        The one place injected latency is counted: the final plan's ``end``, or less when
        the client gave up first (a cancelled call, a stream closed early, a client timing
        out over a real socket) -- the time the response was actually held.
        """
        counters = self.counters
        counters.in_flight -= 1
        end = plan.end
        counters.injected += end if elapsed >= end else elapsed
        if plan.sent > 1 and plan.spend is not None:
            plan.spend.stream_sent(plan.sent_first, plan.sent_last, plan.sent)

    def connection_opened(self) -> None:
        """Server mode: a client opened a connection."""
        self.counters.connections_opened += 1

    # -- routing --------------------------------------------------------------------------

    def _route(
        self, request: Incoming, endpoint: str | None, now: float, spend: TaskSpend | None
    ) -> Plan:
        if endpoint is None:
            return self._not_found(request)
        provider = wire.ANTHROPIC if endpoint == wire.MESSAGES else wire.OPENAI
        if request.method != "POST":
            return _error(provider, 405, f"Method {request.method} is not allowed here; use POST.")
        try:
            body = _decode(request.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(provider, 400, "The request body is not a JSON object.")
        counters = self.counters
        counters.by_endpoint[endpoint] = counters.by_endpoint.get(endpoint, 0) + 1
        shape = None
        if not _SHAPE_FIELDS.isdisjoint(body):
            try:
                shape = inspect_request(endpoint, body)
            except BadRequest as exc:
                return _error(provider, 400, str(exc))
        counters.latency_calls += 1
        fault = self._faults.decide(now) if self._faults is not None else None
        if fault is not None and fault not in (DISCONNECT, MALFORMED):
            return self._fault(fault, provider, request)
        plan = self._answer(endpoint, provider, body, shape, spend)
        if fault is not None:
            _count(counters.faults, str(fault))
            plan = _corrupt(plan, str(fault), provider)
        timeout = request.read_timeout
        if timeout is None or (plan.offsets is None and plan.delay <= timeout):
            return plan  # the common case, without a call
        return self._emulate_timeout(plan, timeout)

    def _not_found(self, request: Incoming) -> Plan:
        counters = self.counters
        counters.not_found += 1
        route = f"{request.method} {request.path}"
        routes = counters.not_found_by_route
        if route not in routes and len(routes) >= _ROUTES_KEPT:
            route = "other"
        routes[route] = routes.get(route, 0) + 1
        provider = wire.provider_of(None, "anthropic-version" in request.headers)
        served = ", ".join(wire.ENDPOINTS)
        message = f"Invalid URL ({request.method} {request.path}): the mock LLM serves {served}."
        return _error(provider, 404, message)

    def _answer(
        self,
        endpoint: str,
        provider: str,
        body: dict[str, Any],
        shape: Any,
        spend: TaskSpend | None,
    ) -> Plan:
        model = body.get("model")
        model = model if isinstance(model, str) else "mock-llm"
        model_json = self._model_json(model)
        counters = self.counters
        if endpoint == wire.EMBEDDINGS:
            content, n_in = wire.embeddings_body(model_json, body, self.settings.embedding_dim)
            counters.tokens_in += n_in
            _count(counters.tokenizers, ESTIMATE)
            self._account(spend, (endpoint, body, model), (n_in, 0), ())
            return self._plain(content, n_in)
        n_in, how = self.tokens.count(endpoint, body, model)
        _count(counters.tokenizers, how)
        reply: Reply | Forced | None = None
        if self._scripted:
            reply = self._scripts.answer(LLMRequest(endpoint, body))
        if reply is None and shape is not None and shape.forced:
            reply = shape.answer(self._values, f"call_mock_{self.counters.calls}")
        pieces, tools, finish, n_out = self._content(reply, body)
        counters.tokens_in += n_in
        counters.tokens_out += n_out
        self._account(spend, (endpoint, body, model), (n_in, n_out), tools)
        if endpoint == wire.RESPONSES:
            return self._responses(model_json, pieces, tools, finish, (n_in, n_out), body)
        if body.get("stream") is True:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            parts = wire.chat_stream(
                provider, model_json, pieces, tools, finish, (n_in, n_out), include_usage
            )
            return self._stream(parts, n_in)
        content = wire.chat_body(provider, model_json, pieces, tools, finish, (n_in, n_out))
        return self._plain(content, n_out, n_in)

    def _account(
        self,
        spend: TaskSpend | None,
        request: tuple[str, dict[str, Any], str],
        usage: tuple[int, int],
        tools: Sequence[Any],
    ) -> None:
        """Add an answered call to its task's spend, or to the unattributed tokens."""
        endpoint, body, model = request
        if spend is None:
            table = self.counters.unattributed_tokens
            row = table.get(model)
            if row is None:
                row = table[model] = [0, 0]
            row[0] += usage[0]
            row[1] += usage[1]
            return
        carries = spend.tool_pending and LLMRequest(endpoint, body).last_role == "tool"
        spend.answered(model, usage[0], usage[1], bool(tools), carries)

    def _responses(
        self,
        model_json: str,
        pieces: Sequence[str] | int,
        tools: Sequence[Any],
        finish: str,
        usage: tuple[int, int],
        body: dict[str, Any],
    ) -> Plan:
        if body.get("stream") is True:
            parts = wire_responses.responses_stream(model_json, pieces, tools, finish, usage)
            return self._stream(parts, usage[0])
        content = wire_responses.responses_body(model_json, pieces, tools, finish, usage)
        return self._plain(content, usage[1], usage[0])

    def _content(
        self, reply: Reply | Forced | None, body: dict[str, Any]
    ) -> tuple[Sequence[str] | int, Sequence[Any], str, int]:
        """(pieces or a default-text token count, tool calls, finish reason, output tokens)."""
        if reply is not None:
            calls = tuple(reply.tool_calls)
            pieces = reply.pieces or (() if calls else ("",))
            finish = "tool_calls" if calls else "stop"
            n_out = len(pieces) + sum(len(call.argument_pieces) for call in calls)
            return pieces, calls, finish, n_out
        wanted = self.settings.output_tokens
        n = wanted if isinstance(wanted, int) else self._rng.randint(*wanted)
        cap = (
            body.get("max_completion_tokens")
            or body.get("max_tokens")
            or body.get("max_output_tokens")
        )
        if isinstance(cap, int) and 0 < cap < n:
            return cap, (), "length", cap
        return n, (), "stop", n

    def _model_json(self, model: object) -> str:
        key = model if isinstance(model, str) else "mock-llm"
        cached = self._models.get(key)
        if cached is None:
            if len(self._models) >= 256:
                self._models.clear()
            cached = self._models[key] = wire.json_str(key)
        return cached

    # -- timing ---------------------------------------------------------------------------

    def _plain(self, content: bytes, n_out: int, n_in: int = 0) -> Plan:
        settings = self.settings
        delay = 0.0
        if settings.latency is not None:
            delay = settings.latency.sample(self._rng, n_out)
        elif settings.ttft is not None or settings.itl is not None:
            delay = self._first(n_in) + sum(self._gaps(n_out - 1))
        headers = (*JSON_HEADERS, ("content-length", str(len(content))))
        return Plan(200, headers, content, delay)

    def _first(self, n_in: int) -> float:
        model = self.settings.ttft or self.settings.latency
        return model.sample(self._rng, n_in) if model is not None else 0.0

    def _gaps(self, count: int) -> list[float]:
        itl = self.settings.itl
        if itl is None or count <= 0:
            return []
        rng = self._rng
        return [itl.sample(rng, 1) for _ in range(count)]

    def _stream(self, parts: wire.StreamParts, n_in: int) -> Plan:
        first = self._first(n_in)
        tokens = parts.tokens
        if self.settings.itl is None or len(tokens) <= 1:
            segments: list[bytes] = [b"".join((parts.prelude, *tokens, parts.tail))]
            offsets = [first]
        else:
            segments = list(tokens)
            segments[0] = parts.prelude + segments[0]
            segments[-1] = segments[-1] + parts.tail
            offsets = [first]
            at = first
            for gap in self._gaps(len(tokens) - 1):
                at += gap
                offsets.append(at)
        return Plan(200, SSE_HEADERS, segments=segments, offsets=offsets)

    def _emulate_timeout(self, plan: Plan, read_timeout: float | None) -> Plan:
        """Cut the plan where the client's own read timeout would fire."""
        if read_timeout is None:
            return plan
        if plan.offsets is None:
            if plan.delay <= read_timeout:
                return plan
            return self._timed_out(plan, read_timeout, None)
        previous = 0.0
        for index, offset in enumerate(plan.offsets):
            if offset - previous > read_timeout:
                return self._timed_out(plan, previous + read_timeout, index)
            previous = offset
        return plan

    def _timed_out(self, plan: Plan, at: float, cut: int | None) -> Plan:
        _count(self.counters.faults, CLIENT_TIMEOUT)
        if cut is None:
            return Plan(0, fault=TIMEOUT, fault_at=at)
        assert plan.segments is not None
        assert plan.offsets is not None
        plan.segments, plan.offsets = plan.segments[:cut], plan.offsets[:cut]
        plan.fault, plan.fault_at = TIMEOUT, at
        return plan

    # -- faults ---------------------------------------------------------------------------

    def _fault(self, fault: str | int, provider: str, request: Incoming) -> Plan:
        assert self._faults is not None
        faults = self._faults.faults
        if isinstance(fault, int):
            _count(self.counters.faults, "outage")
            return _error(provider, fault, "The service is unavailable (outage).", faults)
        _count(self.counters.faults, fault)
        if fault == RATE_LIMIT:
            return _error(provider, 429, "Rate limit reached for requests.", faults)
        if fault == SERVER_ERROR:
            status = self._faults.server_error_status()
            return _error(provider, status, "The server had an error processing your request.")
        if fault == CONNECTION_ERROR:
            return Plan(0, fault=CONNECTION_ERROR)
        at = request.read_timeout if request.read_timeout is not None else float(faults.hang)
        return Plan(0, fault=TIMEOUT, fault_at=at)


def _count(table: dict[str, int], key: str) -> None:
    table[key] = table.get(key, 0) + 1


def _error(provider: str, status: int, message: str, faults: Faults | None = None) -> Plan:
    headers: Sequence[tuple[str, str]] = JSON_HEADERS
    if status == 429 and faults is not None:
        seconds = float(faults.retry_after)
        headers = (
            *JSON_HEADERS,
            ("retry-after", f"{seconds:g}"),
            ("retry-after-ms", f"{seconds * 1000:g}"),
        )
    body = wire.error_body(provider, status, message)
    return Plan(status, _sized(headers, body), body)


def _sized(headers: Sequence[tuple[str, str]], body: bytes) -> tuple[tuple[str, str], ...]:
    """``headers`` and the body's content-length: the one place plain answers get it."""
    return (*headers, ("content-length", str(len(body))))


def _corrupt(plan: Plan, fault: str, provider: str) -> Plan:
    """A successful plan turned into a disconnect mid-answer or a malformed answer."""
    if plan.segments is None or plan.offsets is None:
        half = plan.body[: len(plan.body) // 2]
        if fault == MALFORMED:
            return Plan(plan.status, _sized(JSON_HEADERS, half), half, plan.delay)
        # the full body's content-length, then half of it: the client sees the cut
        return Plan(
            plan.status, plan.headers, b"", plan.delay, [half], [plan.delay], DISCONNECT, plan.delay
        )
    segments, offsets = list(plan.segments), list(plan.offsets)
    middle = len(segments) // 2
    if fault == MALFORMED:
        segments[middle] = _MALFORMED_EVENT[provider] + segments[middle]
        plan.segments = segments
        return plan
    if len(segments) == 1:
        only = segments[0]
        segments = [only[: len(only) // 2]]
        middle = 1
    plan.segments, plan.offsets = segments[:middle], offsets[:middle]
    plan.fault, plan.fault_at = DISCONNECT, offsets[middle - 1] if middle else 0.0
    return plan
