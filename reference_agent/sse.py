"""Parsing an OpenAI-style chat-completions SSE stream into one reply.

``StreamAccumulator.feed(line)`` takes the stream line by line: ``data: {...}`` chunks add
content and tool-call deltas, ``data: [DONE]`` ends it, comments (``:``), ``event:``,
``id:``, ``retry:`` and blank lines are ignored. The first chunk carrying content or a
tool call stamps ``first_token_at`` with the given clock. An ``{"error": ...}`` chunk, bad
JSON or a stream that ends without any chunk raise ``LLMResponseError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from reference_agent.chat import ChatResponse, ToolCall
from reference_agent.errors import LLMResponseError

__all__ = ["StreamAccumulator"]


class StreamAccumulator:
    """Accumulates the deltas of one streamed completion."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._parts: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self.first_token_at: float | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.usage: dict[str, Any] | None = None
        self.chunks = 0
        self.done = False

    def feed(self, line: str) -> bool:
        """Take one line; True once ``[DONE]`` was seen."""
        if not line.startswith("data:"):
            return False
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return True
        try:
            chunk = orjson.loads(data)
        except ValueError as exc:
            raise LLMResponseError(f"Bad SSE data line from the LLM: {line[:200]!r}") from exc
        self._chunk(chunk)
        return False

    def _chunk(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            raise LLMResponseError(f"Bad SSE chunk from the LLM: {str(chunk)[:200]}")
        if "error" in chunk:
            raise LLMResponseError(f"The LLM stream reported an error: {chunk['error']}")
        self.chunks += 1
        self.model = chunk.get("model", self.model)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            text = delta.get("content")
            if text:
                self._stamp()
                self._parts.append(text)
            for call in delta.get("tool_calls") or ():
                self._stamp()
                self._add_call(call)

    def _stamp(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = self._clock()

    def _add_call(self, call: dict[str, Any]) -> None:
        slot = self._calls.setdefault(call.get("index", 0), {"id": "", "name": "", "arguments": ""})
        if call.get("id"):
            slot["id"] = call["id"]
        function = call.get("function") or {}
        if function.get("name"):
            slot["name"] += function["name"]
        if function.get("arguments"):
            slot["arguments"] += function["arguments"]

    def finish(self) -> ChatResponse:
        """The reply; raises ``LLMResponseError`` when the stream had no chunk at all."""
        if not self.chunks:
            raise LLMResponseError("The LLM stream ended without any data chunk.")
        calls = tuple(
            ToolCall(c["id"], c["name"], c["arguments"]) for _, c in sorted(self._calls.items())
        )
        return ChatResponse(
            content="".join(self._parts),
            tool_calls=calls,
            finish_reason=self.finish_reason,
            model=self.model,
            usage=self.usage,
            first_token_at=self.first_token_at,
        )
