"""Chat-completions data: requests built from task payloads, replies, tool calls.

``ChatRequest.from_payload`` turns a task payload (a prompt string, or a dict with
``messages`` and options such as ``stream``, ``max_tokens``, ``tools``) into a request;
``parse_completion`` turns a non-streamed reply body into a ``ChatResponse``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from reference_agent.config import AgentConfig
from reference_agent.errors import LLMResponseError

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "ToolCall",
    "auth_headers",
    "chat_url",
    "parse_completion",
]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for; ``arguments`` is the raw JSON string."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """One chat completion: the text, tool calls, finish reason, usage and, when streamed,
    the ``time.monotonic()`` of the first token."""

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    model: str | None = None
    usage: Mapping[str, Any] | None = None
    first_token_at: float | None = None

    def assistant_message(self) -> dict[str, Any]:
        """The reply as a message to append to the conversation."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in self.tool_calls
            ]
        return message


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A chat-completions request: ``model``, ``messages``, extra ``options`` (sent as is)
    and whether to ``stream``."""

    model: str
    messages: tuple[Mapping[str, Any], ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    stream: bool = False

    @classmethod
    def from_payload(cls, payload: Any, config: AgentConfig) -> ChatRequest:
        """A prompt string becomes one user message; a dict needs ``messages`` (or
        ``prompt``) and may carry ``model``, ``stream`` and any other option."""
        if isinstance(payload, str):
            return cls(config.model, ({"role": "user", "content": payload},), {}, config.stream)
        if not isinstance(payload, Mapping):
            raise TypeError(
                f"An LLM task payload must be a prompt string or a dict with 'messages'; "
                f"got {type(payload).__name__}"
            )
        options = dict(payload)
        messages = options.pop("messages", None)
        prompt = options.pop("prompt", None)
        if messages is None and isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
            raise ValueError(
                "An LLM task payload dict needs 'messages' (a non-empty list of chat "
                f"messages) or 'prompt' (a string); got keys {sorted(payload)}"
            )
        model = options.pop("model", config.model)
        stream = bool(options.pop("stream", config.stream))
        return cls(model, tuple(messages), options, stream)

    def with_messages(self, messages: Sequence[Mapping[str, Any]]) -> ChatRequest:
        return ChatRequest(self.model, tuple(messages), self.options, self.stream)

    def body(self) -> dict[str, Any]:
        """The JSON body sent to ``/chat/completions``."""
        body: dict[str, Any] = {"model": self.model, "messages": list(self.messages)}
        body.update(self.options)
        if self.stream:
            body["stream"] = True
        return body

    def encode(self) -> bytes:
        """``body()`` as JSON bytes (orjson: about 1 us for a short chat). Non-string keys
        are written as strings, as ``json.dumps`` does (``logit_bias`` has token ids)."""
        return orjson.dumps(self.body(), option=orjson.OPT_NON_STR_KEYS)

    def cache_key(self) -> bytes:
        """A 16-byte digest of model, messages and options as canonical JSON (keys sorted;
        not ``stream``: the answer is the same).

        orjson makes the JSON ~1 us, where ``json.dumps(sort_keys=True)`` cost tens of
        microseconds per task; the digest (BLAKE2b, ~1 us for a few KB) keeps each cache
        entry's key at 16 bytes instead of the whole conversation, so a full cache of
        1,024 long prompts holds kilobytes of keys, not megabytes.
        """
        canonical = orjson.dumps(
            [self.model, self.messages, self.options], option=_KEY_OPTIONS, default=str
        )
        return hashlib.blake2b(canonical, digest_size=16).digest()

    @property
    def sampled(self) -> bool:
        """True when the request asks for a sampled answer (``temperature`` > 0): asking
        twice is meant to give two answers, so the agent does not cache it by default."""
        temperature = self.options.get("temperature")
        return isinstance(temperature, int | float) and temperature > 0


_KEY_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def chat_url(base_url: str) -> str:
    """``{base_url}/chat/completions``, adding ``/v1`` when the base URL lacks it."""
    base = base_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/chat/completions"


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def parse_completion(data: Any) -> ChatResponse:
    """A non-streamed completion body -> ``ChatResponse``."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
        calls = tuple(
            ToolCall(c.get("id", ""), c["function"]["name"], c["function"].get("arguments", ""))
            for c in message.get("tool_calls") or ()
        )
        return ChatResponse(
            content=message.get("content") or "",
            tool_calls=calls,
            finish_reason=choice.get("finish_reason"),
            model=data.get("model"),
            usage=data.get("usage"),
        )
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise LLMResponseError(
            f"The LLM endpoint's reply is not a chat completion: {str(data)[:200]}"
        ) from exc
