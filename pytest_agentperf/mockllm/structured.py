"""Forced tools and structured output: what a request demands, checked, and answered.

A real model honours ``tool_choice`` (a named tool, ``required``, Anthropic's ``any`` and
``tool``) and JSON output (``response_format``, the Responses API's ``text.format``,
Anthropic's ``output_config.format``); libraries such as instructor and pydantic-ai rely on
it and retry until the reply validates. ``inspect_request`` reads those fields for one
endpoint, rejects what a real API would (an unknown tool type, a forced tool that is not
in ``tools``, an unusable schema: ``BadRequest``, answered with a 400), and returns a
``Shape``; ``Shape.answer`` then builds the reply from the schemas with the seeded
generator, when no ``Script`` answered first.

Under ``required`` (or ``any``) the mock calls the first tool the conversation has not
called yet, then the last one: an agent loop with tools and an output tool terminates.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pytest_agentperf.mockllm import wire
from pytest_agentperf.mockllm.replies import MockToolCall, chunk_text
from pytest_agentperf.mockllm.schema import SchemaError, _Node, compile_schema, generate

__all__ = ["BadRequest", "Forced", "Shape", "inspect_request"]

RESPONSES_TOOL_TYPES: Final = (
    "function",
    "file_search",
    "web_search",
    "web_search_2025_08_26",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "computer",
    "computer_use_preview",
    "code_interpreter",
    "image_generation",
    "mcp",
    "local_shell",
    "shell",
    "custom",
    "apply_patch",
    "namespace",
    "tool_search",
    "programmatic_tool_calling",
)
CHAT_TOOL_TYPES: Final = ("function", "custom")
_OPEN_OBJECT: Final = {"type": "object"}


class BadRequest(Exception):
    """Raised for a request a real API would refuse with a 400; the message says why."""


@dataclass(frozen=True, slots=True)
class Forced:
    """A reply the request's shape demands: JSON text pieces and/or tool calls."""

    pieces: tuple[str, ...]
    tool_calls: tuple[MockToolCall, ...]


@dataclass(frozen=True, slots=True)
class Shape:
    """The request's tools (name -> parameters schema), forced choice and output format."""

    tools: Mapping[str, _Node]
    choice: str | None  # None (auto), "none", "required" or a tool name
    json_format: _Node | None
    json_object: bool
    called: frozenset[str]

    @property
    def forced(self) -> bool:
        """Whether the reply is constrained (a tool must be called, or JSON given)."""
        return self.choice not in (None, "none") or self.json_format is not None or self.json_object

    def answer(self, rng: random.Random, call_id: str) -> Forced:
        """The reply: the forced tool's call, or JSON text that validates."""
        name = self._tool()
        if name is not None:
            arguments = generate(self.tools[name], rng)
            return Forced((), (MockToolCall(name, arguments, f"{call_id}_0"),))
        if self.json_format is not None:
            value: Any = generate(self.json_format, rng)
        else:
            value = {"result": "The mock model answers"}
        return Forced(chunk_text(wire.json_str(value)), ())

    def _tool(self) -> str | None:
        if self.choice in (None, "none"):
            return None
        if self.choice != "required":
            return self.choice
        for name in self.tools:
            if name not in self.called:
                return name
        return list(self.tools)[-1]


def inspect_request(endpoint: str, body: Mapping[str, Any]) -> Shape | None:
    """The request's ``Shape``, or None when it has no tools and no output format."""
    if endpoint == wire.RESPONSES:
        reader: _Reader = _ResponsesReader(body)
    elif endpoint == wire.MESSAGES:
        reader = _AnthropicReader(body)
    elif endpoint == wire.CHAT:
        reader = _ChatReader(body)
    else:
        return None
    return reader.shape()


