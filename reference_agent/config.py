"""``AgentConfig``: every setting of an agent, validated once when it is built.

``AgentConfig(**fields)`` and ``AgentConfig().replace(**overrides)`` raise
``AgentConfigError`` (a ``ValueError``) naming the field, the value and what is accepted;
an unknown field name raises ``TypeError`` with the closest valid name.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from reference_agent.errors import AgentConfigError

__all__ = ["AgentConfig"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentConfig:
    """Settings of a ``BaseAgent`` (the execution core) and of the LLM agents built on it.

    Durations are in seconds. ``None`` means "no limit" where a field's type allows it.
    """

    # -- execution core (every BaseAgent) --------------------------------------------------
    concurrency: int = 10
    """Workers: at most this many tasks run at once."""
    max_pending: int = 10_000
    """Admission bound: at most this many accepted tasks wait in the queue."""
    admission_timeout: float | None = 5.0
    """How long ``submit`` waits for room in a full queue before the task is REJECTED
    (0: reject at once; None: wait until room or until the agent stops)."""
    task_timeout: float | None = None
    """Default per-task timeout (a ``Task.timeout`` overrides it); the work is cancelled."""
    resource_sample_interval: float | None = 1.0
    """Seconds between psutil CPU/RSS samples in the background (None: no sampler)."""
    latency_reservoir: int = 4096
    """How many recent queue-wait and service-time samples the statistics keep."""
    cancel_grace: float = 5.0
    """Seconds ``stop()`` gives a cancelled worker to end; one still running then (its
    ``process_task`` swallowed the cancellation) is reported and cancelled again, until
    it ends: ``stop()`` never returns while a worker it started is alive."""

    # -- LLM endpoint ---------------------------------------------------------------------
    base_url: str = "http://127.0.0.1:8000/v1"
    """OpenAI-compatible base URL; requests go to ``{base_url}/chat/completions`` (``/v1``
    is added when the URL does not end with it)."""
    api_key: str | None = None
    model: str = "gpt-4o-mini"
    transport: httpx.AsyncBaseTransport | None = None
    """Injected httpx transport (a mock, ``httpx.MockTransport``); None: real network."""
    http_backend: str = "aiohttp"
    """What carries requests on the real network (no ``transport`` injected): "aiohttp"
    (aiohttp's connection pool under the httpx API; respx still intercepts it) or
    "httpx" (httpx's own pool, httpcore: its CPU per request grows with the number of
    open connections, ~10 ms at 100)."""
    stream: bool = False
    """Stream replies (SSE) when the payload does not say; records time to first token."""
    max_tool_rounds: int = 3
    """Tool-call loop bound: LLM calls after the first that may answer tool calls."""

    # -- timeouts and pool ----------------------------------------------------------------
    request_timeout: float | None = 30.0
    """Per-attempt timeout, covering the whole response (streams included)."""
    connect_timeout: float | None = 5.0
    pool_max_connections: int | None = None
    """Connection pool size (None: ``concurrency``)."""
    pool_max_keepalive: int | None = None
    """Idle keep-alive connections kept (None: ``pool_max_connections``)."""
    keepalive_expiry: float | None = 5.0

    # -- retry ----------------------------------------------------------------------------
    retry_attempts: int = 3
    """Total attempts per LLM call, the first included (1: no retries)."""
    retry_base: float = 0.1
    retry_cap: float = 5.0
    retry_deadline: float | None = 60.0
    """Total time budget of one LLM call, its retries and waits included; never overshot."""
    retry_after_cap: float = 60.0
    """Longest wait a server's ``Retry-After`` may ask for: a longer one is cut to this.
    It bounds those waits also when ``retry_deadline`` is None (with a deadline, a wait
    that would overshoot it is not started at all)."""
    seed: int | None = None
    """Seed of the jitter RNG (None: unseeded)."""

    # -- circuit breaker ------------------------------------------------------------------
    breaker_enabled: bool = True
    breaker_window: int = 20
    """Sliding window: the outcomes of the last N calls."""
    breaker_min_calls: int = 10
    """Calls seen in the window before the rate is judged (capped at ``breaker_window``)."""
    breaker_failure_rate: float = 0.5
    breaker_break_duration: float = 5.0
    breaker_half_open_probes: int = 1
    breaker_probe_timeout: float = 10.0
    """A half-open probe not reported within this time counts as failed."""

    # -- cache ----------------------------------------------------------------------------
    cache_ttl: float = 60.0
    cache_max_size: int = 1024
    """Entries kept; 0 disables the cache (and single-flight)."""
    cache_sampled: bool = False
    """Also cache requests that ask for a sampled answer (``temperature`` > 0). Off by
    default: such a request asks for a fresh answer each time, so neither the cache nor
    single-flight applies to it."""

    def __post_init__(self) -> None:
        for name, check, accepted in _RULES:
            value = getattr(self, name)
            if not check(value):
                raise AgentConfigError(
                    f"AgentConfig.{name} = {value!r} is not accepted; expected {accepted}"
                )

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names accepted as fields and as ``BaseAgent(**overrides)`` keywords."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **overrides: Any) -> AgentConfig:
        """A copy with ``overrides`` applied and validated."""
        names = self.field_names()
        for key in overrides:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"AgentConfig has no field {key!r}{hint}")
        return dataclasses.replace(self, **overrides)

    @property
    def pool_size(self) -> int:
        """The connection pool size actually used."""
        return self.pool_max_connections or self.concurrency

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data (the transport as its class name, the key hidden)."""
        out = {name: getattr(self, name) for name in self.field_names()}
        out["transport"] = type(self.transport).__name__ if self.transport else None
        out["api_key"] = "***" if self.api_key else None
        return out


def _int(minimum: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _opt_int(minimum: int) -> Callable[[Any], bool]:
    return lambda v: v is None or _int(minimum)(v)


def _num(minimum: float, *, strict: bool = False) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return False
        return v > minimum if strict else v >= minimum

    return check


def _opt_num(minimum: float, *, strict: bool = False) -> Callable[[Any], bool]:
    return lambda v: v is None or _num(minimum, strict=strict)(v)


def _rate(v: Any) -> bool:
    return _num(0.0, strict=True)(v) and v <= 1.0


def _url(v: Any) -> bool:
    return isinstance(v, str) and v.startswith(("http://", "https://"))


def _transport(v: Any) -> bool:
    return v is None or isinstance(v, httpx.AsyncBaseTransport)


_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("concurrency", _int(1), "an integer >= 1"),
    ("max_pending", _int(1), "an integer >= 1"),
    ("admission_timeout", _opt_num(0.0), "seconds >= 0 or None"),
    ("task_timeout", _opt_num(0.0, strict=True), "seconds > 0 or None"),
    ("resource_sample_interval", _opt_num(0.0, strict=True), "seconds > 0 or None"),
    ("latency_reservoir", _int(1), "an integer >= 1"),
    ("cancel_grace", _num(0.0, strict=True), "seconds > 0"),
    ("base_url", _url, "an http:// or https:// URL"),
    ("api_key", lambda v: v is None or isinstance(v, str), "a string or None"),
    ("model", lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    ("transport", _transport, "an httpx.AsyncBaseTransport or None"),
    ("http_backend", lambda v: v in ("aiohttp", "httpx"), "'aiohttp' or 'httpx'"),
    ("stream", lambda v: isinstance(v, bool), "True or False"),
    ("max_tool_rounds", _int(0), "an integer >= 0"),
    ("request_timeout", _opt_num(0.0, strict=True), "seconds > 0 or None"),
    ("connect_timeout", _opt_num(0.0, strict=True), "seconds > 0 or None"),
    ("pool_max_connections", _opt_int(1), "an integer >= 1 or None"),
    ("pool_max_keepalive", _opt_int(0), "an integer >= 0 or None"),
    ("keepalive_expiry", _opt_num(0.0), "seconds >= 0 or None"),
    ("retry_attempts", _int(1), "an integer >= 1 (1 means no retries)"),
    ("retry_base", _num(0.0), "seconds >= 0"),
    ("retry_cap", _num(0.0), "seconds >= 0"),
    ("retry_deadline", _opt_num(0.0, strict=True), "seconds > 0 or None"),
    ("retry_after_cap", _num(0.0), "seconds >= 0"),
    ("seed", lambda v: v is None or _int(-(2**63))(v), "an integer or None"),
    ("breaker_enabled", lambda v: isinstance(v, bool), "True or False"),
    ("breaker_window", _int(1), "an integer >= 1"),
    ("breaker_min_calls", _int(1), "an integer >= 1"),
    ("breaker_failure_rate", _rate, "a fraction in (0, 1]"),
    ("breaker_break_duration", _num(0.0), "seconds >= 0"),
    ("breaker_half_open_probes", _int(1), "an integer >= 1"),
    ("breaker_probe_timeout", _num(0.0, strict=True), "seconds > 0"),
    ("cache_ttl", _num(0.0, strict=True), "seconds > 0"),
    ("cache_max_size", _int(0), "an integer >= 0 (0 disables the cache)"),
    ("cache_sampled", lambda v: isinstance(v, bool), "True or False"),
)


def config_from(
    config: AgentConfig | Mapping[str, Any] | None, overrides: dict[str, Any]
) -> AgentConfig:
    """Resolve ``BaseAgent(config=None, **overrides)`` arguments into one ``AgentConfig``."""
    if config is None:
        base = AgentConfig()
    elif isinstance(config, AgentConfig):
        base = config
    elif isinstance(config, Mapping):
        base = AgentConfig().replace(**dict(config))
    else:
        raise TypeError(
            f"config must be an AgentConfig, a mapping of its fields or None; "
            f"got {type(config).__name__}"
        )
    return base.replace(**overrides) if overrides else base
