"""What the mock says: default content, scripted replies and the request view they match on.

By default every chat call is answered with deterministic filler text of the configured
number of output tokens. ``Script`` rules change that: the first rule whose ``match`` fits
the request answers, with a fixed reply or the next one of a sequence (the last one
repeats), e.g. a tool call, then an answer::

    mock.configure(replies=[
        Script("weather", [ToolCall("get_weather", {"city": "Paris"}), "Sunny, 21 °C."]),
    ])

Sequences advance per matching call, so under concurrency prefer matching on the
conversation itself (``Script(lambda r: r.last_role == "tool", "Done.")``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from pytest_agentperf.errors import MockConfigError

__all__ = [
    "LLMRequest",
    "MockToolCall",
    "Reply",
    "ReplyLike",
    "Script",
    "ScriptBook",
    "ToolCall",
    "chunk_text",
    "default_text",
    "split_tokens",
]

_TEXT = (
    "The mock model answers with deterministic text so that every run of a performance "
    "test sends and receives the same bytes and only the injected timing varies"
)
_WORDS = tuple(_TEXT.split(" "))
_PIECE = re.compile(r"\s*\S+\s*$|\s*\S+")


@lru_cache(maxsize=256)
def default_text(tokens: int) -> tuple[str, ...]:
    """``tokens`` deterministic word pieces (one per token), the first without a space."""
    return tuple(
        (_WORDS[i % len(_WORDS)] if i == 0 else " " + _WORDS[i % len(_WORDS)])
        for i in range(max(tokens, 1))
    )


def split_tokens(text: str) -> tuple[str, ...]:
    """Word pieces of ``text``, each counted as one token; joined they give ``text`` back."""
    pieces = tuple(_PIECE.findall(text))
    if not pieces or "".join(pieces) != text:
        return (text,)
    return pieces


#: Characters per streamed piece of tool arguments or JSON output (about two tokens).
CHUNK = 8


def chunk_text(text: str, size: int = CHUNK) -> tuple[str, ...]:
    """``text`` in pieces of ``size`` characters (at least one piece), each one token."""
    if len(text) <= size:
        return (text,)
    return tuple(text[i : i + size] for i in range(0, len(text), size))


@dataclass(frozen=True, slots=True)
class MockToolCall:
    """A function call the mock model makes: ``MockToolCall("get_weather", {"city": "Paris"})``.

    Also exported as ``ToolCall`` (the name the first releases used).
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        """The arguments as the JSON string the APIs carry."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"))

    @property
    def argument_pieces(self) -> tuple[str, ...]:
        """The arguments as streamed: several pieces, one token each."""
        return chunk_text(self.arguments_json)


ToolCall = MockToolCall


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer: text, tool calls, or both."""

    text: str | None = None
    tool_calls: Sequence[ToolCall] = ()

    @property
    def pieces(self) -> tuple[str, ...]:
        """The text as token pieces (empty when there is no text)."""
        return split_tokens(self.text) if self.text else ()


ReplyLike = Reply | ToolCall | str


def as_reply(value: ReplyLike, where: str) -> Reply:
    """A ``Reply`` from a string, a ``ToolCall`` or a ``Reply``."""
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply(text=value)
    if isinstance(value, ToolCall):
        return Reply(tool_calls=(value,))
    raise MockConfigError(f"{where}: {value!r} is not a reply; use a str, ToolCall or Reply.")


