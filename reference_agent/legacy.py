"""``LegacyAgent``: the seed's original design, kept to show the difference side by side.

Same configuration and the same LLM workload as ``ImprovedAgent`` (chat request from the
payload, tool-call loop, reply text), but built the old way:

- **one task at a time**: work runs behind the ``is_busy`` flag (guarded by a lock), so
  however many workers ``concurrency`` asks for, tasks are served one after another;
- **a new ``httpx.AsyncClient`` per call**: a new connection for every request. Against a
  real endpoint (no ``transport`` injected) each new client also builds an SSL context,
  even for an ``http://`` URL, which **blocks the event loop for ~55 ms per call** on a
  small VM (loading the CA bundle): nothing else in the process runs meanwhile. That is
  kept on purpose -- it is what the design costs -- and it is why the fair comparison
  injects the same transport into both agents (``benchmarks/bench_agents.py``, the
  examples): with a transport the per-call client costs ~0.1 ms, so the speedup measures
  the serialisation, not the SSL context. Over sockets, expect the legacy rate to be
  about ``1 / (latency + 55 ms)`` and the loop-lag figures of any harness around it to
  show the stalls;
- **no cache, no retries, no circuit breaker**: an error fails the task at once.

It still honours the ``BaseAgent`` contract: every accepted task ends in exactly one final
status, timeouts cancel the work, shutdown loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from reference_agent.base import BaseAgent
from reference_agent.chat import ChatRequest, ChatResponse, auth_headers, chat_url
from reference_agent.config import AgentConfig
from reference_agent.llm import borrowed, send_chat
from reference_agent.task import Task
from reference_agent.tools import ToolFunction, run_tool_loop

__all__ = ["LegacyAgent"]


class LegacyAgent(BaseAgent):
    """The blocking design (see the module doc). ``is_busy`` is True while a task runs.

    Blocking by design: one task at a time, and against a real endpoint every call
    creates an ``httpx.AsyncClient`` whose SSL context blocks the loop ~55 ms. Compare
    it with ``ImprovedAgent`` on the same injected transport to measure the design, not
    that stall."""

    def __init__(
        self,
        config: AgentConfig | Mapping[str, Any] | None = None,
        *,
        tools: Mapping[str, ToolFunction] | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(config, **overrides)
        self.is_busy = False
        self._busy = asyncio.Lock()
        self.url = chat_url(self.config.base_url)
        self.headers = auth_headers(self.config.api_key)
        self.tools: dict[str, ToolFunction] = dict(tools or {})

    async def process_task(self, task: Task) -> str:
        """Wait until the agent is not busy, then answer the task; returns the reply text."""
        async with self._busy:
            self.is_busy = True
            try:
                request = ChatRequest.from_payload(task.payload, self.config)
                reply = await run_tool_loop(
                    request, self._call_once, self.tools, self.config.max_tool_rounds
                )
                return reply.content
            finally:
                self.is_busy = False

    async def _call_once(self, request: ChatRequest) -> ChatResponse:
        cfg = self.config
        timeout = httpx.Timeout(cfg.request_timeout, connect=cfg.connect_timeout)
        async with httpx.AsyncClient(transport=borrowed(cfg.transport), timeout=timeout) as client:
            reply = await send_chat(client, self.url, request, self.headers)
        if reply.first_token_at is not None:
            self.mark_first_token(reply.first_token_at)
        return reply
