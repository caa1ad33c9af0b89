"""Zero-change interception: the SDKs built the default way reach the mock, nothing leaves."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator

import anthropic
import httpcore
import httpcore2
import httpx
import httpx2
import openai
import pytest
import pytest_asyncio
import respx

from pytest_agentperf.errors import MockConfigError
from pytest_agentperf.mockllm import MockLLM, intercept

from .clients import CHAT

USER: list[dict[str, str]] = [{"role": "user", "content": "Hello there"}]
ENV_NAMES = (
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "OPENAI_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_KEY",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own SDK variables would change what the mock sets."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest_asyncio.fixture
async def local_server() -> AsyncIterator[str]:
    """A real HTTP server on loopback that is not a mock: answers 'ok' to anything."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_sdk_clients_built_with_no_arguments_reach_the_mock() -> None:
    async with MockLLM(output_tokens=3) as mock:
        oai = openai.AsyncOpenAI()
        anth = anthropic.AsyncAnthropic()
        reply = await oai.chat.completions.create(model="gpt-4o-mini", messages=USER)  # type: ignore[arg-type]
        message = await anth.messages.create(model="claude", max_tokens=50, messages=USER)  # type: ignore[arg-type]
        response = await oai.responses.create(model="gpt-4o-mini", input="Hello")
        await oai.close()
        await anth.close()
    assert reply.choices[0].message.content == "The mock model"
    assert message.content[0].text == "The mock model"  # type: ignore[union-attr]
    assert response.output_text == "The mock model"
    stats = mock.stats()
    assert (stats.calls, stats.blocked, stats.not_found) == (3, {}, 0)
    assert stats.by_endpoint == {"/v1/chat/completions": 1, "/v1/messages": 1, "/v1/responses": 1}


@pytest.mark.asyncio
async def test_the_providers_real_hosts_are_mocked_whatever_the_transport() -> None:
    async with MockLLM() as mock:
        # explicit real hosts, a client with its own network transport, a sync client
        pinned = httpx2.AsyncClient(transport=httpx2.AsyncHTTPTransport(retries=1))
        oai = openai.AsyncOpenAI(base_url="https://api.openai.com/v1", http_client=pinned)
        await oai.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
        with httpx2.Client() as sync:
            assert sync.post("https://api.anthropic.com/v1/messages", json=CHAT).status_code == 200
        async with httpx.AsyncClient() as plain:
            answer = await plain.post("https://api.openai.com/v1/chat/completions", json=CHAT)
            assert answer.status_code == 200
        await oai.close()
    assert mock.stats().calls == 3


@pytest.mark.asyncio
async def test_a_client_on_another_mocks_transport_keeps_it() -> None:
    other = MockLLM()
    async with MockLLM() as mock, httpx2.AsyncClient(transport=other.httpx2_transport()) as c:
        assert (await c.post(f"{mock.base_url}/chat/completions", json=CHAT)).status_code == 200
    assert (mock.stats().calls, other.stats().calls) == (0, 1)


async def get(flavour: str, url: str) -> object:
    """GET ``url`` with one client flavour."""
    if flavour == "httpx":
        async with httpx.AsyncClient() as client:
            return await client.get(url)
    if flavour == "httpx2":
        async with httpx2.AsyncClient() as client2:
            return await client2.get(url)
    if flavour == "httpx2-sync":
        return await asyncio.to_thread(lambda: httpx2.Client().get(url))
    return await asyncio.to_thread(lambda: httpx.Client().get(url))


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", ["httpx", "httpx2", "httpx2-sync", "httpx-sync"])
async def test_unmocked_hosts_fail_fast_naming_the_host(flavour: str) -> None:
    url = "https://tools.example.com:8443/search"
    async with MockLLM() as mock:
        with pytest.raises((httpx.ConnectError, httpx2.ConnectError)) as caught:
            await get(flavour, url)
    message = str(caught.value)
    assert "tools.example.com:8443" in message
    assert "hosts" in message
    assert "allow" in message
    assert mock.stats().blocked == {"tools.example.com:8443": 1}
    assert mock.stats().calls == 0


