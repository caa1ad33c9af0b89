"""Workloads a support agent might see; shared by the example tests."""

from __future__ import annotations

from typing import Any

TOPICS = ("refund", "login", "shipping", "invoice", "password", "upgrade", "cancel", "bug")


def ticket(i: int) -> dict[str, Any]:
    """A support ticket as a chat request; unique per ``i``, so the cache cannot help."""
    topic = TOPICS[i % len(TOPICS)]
    return {
        "messages": [
            {"role": "system", "content": "You are a concise support agent."},
            {"role": "user", "content": f"Ticket #{i}: a customer asks about {topic}."},
        ],
        "max_tokens": 32,
    }


def streamed_ticket(i: int) -> dict[str, Any]:
    """The same ticket, answered as a token stream."""
    return {**ticket(i), "stream": True}


def repeated_question(i: int) -> str:
    """One of 24 prompts, over and over: what real support traffic looks like to a cache."""
    return f"How do I {TOPICS[i % len(TOPICS)]}? (phrasing {i % 3})"
