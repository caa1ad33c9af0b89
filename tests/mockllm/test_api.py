"""The public surface: exports, configure(), lifecycle, statistics, bounded memory."""

from __future__ import annotations

import gc
import re

import httpx
import pytest

import pytest_agentperf.mockllm as mockllm
from pytest_agentperf.mockllm import Faults, Fixed, MockLLM, MockStats

from .clients import CHAT


def test_exports_are_sorted_and_present() -> None:
    assert mockllm.__all__ == sorted(mockllm.__all__)
    for name in ("MockLLM", "Faults", "MockStats", "Fixed", "Uniform", "Normal", "LogNormal"):
        assert name in mockllm.__all__
    for name in ("Empirical", "PerToken", "Script", "ToolCall", "Reply", "Outage"):
        assert hasattr(mockllm, name)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"latency": "slow"}, "configure(latency=...)"),
        ({"ttft": object()}, "configure(ttft="),
        ({"output_tokens": 0}, "configure(output_tokens="),
        ({"output_tokens": (5, 2)}, "configure(output_tokens="),
        ({"faults": 0.1}, "configure(faults="),
        ({"seed": "x"}, "configure(seed="),
        ({"replies": 3}, "configure(replies="),
        ({"embedding_dim": 0}, "configure(embedding_dim="),
    ],
)
def test_configure_rejects_bad_values_naming_them(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        MockLLM().configure(**kwargs)  # type: ignore[arg-type]


def test_configure_changes_only_what_is_given() -> None:
    mock = MockLLM(latency="20ms", output_tokens=7)
    mock.configure(seed=5)
    assert mock.settings.latency == Fixed(0.02)
    assert mock.settings.output_tokens == 7
    mock.configure(latency=None)
    assert mock.settings.latency is None


@pytest.mark.asyncio
async def test_async_context_manager_patches_and_unpatches() -> None:
    async with MockLLM() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        assert (await client.post("/chat/completions", json=CHAT)).status_code == 200
        assert "patching" in repr(llm)
    async with httpx.AsyncClient(base_url=llm.base_url) as client:
        with pytest.raises(httpx.ConnectError):  # nothing listens on the default port
            await client.post("/chat/completions", json=CHAT)
    llm.stop()  # safe twice


@pytest.mark.asyncio
async def test_stats_snapshot_is_frozen_and_resettable(
    mock: MockLLM, client: httpx.AsyncClient
) -> None:
    await client.post("/chat/completions", json=CHAT)
    await client.post("/embeddings", json={"model": "e", "input": "abc"})
    stats = mock.stats()
    assert isinstance(stats, MockStats)
    assert stats.calls == 2
    assert stats.by_endpoint == {"/v1/chat/completions": 1, "/v1/embeddings": 1}
    assert stats.tokens_out == 5
    assert stats.tokens_in >= 2
    assert stats.to_dict()["by_status"] == {"200": 2}
    with pytest.raises(AttributeError):
        stats.calls = 3  # type: ignore[misc]
    mock.reset_stats()
    assert mock.stats().calls == 0


@pytest.mark.asyncio
async def test_seed_makes_random_latency_reproducible(mock: MockLLM) -> None:
    from pytest_agentperf.mockllm import Uniform

    async def total(seed: int) -> float:
        mock.reset_stats()
        mock.configure(latency=Uniform("0ms", "2ms"), output_tokens=(1, 9), seed=seed)
        transport = mock.httpx_transport()
        async with httpx.AsyncClient(transport=transport, base_url=mock.base_url) as c:
            for _ in range(20):
                await c.post("/chat/completions", json=CHAT)
        return mock.stats().injected_latency_total + mock.stats().tokens_out

    assert await total(1) == await total(1)
    assert await total(1) != await total(2)


@pytest.mark.asyncio
async def test_memory_stays_bounded_under_respx(mock: MockLLM) -> None:
    mock.configure(faults=Faults(rate_limit=0.1))
    async with mock, httpx.AsyncClient(base_url=mock.base_url) as client:
        for _ in range(300):
            await client.post("/chat/completions", json=CHAT)
        gc.collect()
        before = len(gc.get_objects())
        for _ in range(3000):
            await client.post("/chat/completions", json=CHAT)
        gc.collect()
        grown = len(gc.get_objects()) - before
        mock.reset_history()
    assert len(mock.router.calls) == 0
    assert grown < 300  # respx's history alone would keep ~10 objects per call