@pytest.mark.asyncio
async def test_an_sdk_pointed_at_an_unmocked_gateway_is_blocked_and_counted() -> None:
    async with MockLLM() as mock:
        sdk = openai.AsyncOpenAI(base_url="https://gateway.corp.example/v1", max_retries=0)
        with pytest.raises(openai.APIConnectionError) as caught:
            await sdk.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
        await sdk.close()
    assert "gateway.corp.example" in str(caught.value.__cause__)
    assert mock.stats().blocked == {"gateway.corp.example": 1}


@pytest.mark.asyncio
async def test_allowed_hosts_reach_the_network(local_server: str) -> None:
    async with MockLLM(allow=[local_server]) as mock, httpx.AsyncClient() as client:
        answer = await client.get(f"http://{local_server}/health")
        async with httpx2.AsyncClient() as client2:
            answer2 = await client2.get(f"http://{local_server}/health")
    assert (answer.text, answer2.text) == ("ok", "ok")
    assert mock.stats().blocked == {}
    assert mock.allow == (local_server,)


@pytest.mark.asyncio
async def test_in_process_transports_are_left_alone() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="in-process")

    def handler2(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, text="in-process")

    async with MockLLM() as mock:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            assert (await client.get("http://tools.internal/x")).text == "in-process"
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler2)) as client2:
            assert (await client2.get("http://tools.internal/x")).text == "in-process"
    assert mock.stats().blocked == {}


@pytest.mark.asyncio
@pytest.mark.parametrize("using", ["httpcore", "httpx"])
async def test_a_users_respx_routes_still_answer_their_hosts(using: str) -> None:
    async with MockLLM() as mock, respx.mock(assert_all_called=False, using=using) as router:
        router.get("https://weather.example.com/today").respond(200, json={"sky": "clear"})
        async with httpx.AsyncClient() as client:
            weather = await client.get("https://weather.example.com/today")
            llm = await client.post(f"{mock.base_url}/chat/completions", json=CHAT)
    assert weather.json() == {"sky": "clear"}
    assert llm.status_code == 200
    assert mock.stats().calls == 1


# -- patches are restored -------------------------------------------------------------------


def _methods() -> list[object]:
    return [
        httpx2.AsyncClient.__dict__["_transport_for_url"],
        httpx2.Client.__dict__["_transport_for_url"],
        httpcore.AsyncHTTPConnection.__dict__["_connect"],
        httpcore.HTTPConnection.__dict__["_connect"],
        httpcore2.AsyncHTTPConnection.__dict__["_connect"],
        httpcore2.HTTPConnection.__dict__["_connect"],
    ]


def test_patches_are_restored_when_the_last_mock_stops() -> None:
    before = _methods()
    outer, inner = MockLLM(), MockLLM(base_url="http://127.0.0.2:9/v1")
    outer.start()
    inner.start()
    assert _methods() != before
    outer.stop()
    assert _methods() != before  # inner is still active
    inner.stop()
    assert _methods() == before
    assert intercept.active_interceptors() == ()


def test_a_patch_made_over_ours_is_not_torn_out() -> None:
    original = httpx2.Client.__dict__["_transport_for_url"]
    mock = MockLLM()
    mock.start()
    ours = httpx2.Client.__dict__["_transport_for_url"]

    def theirs(self: httpx2.Client, url: httpx2.URL) -> httpx2.BaseTransport:
        transport: httpx2.BaseTransport = ours(self, url)
        return transport

    httpx2.Client._transport_for_url = theirs  # type: ignore[method-assign]
    try:
        mock.stop()
        assert httpx2.Client.__dict__["_transport_for_url"] is theirs
        with httpx2.Client(transport=httpx2.MockTransport(lambda r: httpx2.Response(204))) as c:
            assert c.get("http://anything.example/").status_code == 204  # ours passes through
    finally:
        httpx2.Client._transport_for_url = original  # type: ignore[method-assign]


# -- environment ----------------------------------------------------------------------------


@contextlib.contextmanager
def mock_started(mock: MockLLM) -> Iterator[MockLLM]:
    mock.start()
    try:
        yield mock
    finally:
        mock.stop()