class _Reader:
    """Reads one endpoint's fields; subclasses say where each lives."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body

    def shape(self) -> Shape | None:
        tools_raw = self.body.get("tools")
        choice_raw = self.body.get("tool_choice")
        fmt_raw = self.format_field()
        if not tools_raw and choice_raw is None and fmt_raw is None:
            return None
        tools = self.tools(tools_raw)
        choice = self.choice(choice_raw)
        if choice not in (None, "none", "required") and choice not in tools:
            known = ", ".join(tools) or "no function tools"
            raise BadRequest(f"tool_choice names the tool {choice!r}, but tools has {known}.")
        if choice == "required" and not tools:
            raise BadRequest("tool_choice requires a tool call, but tools has no function tools.")
        json_format, json_object = self.output_format(fmt_raw)
        return Shape(tools, choice, json_format, json_object, self.called() if tools else _NONE)

    # what subclasses provide
    def format_field(self) -> Any:
        raise NotImplementedError

    def tools(self, raw: object) -> dict[str, _Node]:
        raise NotImplementedError

    def choice(self, raw: object) -> str | None:
        raise NotImplementedError

    def output_format(self, raw: object) -> tuple[_Node | None, bool]:
        raise NotImplementedError

    def called(self) -> frozenset[str]:
        raise NotImplementedError

    # shared helpers
    @staticmethod
    def tool_list(raw: object) -> Sequence[Any]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise BadRequest(f"tools must be a list of tools, not {type(raw).__name__}.")
        return raw

    @staticmethod
    def schema(raw: object, where: str) -> _Node:
        try:
            return compile_schema(_OPEN_OBJECT if raw is None else raw, where)
        except SchemaError as exc:
            raise BadRequest(str(exc)) from None

    @staticmethod
    def named(raw: Mapping[str, Any], where: str) -> str:
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{where}.name must be the tool's name (a non-empty string).")
        return name

    def openai_format(self, fmt: object, where: str) -> tuple[_Node | None, bool]:
        if fmt is None:
            return None, False
        kind = fmt.get("type") if isinstance(fmt, Mapping) else None
        if kind == "text":
            return None, False
        if kind == "json_object":
            return None, True
        if kind == "json_schema":
            assert isinstance(fmt, Mapping)
            inner = fmt.get("json_schema", fmt) if where == "response_format" else fmt
            holder = f"{where}.json_schema" if inner is not fmt else where
            schema = inner.get("schema") if isinstance(inner, Mapping) else None
            return self.schema(schema, f"{holder}.schema"), False
        raise BadRequest(
            f"{where}.type={kind!r} is not accepted; use 'text', 'json_object' or 'json_schema'."
        )


_NONE: Final[frozenset[str]] = frozenset()


def _choice_name(raw: object, where: str) -> str | None:
    if raw in (None, "auto"):
        return None
    if raw in ("none", "required"):
        return str(raw)
    raise BadRequest(
        f"{where}={raw!r} is not accepted; use 'none', 'auto', 'required' or a named tool."
    )


class _ChatReader(_Reader):
    def format_field(self) -> Any:
        return self.body.get("response_format")

    def tools(self, raw: object) -> dict[str, _Node]:
        tools: dict[str, _Node] = {}
        for index, tool in enumerate(self.tool_list(raw)):
            where = f"tools[{index}]"
            kind = tool.get("type") if isinstance(tool, Mapping) else None
            if kind not in CHAT_TOOL_TYPES:
                raise BadRequest(
                    f"{where}.type={kind!r} is not accepted; use one of {CHAT_TOOL_TYPES}."
                )
            if kind == "function":
                function = tool.get("function")
                if not isinstance(function, Mapping):
                    raise BadRequest(f"{where}.function must be an object with a name.")
                name = self.named(function, f"{where}.function")
                params = function.get("parameters")
                tools[name] = self.schema(params, f"{where}.function.parameters")
        return tools

    def choice(self, raw: object) -> str | None:
        if isinstance(raw, Mapping):
            if raw.get("type") == "allowed_tools":
                allowed = raw.get("allowed_tools")
                mode = allowed.get("mode") if isinstance(allowed, Mapping) else None
                return "required" if mode == "required" else None
            function = raw.get("function")
            if raw.get("type") == "function" and isinstance(function, Mapping):
                return self.named(function, "tool_choice.function")
            raise BadRequest(
                "tool_choice must be 'none', 'auto', 'required' or "
                "{'type': 'function', 'function': {'name': ...}}."
            )
        return _choice_name(raw, "tool_choice")

    def output_format(self, raw: object) -> tuple[_Node | None, bool]:
        return self.openai_format(raw, "response_format")

    def called(self) -> frozenset[str]:
        names: set[str] = set()
        for message in _items(self.body.get("messages")):
            for call in _items(message.get("tool_calls")):
                function = call.get("function")
                if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                    names.add(function["name"])
        return frozenset(names)


class _ResponsesReader(_Reader):
    def format_field(self) -> Any:
        text = self.body.get("text")
        return text.get("format") if isinstance(text, Mapping) else None

    def tools(self, raw: object) -> dict[str, _Node]:
        tools: dict[str, _Node] = {}
        for index, tool in enumerate(self.tool_list(raw)):
            where = f"tools[{index}]"
            kind = tool.get("type") if isinstance(tool, Mapping) else None
            if kind not in RESPONSES_TOOL_TYPES:
                raise BadRequest(
                    f"{where}.type={kind!r} is not a Responses API tool type; use one of "
                    f"{', '.join(RESPONSES_TOOL_TYPES)}."
                )
            if kind == "function":
                name = self.named(tool, where)
                tools[name] = self.schema(tool.get("parameters"), f"{where}.parameters")
        return tools

    def choice(self, raw: object) -> str | None:
        if isinstance(raw, Mapping):
            kind = raw.get("type")
            if kind == "function":
                return self.named(raw, "tool_choice")
            if kind == "allowed_tools":
                return "required" if raw.get("mode") == "required" else None
            return None  # a hosted tool (web_search, file_search...): the mock runs none
        return _choice_name(raw, "tool_choice")

    def output_format(self, raw: object) -> tuple[_Node | None, bool]:
        return self.openai_format(raw, "text.format")

    def called(self) -> frozenset[str]:
        names = set()
        items = self.body.get("input")
        for item in _items(items):
            if item.get("type") == "function_call" and isinstance(item.get("name"), str):
                names.add(item["name"])
        return frozenset(names)


class _AnthropicReader(_Reader):
    def format_field(self) -> Any:
        config = self.body.get("output_config")
        if isinstance(config, Mapping) and config.get("format") is not None:
            return config.get("format")
        return self.body.get("output_format")

    def tools(self, raw: object) -> dict[str, _Node]:
        tools: dict[str, _Node] = {}
        for index, tool in enumerate(self.tool_list(raw)):
            where = f"tools[{index}]"
            if not isinstance(tool, Mapping):
                raise BadRequest(f"{where} must be a tool object.")
            if tool.get("type", "custom") != "custom":
                continue  # a server tool (web search, code execution...): the mock runs none
            name = self.named(tool, where)
            tools[name] = self.schema(tool.get("input_schema"), f"{where}.input_schema")
        return tools

    def choice(self, raw: object) -> str | None:
        if raw is None:
            return None
        kind = raw.get("type") if isinstance(raw, Mapping) else None
        if kind == "auto" or kind == "none":
            return None if kind == "auto" else "none"
        if kind == "any":
            return "required"
        if kind == "tool" and isinstance(raw, Mapping):
            return self.named(raw, "tool_choice")
        raise BadRequest(
            f"tool_choice={raw!r} is not accepted; use {{'type': 'auto' | 'any' | 'none'}} or "
            "{'type': 'tool', 'name': ...}."
        )

    def output_format(self, raw: object) -> tuple[_Node | None, bool]:
        if raw is None:
            return None, False
        kind = raw.get("type") if isinstance(raw, Mapping) else None
        if kind != "json_schema" or not isinstance(raw, Mapping):
            raise BadRequest(
                f"output_config.format.type={kind!r} is not accepted; use 'json_schema'."
            )
        return self.schema(raw.get("schema"), "output_config.format.schema"), False

    def called(self) -> frozenset[str]:
        names = set()
        for message in _items(self.body.get("messages")):
            for block in _items(message.get("content")):
                if block.get("type") == "tool_use" and isinstance(block.get("name"), str):
                    names.add(block["name"])
        return frozenset(names)


def _items(value: object) -> list[Mapping[str, Any]]:
    """The dicts of a list field (anything else: none)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]
