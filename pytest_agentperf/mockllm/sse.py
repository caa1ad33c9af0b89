"""Server-sent events framing, as the OpenAI and Anthropic streaming APIs use it."""

from __future__ import annotations

from typing import Final

__all__ = ["DONE", "data_event", "named_event"]

DONE: Final = b"data: [DONE]\n\n"


def data_event(payload: str) -> bytes:
    """An unnamed event (OpenAI): ``data: <json>`` and a blank line."""
    return b"data: " + payload.encode() + b"\n\n"


def named_event(name: str, payload: str) -> bytes:
    """A named event (Anthropic): ``event: <name>``, ``data: <json>`` and a blank line."""
    return b"event: " + name.encode() + b"\ndata: " + payload.encode() + b"\n\n"
