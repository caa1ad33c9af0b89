"""The short tool-call loop shared by the LLM agents.

When a reply asks for tool calls and tools are registered, each named tool is called with
the call's JSON arguments as keywords (sync or async), its result (a string, or anything
JSON-serialisable) is appended as a ``tool`` message, and the LLM is called again — at
most ``max_rounds`` times after the first call, then ``ToolError``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from reference_agent.chat import ChatRequest, ChatResponse, ToolCall
from reference_agent.errors import ToolError

__all__ = ["ToolFunction", "call_tool", "run_tool_loop"]

ToolFunction = Callable[..., Any]
"""A tool: called with the model's arguments as keywords; may be ``async``."""


async def call_tool(tools: Mapping[str, ToolFunction], call: ToolCall) -> str:
    """Run one tool call and return its result as message content."""
    function = tools.get(call.name)
    if function is None:
        raise ToolError(
            f"The model called tool {call.name!r}, which is not registered "
            f"(registered: {sorted(tools)})."
        )
    try:
        arguments = json.loads(call.arguments) if call.arguments else {}
    except ValueError as exc:
        raise ToolError(
            f"The model called tool {call.name!r} with arguments that are not JSON: "
            f"{call.arguments[:200]!r}"
        ) from exc
    if not isinstance(arguments, dict):
        raise ToolError(f"Tool {call.name!r} needs a JSON object of arguments; got {arguments!r}")
    result = function(**arguments)
    if inspect.isawaitable(result):
        result = await result
    return result if isinstance(result, str) else json.dumps(result, default=str)


async def run_tool_loop(
    request: ChatRequest,
    complete: Callable[[ChatRequest], Awaitable[ChatResponse]],
    tools: Mapping[str, ToolFunction],
    max_rounds: int,
) -> ChatResponse:
    """Call the LLM, answer its tool calls, call it again; return the final reply."""
    reply = await complete(request)
    rounds = 0
    while reply.tool_calls and tools:
        if rounds >= max_rounds:
            raise ToolError(
                f"The model still asked for tools after {max_rounds} tool round(s) "
                "(AgentConfig.max_tool_rounds)."
            )
        rounds += 1
        messages = [*request.messages, reply.assistant_message()]
        for call in reply.tool_calls:
            content = await call_tool(tools, call)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
        request = request.with_messages(messages)
        reply = await complete(request)
    return reply
