"""Client factories for the mock LLM's tests."""

from __future__ import annotations

import anthropic
import httpx2
import openai

from pytest_agentperf.mockllm import MockLLM

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Hello there"}]}
MESSAGES = {
    "model": "claude-test",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Hello there"}],
}


def openai_client(mock: MockLLM, base_url: str | None = None, **kw: object) -> openai.AsyncOpenAI:
    """An OpenAI SDK client on the httpx2 transport, or on a served URL."""
    http = httpx2.AsyncClient(transport=mock.httpx2_transport()) if base_url is None else None
    return openai.AsyncOpenAI(
        base_url=base_url or mock.base_url,
        api_key="test",
        http_client=http,
        max_retries=0,
        **kw,  # type: ignore[arg-type]
    )


def anthropic_client(
    mock: MockLLM, base_url: str | None = None, **kw: object
) -> anthropic.AsyncAnthropic:
    """An Anthropic SDK client on the httpx2 transport, or on a served URL."""
    http = httpx2.AsyncClient(transport=mock.httpx2_transport()) if base_url is None else None
    return anthropic.AsyncAnthropic(
        base_url=base_url or mock.base_url,
        api_key="test",
        http_client=http,
        max_retries=0,
        **kw,  # type: ignore[arg-type]
    )
