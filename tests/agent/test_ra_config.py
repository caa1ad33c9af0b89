"""AgentConfig validation and the BaseAgent(config=None, **overrides) constructor."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from ra_support import GatedAgent

import reference_agent
from reference_agent import AgentConfig, AgentConfigError, ImprovedAgent, LegacyAgent


def test_public_names_are_sorted_and_exported() -> None:
    names = reference_agent.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(reference_agent, name), name


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("concurrency", 0, "an integer >= 1"),
        ("concurrency", True, "an integer >= 1"),
        ("concurrency", 2.5, "an integer >= 1"),
        ("max_pending", -1, "an integer >= 1"),
        ("admission_timeout", -0.1, "seconds >= 0 or None"),
        ("task_timeout", 0, "seconds > 0 or None"),
        ("base_url", "llm.local/v1", "an http:// or https:// URL"),
        ("transport", object(), "an httpx.AsyncBaseTransport or None"),
        ("retry_attempts", 0, "an integer >= 1"),
        ("retry_deadline", float("nan"), "seconds > 0 or None"),
        ("retry_after_cap", -1.0, "seconds >= 0"),
        ("retry_after_cap", None, "seconds >= 0"),
        ("breaker_failure_rate", 1.5, "a fraction in (0, 1]"),
        ("breaker_half_open_probes", 0, "an integer >= 1"),
        ("cache_ttl", 0, "seconds > 0"),
        ("cache_max_size", -5, "an integer >= 0"),
        ("model", "", "a non-empty string"),
    ],
)
def test_bad_config_raises_value_error_naming_field_value_and_accepted(
    field: str, value: Any, accepted: str
) -> None:
    with pytest.raises(ValueError, match=rf"AgentConfig\.{field} = ") as info:
        AgentConfig(**{field: value})
    assert repr(value) in str(info.value)
    assert accepted in str(info.value)
    assert isinstance(info.value, AgentConfigError)


def test_overrides_are_validated_too() -> None:
    with pytest.raises(ValueError, match=r"AgentConfig\.concurrency = -3"):
        ImprovedAgent(concurrency=-3)
    with pytest.raises(ValueError, match=r"AgentConfig\.max_pending"):
        LegacyAgent(AgentConfig(), max_pending=0)


def test_unknown_override_names_the_closest_field() -> None:
    with pytest.raises(TypeError, match="no field 'concurency'; did you mean 'concurrency'"):
        ImprovedAgent(concurency=3)


def test_config_forms_all_work() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    cfg = AgentConfig(concurrency=7, transport=transport)
    assert ImprovedAgent(cfg).config is cfg
    assert ImprovedAgent(cfg, concurrency=3).config.concurrency == 3
    assert ImprovedAgent({"concurrency": 4}).config.concurrency == 4
    assert ImprovedAgent(base_url="http://x/v1", concurrency=5).config.concurrency == 5
    assert GatedAgent().config == AgentConfig(resource_sample_interval=None)
    with pytest.raises(TypeError, match="config must be an AgentConfig"):
        ImprovedAgent(42)  # type: ignore[arg-type]


def test_to_dict_hides_the_key() -> None:
    data = AgentConfig(api_key="sk-secret").to_dict()
    assert data["api_key"] == "***"
    assert "sk-secret" not in str(data)
