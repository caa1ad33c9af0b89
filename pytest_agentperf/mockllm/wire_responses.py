"""The OpenAI Responses API (``POST /v1/responses``): the response object and its SSE events.

The streamed sequence is the one the API sends and the openai SDK's ``responses.stream()``
accumulates (``ResponseStreamState``), each event named and numbered
(``sequence_number`` from 0)::

    response.created, response.in_progress
    message:        response.output_item.added, response.content_part.added,
                    response.output_text.delta x N, response.output_text.done,
                    response.content_part.done, response.output_item.done
    function call:  response.output_item.added, response.function_call_arguments.delta x K,
                    response.function_call_arguments.done, response.output_item.done
    response.completed (or response.incomplete when max_output_tokens cut the answer)

As for chat completions, the default text's deltas are cached, so an unscripted stream
costs a few formatted numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final

from pytest_agentperf.mockllm.replies import ToolCall, default_text
from pytest_agentperf.mockllm.sse import named_event
from pytest_agentperf.mockllm.wire import CREATED, StreamParts, json_str

__all__ = ["responses_body", "responses_stream"]

_MESSAGE_ID: Final = "msg_mock"
_TEXT_START: Final = 4  # created, in_progress, output_item.added, content_part.added


def _call_id(index: int, call: ToolCall) -> str:
    return call.id or f"call_mock_{index}"


def _usage(usage: tuple[int, int]) -> str:
    n_in, n_out = usage
    return (
        f'{{"input_tokens":{n_in},"input_tokens_details":{{"cached_tokens":0}},'
        f'"output_tokens":{n_out},"output_tokens_details":{{"reasoning_tokens":0}},'
        f'"total_tokens":{n_in + n_out}}}'
    )


def _response(model_json: str, status: str, output: str, usage: str, incomplete: bool) -> str:
    details = '{"reason":"max_output_tokens"}' if incomplete else "null"
    return (
        f'{{"id":"resp_mock","object":"response","created_at":{CREATED},"status":"{status}",'
        f'"error":null,"incomplete_details":{details},"instructions":null,'
        f'"max_output_tokens":null,"model":{model_json},"output":[{output}],'
        '"parallel_tool_calls":true,"previous_response_id":null,"reasoning":null,'
        '"store":false,"temperature":1.0,"text":{"format":{"type":"text"}},'
        f'"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{usage},'
        '"user":null,"metadata":{}}'
    )


def _message(text_json: str, status: str = "completed") -> str:
    content = (
        f'[{{"type":"output_text","text":{text_json},"annotations":[],"logprobs":[]}}]'
        if text_json
        else "[]"
    )
    return (
        f'{{"id":"{_MESSAGE_ID}","type":"message","status":"{status}","role":"assistant",'
        f'"content":{content}}}'
    )


def _function_call(index: int, call: ToolCall, arguments: str, status: str) -> str:
    return (
        f'{{"id":"fc_mock_{index}","type":"function_call","status":"{status}",'
        f'"call_id":{json_str(_call_id(index, call))},"name":{json_str(call.name)},'
        f'"arguments":{json_str(arguments)}}}'
    )


@lru_cache(maxsize=256)
def _default_text_json(tokens: int) -> str:
    return json_str("".join(default_text(tokens)))


def _text_json(pieces: Sequence[str] | int) -> str:
    """The answer's text as JSON, or "" when there is none."""
    if isinstance(pieces, int):
        return _default_text_json(pieces)
    return json_str("".join(pieces)) if pieces else ""


def responses_body(
    model_json: str,
    pieces: Sequence[str] | int,
    tool_calls: Sequence[ToolCall],
    finish: str,
    usage: tuple[int, int],
) -> bytes:
    """A complete (non-streaming) response object."""
    text_json = _text_json(pieces)
    items = [_message(text_json)] if text_json else []
    items += [
        _function_call(i, call, call.arguments_json, "completed")
        for i, call in enumerate(tool_calls)
    ]
    incomplete = finish == "length"
    status = "incomplete" if incomplete else "completed"
    return _response(model_json, status, ",".join(items), _usage(usage), incomplete).encode()


# -- streaming ------------------------------------------------------------------------------


def _event(kind: str, sequence: int, fields: str) -> bytes:
    return named_event(kind, f'{{"type":"{kind}","sequence_number":{sequence},{fields}}}')


