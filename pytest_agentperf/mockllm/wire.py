"""Wire formats: OpenAI chat completions and embeddings, Anthropic messages, and errors.

Pure functions from what to say to the bytes to send. Anything that does not depend on the
request (default text, its stream chunks, error bodies) is cached, so the hot path mostly
formats a few numbers into precomputed pieces.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from pytest_agentperf.mockllm.replies import (
    ToolCall,
    chunk_text,
    content_text,
    default_text,
    responses_input_text,
)
from pytest_agentperf.mockllm.sse import DONE, data_event, named_event

__all__ = [
    "ANTHROPIC",
    "CHAT",
    "EMBEDDINGS",
    "MESSAGES",
    "OPENAI",
    "RESPONSES",
    "TELEMETRY",
    "StreamParts",
    "chat_body",
    "chat_stream",
    "embeddings_body",
    "endpoint_for",
    "error_body",
    "input_tokens",
    "json_str",
]

OPENAI: Final = "openai"
ANTHROPIC: Final = "anthropic"
CHAT: Final = "/v1/chat/completions"
MESSAGES: Final = "/v1/messages"
EMBEDDINGS: Final = "/v1/embeddings"
RESPONSES: Final = "/v1/responses"
#: The OpenAI Agents SDK's trace export: answered at once, counted apart from LLM calls.
TELEMETRY: Final = "/v1/traces/ingest"
ENDPOINTS: Final = (CHAT, RESPONSES, EMBEDDINGS, MESSAGES)
CREATED: Final = 1_700_000_000
_CREATED: Final = CREATED
_ROUTES: Final = {
    "/v1/chat/completions": CHAT,
    "/chat/completions": CHAT,
    "/v1/messages": MESSAGES,
    "/messages": MESSAGES,
    "/v1/embeddings": EMBEDDINGS,
    "/embeddings": EMBEDDINGS,
    "/v1/responses": RESPONSES,
    "/responses": RESPONSES,
    "/v1/traces/ingest": TELEMETRY,
    "/traces/ingest": TELEMETRY,
}
_SUFFIXES: Final = ("/chat/completions", "/messages", "/embeddings", "/responses", "/traces/ingest")
_FINISH: Final = {
    OPENAI: {"stop": "stop", "length": "length", "tool_calls": "tool_calls"},
    ANTHROPIC: {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"},
}

json_str = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_FINISH_JSON: Final = {
    provider: {reason: json_str(value) for reason, value in table.items()}
    for provider, table in _FINISH.items()
}


def endpoint_for(path: str) -> str | None:
    """The endpoint a path names, with or without ``/v1`` (or doubled); None if unknown."""
    endpoint = _ROUTES.get(path)
    if endpoint is None:
        for suffix in _SUFFIXES:
            if path.endswith(suffix):
                return _ROUTES[suffix]
    return endpoint


def provider_of(endpoint: str | None, anthropic_headers: bool) -> str:
    """Whose error format to answer in."""
    if endpoint == MESSAGES or (endpoint is None and anthropic_headers):
        return ANTHROPIC
    return OPENAI


def input_tokens(body: Mapping[str, Any]) -> int:
    """An estimate of the prompt's tokens: about four characters each."""
    if "input" in body and "messages" not in body:
        return responses_input_text(body) // 4 + 1
    chars = len(content_text(body.get("system")))
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                chars += len(content_text(message.get("content")))
    return chars // 4 + 1


# -- errors ---------------------------------------------------------------------------------

