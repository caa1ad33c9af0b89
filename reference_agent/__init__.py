"""reference_agent: a production-grade async LLM agent and the blocking design it replaces."""

from __future__ import annotations

__all__: list[str] = []