def _text_delta(sequence: int, piece: str) -> bytes:
    return _event(
        "response.output_text.delta",
        sequence,
        f'"item_id":"{_MESSAGE_ID}","output_index":0,"content_index":0,'
        f'"delta":{json_str(piece)},"logprobs":[]',
    )


@lru_cache(maxsize=256)
def _default_deltas(tokens: int) -> tuple[bytes, ...]:
    return tuple(_text_delta(_TEXT_START + i, p) for i, p in enumerate(default_text(tokens)))


class _Stream:
    """Builds the event sequence, numbering events as it goes."""

    def __init__(self, model_json: str) -> None:
        self.model_json = model_json
        self.sequence = 0

    def event(self, kind: str, fields: str) -> bytes:
        event = _event(kind, self.sequence, fields)
        self.sequence += 1
        return event

    def lifecycle(self, kind: str, status: str, output: str, usage: str, cut: bool) -> bytes:
        response = _response(self.model_json, status, output, usage, cut)
        return self.event(kind, f'"response":{response}')

    def text(self, pieces: Sequence[str] | int) -> tuple[bytes, list[bytes], bytes]:
        """(the message's opening events, one delta per token, its closing events)."""
        opening = self.event(
            "response.output_item.added",
            f'"output_index":0,"item":{_message("", "in_progress")}',
        ) + self.event(
            "response.content_part.added",
            f'"item_id":"{_MESSAGE_ID}","output_index":0,"content_index":0,'
            '"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}',
        )
        if isinstance(pieces, int):
            deltas = list(_default_deltas(pieces))
        else:
            deltas = [_text_delta(self.sequence + i, p) for i, p in enumerate(pieces)]
        self.sequence += len(deltas)
        text_json = _text_json(pieces)
        part = f'{{"type":"output_text","text":{text_json},"annotations":[],"logprobs":[]}}'
        where = f'"item_id":"{_MESSAGE_ID}","output_index":0,"content_index":0'
        closing = (
            self.event("response.output_text.done", f'{where},"text":{text_json},"logprobs":[]')
            + self.event("response.content_part.done", f'{where},"part":{part}')
            + self.event(
                "response.output_item.done", f'"output_index":0,"item":{_message(text_json)}'
            )
        )
        return opening, deltas, closing

    def call(self, output_index: int, index: int, call: ToolCall) -> list[bytes]:
        """A function call: its item and first argument piece, then one piece per token."""
        item_id = f'"item_id":"fc_mock_{index}","output_index":{output_index}'
        opened = _function_call(index, call, "", "in_progress")
        chunks = [
            self.event(
                "response.output_item.added", f'"output_index":{output_index},"item":{opened}'
            )
        ]
        pieces = call.argument_pieces
        for number, piece in enumerate(pieces):
            delta = self.event(
                "response.function_call_arguments.delta", f'{item_id},"delta":{json_str(piece)}'
            )
            if number == 0:
                chunks[0] += delta
            else:
                chunks.append(delta)
        arguments = call.arguments_json
        done = _function_call(index, call, arguments, "completed")
        chunks[-1] += self.event(
            "response.function_call_arguments.done", f'{item_id},"arguments":{json_str(arguments)}'
        ) + self.event("response.output_item.done", f'"output_index":{output_index},"item":{done}')
        return chunks


def responses_stream(
    model_json: str,
    pieces: Sequence[str] | int,
    tool_calls: Sequence[ToolCall],
    finish: str,
    usage: tuple[int, int],
) -> StreamParts:
    """The streamed response: lifecycle events around the message's and calls' events."""
    stream = _Stream(model_json)
    prelude = stream.lifecycle("response.created", "in_progress", "", "null", False)
    prelude += stream.lifecycle("response.in_progress", "in_progress", "", "null", False)
    has_text = isinstance(pieces, int) or bool(pieces)
    tokens: list[bytes] = []
    closing = b""
    if has_text:
        opening, tokens, closing = stream.text(pieces)
        prelude += opening
    first = 1 if has_text else 0
    for index, call in enumerate(tool_calls):
        chunks = stream.call(first + index, index, call)
        chunks[0] = closing + chunks[0]
        closing = b""
        tokens += chunks
    body = responses_body(model_json, pieces, tool_calls, finish, usage)
    response: Any = body.decode()
    incomplete = finish == "length"
    kind = "response.incomplete" if incomplete else "response.completed"
    tail = closing + stream.event(kind, f'"response":{response}')
    return StreamParts(prelude, tokens, tail)