_OPENAI_ERRORS: Final = {
    400: ("invalid_request_error", None),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERRORS: Final = {
    400: "invalid_request_error",
    404: "not_found_error",
    405: "invalid_request_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@lru_cache(maxsize=512)
def error_body(provider: str, status: int, message: str) -> bytes:
    """An error body in the provider's format."""
    if provider == ANTHROPIC:
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        return json_str({"type": "error", "error": {"type": kind, "message": message}}).encode()
    kind, code = _OPENAI_ERRORS.get(status, ("server_error", None))
    error = {"message": message, "type": kind, "param": None, "code": code}
    return json_str({"error": error}).encode()


# -- chat: plain ----------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _default_text_json(tokens: int) -> str:
    return json_str("".join(default_text(tokens)))


def chat_body(
    provider: str,
    model_json: str,
    pieces: Sequence[str] | int,
    tool_calls: Sequence[ToolCall],
    finish: str,
    usage: tuple[int, int],
) -> bytes:
    """A complete (non-streaming) answer. ``pieces`` as an int means default text."""
    if isinstance(pieces, int):
        text_json = _default_text_json(pieces)
    else:
        text_json = json_str("".join(pieces)) if pieces else "null"
    reason = _FINISH_JSON[provider][finish]
    if provider == ANTHROPIC:
        return _anthropic_body(model_json, text_json, tool_calls, reason, usage)
    calls = ""
    if tool_calls:
        calls = ',"tool_calls":' + json_str([_openai_tool(i, c) for i, c in enumerate(tool_calls)])
    n_in, n_out = usage
    return (
        f'{{"id":"chatcmpl-mock","object":"chat.completion","created":{_CREATED},'
        f'"model":{model_json},"choices":[{{"index":0,"message":{{"role":"assistant",'
        f'"content":{text_json},"refusal":null{calls}}},"logprobs":null,'
        f'"finish_reason":{reason}}}],"usage":{{"prompt_tokens":{n_in},'
        f'"completion_tokens":{n_out},"total_tokens":{n_in + n_out}}}}}'
    ).encode()


def _openai_tool(index: int, call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id or f"call_mock_{index}",
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments_json},
    }


def _anthropic_tool(index: int, call: ToolCall) -> dict[str, Any]:
    arguments = (
        call.arguments if not isinstance(call.arguments, str) else json.loads(call.arguments)
    )
    return {
        "type": "tool_use",
        "id": call.id or f"toolu_mock_{index}",
        "name": call.name,
        "input": dict(arguments),
    }


def _anthropic_body(
    model_json: str,
    text_json: str,
    tool_calls: Sequence[ToolCall],
    reason: str,
    usage: tuple[int, int],
) -> bytes:
    blocks = [f'{{"type":"text","text":{text_json}}}'] if text_json != "null" else []
    blocks += [json_str(_anthropic_tool(i, c)) for i, c in enumerate(tool_calls)]
    return (
        f'{{"id":"msg_mock","type":"message","role":"assistant","model":{model_json},'
        f'"content":[{",".join(blocks)}],"stop_reason":{reason},"stop_sequence":null,'
        f'"usage":{{"input_tokens":{usage[0]},"output_tokens":{usage[1]}}}}}'
    ).encode()


# -- chat: streaming ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamParts:
    """A stream as: what goes before the first token, one chunk per token, what follows."""

    prelude: bytes
    tokens: Sequence[bytes]
    tail: bytes


def chat_stream(
    provider: str,
    model_json: str,
    pieces: Sequence[str] | int,
    tool_calls: Sequence[ToolCall],
    finish: str,
    usage: tuple[int, int],
    include_usage: bool,
) -> StreamParts:
    """The streamed answer. ``pieces`` as an int means default text (cached chunks)."""
    reason = _FINISH_JSON[provider][finish]
    if provider == ANTHROPIC:
        return _anthropic_stream(model_json, pieces, tool_calls, reason, usage)
    if isinstance(pieces, int):
        tokens: Sequence[bytes] = _openai_default_chunks(model_json, pieces)
    else:
        tokens = [_openai_chunk(model_json, json_str({"content": p})) for p in pieces]
    if tool_calls:
        tokens = [*tokens]
        for index, call in enumerate(tool_calls):
            tokens += _openai_tool_chunks(model_json, index, call)
    tail = _openai_chunk(model_json, "{}", reason)
    if include_usage:
        n_in, n_out = usage
        tail += data_event(
            f'{{"id":"chatcmpl-mock","object":"chat.completion.chunk","created":{_CREATED},'
            f'"model":{model_json},"choices":[],"usage":{{"prompt_tokens":{n_in},'
            f'"completion_tokens":{n_out},"total_tokens":{n_in + n_out}}}}}'
        )
    prelude = _openai_chunk(model_json, '{"role":"assistant","content":""}')
    return StreamParts(prelude, tokens, tail + DONE)


def _openai_chunk(model_json: str, delta_json: str, reason: str = "null") -> bytes:
    return data_event(
        f'{{"id":"chatcmpl-mock","object":"chat.completion.chunk","created":{_CREATED},'
        f'"model":{model_json},"choices":[{{"index":0,"delta":{delta_json},'
        f'"logprobs":null,"finish_reason":{reason}}}]}}'
    )


def _openai_tool_chunks(model_json: str, index: int, call: ToolCall) -> list[bytes]:
    """A tool call streamed as the APIs do: id and name first, then argument pieces."""
    pieces = call.argument_pieces
    tool = _openai_tool(index, call)
    tool["index"] = index
    tool["function"]["arguments"] = pieces[0]
    chunks = [_openai_chunk(model_json, json_str({"tool_calls": [tool]}))]
    for piece in pieces[1:]:
        delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
        chunks.append(_openai_chunk(model_json, json_str(delta)))
    return chunks


@lru_cache(maxsize=256)
def _openai_default_chunks(model_json: str, tokens: int) -> tuple[bytes, ...]:
    return tuple(_openai_chunk(model_json, json_str({"content": p})) for p in default_text(tokens))


def _text_delta(piece: str) -> bytes:
    return named_event(
        "content_block_delta",
        f'{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta",'
        f'"text":{json_str(piece)}}}}}',
    )


@lru_cache(maxsize=256)
def _anthropic_default_chunks(tokens: int) -> tuple[bytes, ...]:
    return tuple(_text_delta(p) for p in default_text(tokens))


def _block_start(index: int, block: str) -> bytes:
    return named_event(
        "content_block_start",
        f'{{"type":"content_block_start","index":{index},"content_block":{block}}}',
    )


def _block_stop(index: int) -> bytes:
    return named_event("content_block_stop", f'{{"type":"content_block_stop","index":{index}}}')


_PING: Final = named_event("ping", '{"type":"ping"}')


def _anthropic_tool_chunks(index: int, call: ToolCall, has_previous: bool) -> list[bytes]:
    """A tool_use block: its start with the first piece of input JSON, then the others."""
    tool = _anthropic_tool(index, call)
    start = {"type": "tool_use", "id": tool["id"], "name": call.name, "input": {}}
    chunks = []
    for piece in chunk_text(json_str(tool["input"])):
        delta = {"type": "input_json_delta", "partial_json": piece}
        payload = {"type": "content_block_delta", "index": index, "delta": delta}
        chunks.append(named_event("content_block_delta", json_str(payload)))
    previous = _block_stop(index - 1) if has_previous else b""
    chunks[0] = previous + _block_start(index, json_str(start)) + chunks[0]
    return chunks


def _anthropic_stream(
    model_json: str,
    pieces: Sequence[str] | int,
    tool_calls: Sequence[ToolCall],
    reason: str,
    usage: tuple[int, int],
) -> StreamParts:
    n_in, n_out = usage
    message = (
        f'{{"id":"msg_mock","type":"message","role":"assistant","model":{model_json},'
        f'"content":[],"stop_reason":null,"stop_sequence":null,'
        f'"usage":{{"input_tokens":{n_in},"output_tokens":1}}}}'
    )
    prelude = named_event("message_start", f'{{"type":"message_start","message":{message}}}')
    has_text = isinstance(pieces, int) or bool(pieces)
    if has_text:
        prelude += _block_start(0, '{"type":"text","text":""}')
    prelude += _PING
    if isinstance(pieces, int):
        tokens: Sequence[bytes] = _anthropic_default_chunks(pieces)
    else:
        tokens = [_text_delta(p) for p in pieces]
    first = 1 if has_text else 0
    if tool_calls:
        tokens = [*tokens]
        for i, call in enumerate(tool_calls):
            tokens += _anthropic_tool_chunks(first + i, call, has_text or i > 0)
    last_block = first + len(tool_calls) - 1
    tail = (
        _block_stop(last_block)
        + named_event(
            "message_delta",
            f'{{"type":"message_delta","delta":{{"stop_reason":{reason},"stop_sequence":null}},'
            f'"usage":{{"output_tokens":{n_out}}}}}',
        )
        + named_event("message_stop", '{"type":"message_stop"}')
    )
    return StreamParts(prelude, tokens, tail)


# -- embeddings -----------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _vector(key: str, dim: int) -> tuple[float, ...]:
    rng = random.Random(zlib.crc32(key.encode()))
    values = [rng.uniform(-1.0, 1.0) for _ in range(dim)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return tuple(v / norm for v in values)


def _embedding(index: int, key: str, dim: int, as_base64: bool) -> str:
    vector = _vector(key, dim)
    if as_base64:
        packed = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
        value = f'"{packed}"'
    else:
        value = json_str(vector)
    return f'{{"object":"embedding","index":{index},"embedding":{value}}}'


def embeddings_body(
    model_json: str, body: Mapping[str, Any], default_dim: int
) -> tuple[bytes, int]:
    """The embeddings answer and its input tokens. Vectors are deterministic per input."""
    raw = body.get("input", "")
    inputs: list[Any] = (
        raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
    )
    dim = body.get("dimensions") or default_dim
    dim = dim if isinstance(dim, int) and dim > 0 else default_dim
    as_base64 = body.get("encoding_format") == "base64"
    keys = [item if isinstance(item, str) else json_str(item) for item in inputs]
    n_in = sum(len(key) // 4 + 1 for key in keys)
    data = ",".join(_embedding(i, key, dim, as_base64) for i, key in enumerate(keys))
    text = (
        f'{{"object":"list","data":[{data}],"model":{model_json},'
        f'"usage":{{"prompt_tokens":{n_in},"total_tokens":{n_in}}}}}'
    )
    return text.encode(), n_in