def test_env_is_set_while_active_and_removed_after() -> None:
    mock = MockLLM()
    with mock_started(mock):
        assert os.environ["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
        assert os.environ["OPENAI_API_BASE"] == "http://127.0.0.1:9/v1"
        assert os.environ["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
        assert os.environ["OPENAI_API_KEY"]
        assert os.environ["ANTHROPIC_API_KEY"]
    assert not any(name in os.environ for name in ENV_NAMES)


def test_env_never_overrides_what_the_test_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-own")
    mock = MockLLM()
    with mock_started(mock):
        assert os.environ["OPENAI_API_KEY"] == "sk-test-own"
        os.environ["OPENAI_BASE_URL"] = "http://changed.example/v1"  # changed during the test
    assert os.environ["OPENAI_API_KEY"] == "sk-test-own"
    assert os.environ.pop("OPENAI_BASE_URL") == "http://changed.example/v1"
    assert "ANTHROPIC_API_KEY" not in os.environ


def test_env_is_configurable() -> None:
    mock = MockLLM(
        base_url="http://gw.local:8080/llm/v1",
        env={"OPENAI_API_BASE": None, "AZURE_OPENAI_ENDPOINT": "{root}"},
    )
    assert mock.env["OPENAI_BASE_URL"] == "http://gw.local:8080/llm/v1"
    assert mock.env["AZURE_OPENAI_ENDPOINT"] == "http://gw.local:8080/llm"
    assert "OPENAI_API_BASE" not in mock.env
    assert MockLLM(env=False).env == {}


@pytest.mark.asyncio
async def test_hosts_are_configurable_for_gateways_and_azure() -> None:
    hosts = ["azure", "https://gateway.corp.example/v1"]
    async with MockLLM(hosts=hosts) as mock, httpx2.AsyncClient() as client:
        azure = "https://myres.openai.azure.com/openai/deployments/gpt/chat/completions"
        assert (await client.post(azure, json=CHAT)).status_code == 200
        gateway = "https://gateway.corp.example/v1/chat/completions"
        assert (await client.post(gateway, json=CHAT)).status_code == 200
        with pytest.raises(httpx2.ConnectError, match=r"api\.openai\.com"):
            await client.post("https://api.openai.com/v1/chat/completions", json=CHAT)
    assert mock.hosts == ("http://127.0.0.1:9/v1", *hosts)
    assert mock.stats().calls == 2


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"hosts": ["opneai"]}, r"hosts\[0\]='opneai'.*not a known provider"),
        ({"hosts": ["ftp://files.example.com"]}, r"hosts\[0\].*scheme 'ftp'"),
        ({"allow": ["localhost:99999"]}, r"allow\[0\].*port"),
        ({"allow": ["db.internal/path"]}, r"allow\[0\].*needs a scheme"),
        ({"allow": [""]}, r"allow\[0\].*empty"),
        ({"allow": 5}, r"allow=5 must be a list"),
        ({"env": {"OPENAI_BASEURL": "x"}}, r"misspelt OPENAI_BASE_URL"),
        ({"env": {"MY_VAR": None}}, r"MY_VAR is not one of the variables"),
        ({"env": {"X": "{port}"}}, r"\{port\}"),
        ({"env": "yes"}, r"env='yes' is not accepted"),
        ({"base_url": "localhost:8000"}, r"base_url='localhost:8000' is not accepted; use a URL"),
        ({"base_url": "https://api.*.com/v1"}, r"base_url='https://api\.\*\.com/v1'"),
    ],
)
def test_bad_hosts_allow_and_env_name_the_field(kwargs: dict[str, object], expected: str) -> None:
    with pytest.raises(MockConfigError, match=expected):
        MockLLM(**kwargs)  # type: ignore[arg-type]


# -- what the mock counts apart -------------------------------------------------------------


@pytest.mark.asyncio
async def test_trace_export_is_answered_and_counted_apart() -> None:
    async with MockLLM() as mock, httpx2.AsyncClient() as client:
        answer = await client.post("https://api.openai.com/v1/traces/ingest", json={"data": []})
    assert answer.status_code == 200
    assert (mock.stats().telemetry, mock.stats().calls) == (1, 0)


@pytest.mark.asyncio
async def test_unknown_routes_are_counted_by_route() -> None:
    async with MockLLM() as mock, httpx2.AsyncClient() as client:
        for _ in range(2):
            await client.get("https://api.openai.com/v1/models")
        await client.post("https://api.openai.com/v1/files", json={})
    assert mock.stats().not_found_by_route == {"GET /v1/models": 2, "POST /v1/files": 1}
