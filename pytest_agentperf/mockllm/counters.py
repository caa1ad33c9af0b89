"""Call statistics: live counters (O(1) memory) and their frozen snapshot, ``MockStats``."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_agentperf.clocks import SampledCpu

__all__ = ["Counters", "MockStats"]


@dataclass(frozen=True, slots=True)
class MockStats:
    """A snapshot of what the mock has served.

    ``by_status`` counts responses that had a status (emulated timeouts and connection
    errors have none; they are in ``faults``). ``injected_latency_total`` sums the time the
    mock held its responses: each call's planned delay (TTFT and inter-token gaps for
    streams; up to the fault for faults), or less when the client gave up first. A call
    counts when its response ends. ``faults`` counts injected faults
    by kind (``rate_limit``, ``server_error``, ``timeout``, ``disconnect``, ``malformed``,
    ``connection_error``, ``outage``) and ``client_timeout`` for emulated client timeouts.

    ``not_found`` counts requests to paths the mock does not serve, and
    ``not_found_by_route`` the same by ``"METHOD /path"``. ``blocked`` counts requests the
    mock refused to let out of the process, by ``host[:port]`` (not mocked, not allowed;
    they never reach the mock, so they are not in ``calls``). ``telemetry`` counts requests
    to the providers' telemetry endpoints (the OpenAI Agents SDK's trace export), answered
    at once and not in ``calls``.

    ``harness_cpu`` is the CPU seconds the mock spent in this process answering (planning
    replies, building responses, the loopback server's HTTP work), timed on the thread CPU
    clock on one request in 16 and scaled to all: the load engine charges it to the
    harness, not to the agent under test. The event loop's timer wake-ups for the mock's
    delays are not in it.

    ``unattributed_calls`` counts LLM calls made outside any task the load engine ran
    (warm-up aside: setup code, or an agent that runs its work outside the submitter's
    context), ``unattributed_socket_calls`` those of them that came over ``serve()``'s
    sockets without the task header, and ``unattributed_tokens`` their tokens by model
    (``(in, out)``).
    ``tokenizers`` counts answered calls by how their prompt tokens were counted
    (``"tiktoken cl100k_base"``, or the ~4-characters-per-token estimate).
    """

    calls: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    by_status: dict[int, int] = field(default_factory=dict)
    peak_concurrency: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    injected_latency_total: float = 0.0
    mean_injected_latency: float | None = None
    connections_opened: int = 0
    not_found: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    not_found_by_route: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, int] = field(default_factory=dict)
    telemetry: int = 0
    harness_cpu: float = 0.0
    unattributed_calls: int = 0
    unattributed_socket_calls: int = 0
    unattributed_tokens: dict[str, tuple[int, int]] = field(default_factory=dict)
    tokenizers: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "calls": self.calls,
            "by_endpoint": dict(self.by_endpoint),
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "peak_concurrency": self.peak_concurrency,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "injected_latency_total": self.injected_latency_total,
            "mean_injected_latency": self.mean_injected_latency,
            "connections_opened": self.connections_opened,
            "not_found": self.not_found,
            "faults": dict(self.faults),
            "in_flight": self.in_flight,
            "not_found_by_route": dict(self.not_found_by_route),
            "blocked": dict(self.blocked),
            "telemetry": self.telemetry,
            "harness_cpu": self.harness_cpu,
            "unattributed_calls": self.unattributed_calls,
            "unattributed_socket_calls": self.unattributed_socket_calls,
            "unattributed_tokens": {k: list(v) for k, v in self.unattributed_tokens.items()},
            "tokenizers": dict(self.tokenizers),
        }


class Counters:
    """The mutable counters behind ``MockStats``; every field is a number or a small dict."""

    __slots__ = (
        "blocked",
        "by_endpoint",
        "by_status",
        "calls",
        "connections_opened",
        "cpu",
        "faults",
        "in_flight",
        "injected",
        "latency_calls",
        "not_found",
        "not_found_by_route",
        "peak",
        "telemetry",
        "tokenizers",
        "tokens_in",
        "tokens_out",
        "unattributed_calls",
        "unattributed_socket_calls",
        "unattributed_tokens",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.by_endpoint: dict[str, int] = {}
        self.by_status: dict[int, int] = {}
        self.in_flight = 0
        self.peak = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.injected = 0.0
        self.latency_calls = 0
        self.connections_opened = 0
        self.not_found = 0
        self.faults: dict[str, int] = {}
        self.not_found_by_route: dict[str, int] = {}
        self.blocked: dict[str, int] = {}
        self.telemetry = 0
        self.cpu = SampledCpu()  # the mock's own CPU in this process
        self.unattributed_calls = 0
        self.unattributed_socket_calls = 0
        self.unattributed_tokens: dict[str, list[int]] = {}
        self.tokenizers: dict[str, int] = {}

    def snapshot(self) -> MockStats:
        """A frozen copy."""
        mean = self.injected / self.latency_calls if self.latency_calls else None
        return MockStats(
            calls=self.calls,
            by_endpoint=dict(self.by_endpoint),
            by_status=dict(self.by_status),
            peak_concurrency=self.peak,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            injected_latency_total=self.injected,
            mean_injected_latency=mean,
            connections_opened=self.connections_opened,
            not_found=self.not_found,
            faults=dict(self.faults),
            in_flight=self.in_flight,
            not_found_by_route=dict(self.not_found_by_route),
            blocked=dict(self.blocked),
            telemetry=self.telemetry,
            harness_cpu=self.cpu.total,
            unattributed_calls=self.unattributed_calls,
            unattributed_socket_calls=self.unattributed_socket_calls,
            unattributed_tokens={k: (v[0], v[1]) for k, v in self.unattributed_tokens.items()},
            tokenizers=dict(self.tokenizers),
        )