class LLMRequest:
    """The request a ``Script`` matches on: endpoint, parsed body and conversation helpers."""

    def __init__(self, endpoint: str, body: Mapping[str, Any]) -> None:
        self.endpoint = endpoint
        self.body = body

    @property
    def model(self) -> str:
        """The requested model name."""
        return str(self.body.get("model", ""))

    @cached_property
    def messages(self) -> list[Mapping[str, Any]]:
        """The conversation as chat messages (empty for embeddings).

        A Responses API ``input`` is read the same way: a string is one user message,
        ``function_call_output`` items are ``tool`` messages, ``function_call`` items
        assistant messages.
        """
        if "input" in self.body and "messages" not in self.body:
            return responses_messages(self.body.get("input"))
        messages = self.body.get("messages")
        return list(messages) if isinstance(messages, list) else []

    @property
    def last_role(self) -> str | None:
        """Role of the last message: ``"user"``, ``"tool"``, ``"assistant"``..."""
        messages = self.messages
        if not messages:
            return None
        last = messages[-1]
        if last.get("role") == "user" and _has_tool_result(last.get("content")):
            return "tool"  # Anthropic carries tool results in a user message
        return str(last.get("role"))

    @cached_property
    def last_user_message(self) -> str:
        """Text of the last user message ("" if none)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return content_text(message.get("content"))
        return ""

    def __repr__(self) -> str:
        return f"LLMRequest({self.endpoint!r}, last_user_message={self.last_user_message!r})"


def responses_messages(items: object) -> list[Mapping[str, Any]]:
    """A Responses API ``input`` as chat-style messages."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if not isinstance(items, list):
        return []
    messages: list[Mapping[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "function_call_output":
            messages.append({"role": "tool", "content": item.get("output")})
        elif kind == "function_call":
            messages.append({"role": "assistant", "content": None, "tool_call": item})
        elif "role" in item:
            messages.append(item)
    return messages


def _has_tool_result(content: object) -> bool:
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") == "tool_result" for part in content
    )


def content_text(content: object) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        ).strip()
    return ""


def responses_input_text(body: Mapping[str, Any]) -> int:
    """Characters of a Responses request's instructions and input (for its token count)."""
    chars = len(content_text(body.get("instructions")))
    for message in responses_messages(body.get("input")):
        content = message.get("content")
        chars += len(content) if isinstance(content, str) else len(content_text(content))
    return chars


Matcher = str | Callable[[LLMRequest], bool] | None


@dataclass(frozen=True)
class Script:
    """Answer requests that ``match`` with ``reply`` (one, or a sequence used in turn).

    ``match`` is a substring of the last user message, a predicate on ``LLMRequest``, or
    ``None`` for every request.
    """

    match: Matcher
    reply: ReplyLike | Sequence[ReplyLike]

    def replies(self) -> tuple[Reply, ...]:
        """The reply sequence, validated."""
        items = (
            self.reply if isinstance(self.reply, list | tuple) else (self.reply,)
        )  # a lone reply is a sequence of one
        if not items:
            raise MockConfigError(f"Script(reply={self.reply!r}) needs at least one reply.")
        return tuple(as_reply(item, f"Script(reply=...)[{i}]") for i, item in enumerate(items))

    def matches(self, request: LLMRequest) -> bool:
        """Whether this rule answers ``request``."""
        if self.match is None:
            return True
        if isinstance(self.match, str):
            return self.match in request.last_user_message
        return bool(self.match(request))


class ScriptBook:
    """Compiled rules with their sequence positions."""

    __slots__ = ("_positions", "_rules")

    def __init__(self, rules: Sequence[Script]) -> None:
        self._rules = [(rule, rule.replies()) for rule in rules]
        self._positions = [0] * len(self._rules)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def answer(self, request: LLMRequest) -> Reply | None:
        """The reply of the first matching rule, advancing its sequence; None if none."""
        for index, (rule, replies) in enumerate(self._rules):
            if rule.matches(request):
                position = self._positions[index]
                self._positions[index] = position + 1
                return replies[min(position, len(replies) - 1)]
        return None


def as_scripts(value: object) -> list[Script]:
    """Rules from what ``configure(replies=...)`` accepts."""
    if value is None:
        return []
    if isinstance(value, Script):
        return [value]
    if isinstance(value, Reply | ToolCall | str):
        return [Script(None, value)]
    if isinstance(value, list | tuple) and all(isinstance(v, Script) for v in value):
        return list(value)
    raise MockConfigError(
        f"configure(replies={value!r}) is not accepted; use a str, Reply, ToolCall, "
        "Script(match, reply) or a list of Script."
    )
