"""Fixtures for the mock LLM's tests: a mock and one client per way in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from pytest_agentperf.mockllm import MockLLM


@pytest.fixture
def mock() -> Iterator[MockLLM]:
    llm = MockLLM(output_tokens=5)
    yield llm
    llm.stop()


@pytest_asyncio.fixture
async def client(mock: MockLLM) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=mock.httpx_transport(), base_url=mock.base_url) as c:
        yield c
