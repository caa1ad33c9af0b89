"""The mock in other processes: ``serve(process=True)`` on uvicorn, replicas, the backlog."""

from __future__ import annotations

import json
import pickle
import select
import socket
import sys
from collections.abc import Iterator

import httpx
import psutil
import pytest

from pytest_agentperf.errors import MockConfigError, StateError
from pytest_agentperf.mockllm import Faults, Fixed, MockLLM
from pytest_agentperf.mockllm.counters import MockStats

from .clients import CHAT, MESSAGES


def server_processes() -> list[psutil.Process]:
    """This test process's spawned children (not multiprocessing's resource tracker)."""
    found = []
    for child in psutil.Process().children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


@pytest.fixture(autouse=True)
def _no_server_left() -> Iterator[None]:
    yield
    assert psutil.wait_procs(server_processes(), timeout=10)[1] == []


@pytest.mark.asyncio
async def test_the_server_process_answers_as_the_mock_and_its_stats_read_live() -> None:
    mock = MockLLM(output_tokens=5, seed=4)
    async with mock.serve(process=True) as url, httpx.AsyncClient(base_url=url) as client:
        assert url.startswith("http://127.0.0.1:")
        assert len(server_processes()) == 1
        answers = [(await client.post("/chat/completions", json=CHAT)).json() for _ in range(4)]
        assert {a["usage"]["completion_tokens"] for a in answers} == {5}
        stream = {**MESSAGES, "stream": True}
        async with client.stream("POST", "/messages", json=stream) as response:
            assert response.headers["transfer-encoding"] == "chunked"
            events = [line async for line in response.aiter_lines() if line.startswith("data:")]
        assert len(events) == 3 + 5 + 3
        live = mock.stats()  # read from the server process
        assert (live.calls, live.connections_opened, live.by_status) == (5, 1, {200: 5})
        mock.configure(output_tokens=2)  # reaches the server process
        again = (await client.post("/chat/completions", json=CHAT)).json()
        assert again["usage"]["completion_tokens"] == 2
        mock.reset_stats()
        assert mock.stats().calls == 0
        await client.post("/chat/completions", json=CHAT)
    assert mock.stats().calls == 1  # the server's last counters stay with the mock
    assert not server_processes()


@pytest.mark.asyncio
async def test_the_same_configuration_gives_the_same_answers_in_or_out_of_process() -> None:
    async def answers(process: bool) -> list[object]:
        mock = MockLLM(output_tokens=(2, 9), seed=11)
        async with mock.serve(process=process) as url, httpx.AsyncClient(base_url=url) as c:
            replies = [(await c.post("/chat/completions", json=CHAT)).json() for _ in range(5)]
        return [(r["choices"], r["usage"]) for r in replies]

    assert await answers(process=True) == await answers(process=False)


@pytest.mark.asyncio
async def test_faults_drop_the_connection_as_over_the_in_process_server() -> None:
    faults = Faults(connection_error=[0], disconnect=[1], timeout=[2], hang="50ms")
    mock = MockLLM(latency=Fixed("10ms"), faults=faults)
    async with mock.serve(process=True) as url, httpx.AsyncClient(base_url=url) as client:
        for _ in range(3):
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post("/chat/completions", json=CHAT)
        assert (await client.post("/chat/completions", json=CHAT)).status_code == 200
        stats = mock.stats()
    assert stats.faults == {"connection_error": 1, "disconnect": 1, "timeout": 1}
    assert stats.calls == 4


@pytest.mark.asyncio
async def test_stop_ends_the_server_process_and_a_dead_one_is_reported() -> None:
    mock = MockLLM()
    serving = mock.serve(process=True)
    await serving.__aenter__()
    (server,) = server_processes()
    server.kill()
    server.wait(10)
    with pytest.raises(StateError, match="server process is gone"):
        mock.stats()
    mock.stop()  # what the fixture does at teardown: nothing is left running
    await serving.__aexit__(None, None, None)
    assert not server_processes()


def test_without_uvicorn_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    with pytest.raises(MockConfigError, match=r"pytest-agentperf\[server\]"):
        MockLLM().serve(process=True)


def test_serve_refuses_a_bad_backlog() -> None:
    with pytest.raises(MockConfigError, match="backlog"):
        MockLLM().serve(backlog=0)


@pytest.mark.asyncio
async def test_the_listen_backlog_holds_500_connections_while_the_loop_is_busy() -> None:
    """asyncio's default backlog (100) drops connections beyond it while the server's loop
    is busy; serve() listens with a backlog of 4096. The loop is blocked here (nothing is
    awaited), so no connection is accepted: the kernel's queue alone must hold all 500."""
    mock = MockLLM()
    async with mock.serve() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        sockets = [socket.socket() for _ in range(500)]
        try:
            for s in sockets:
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
            _, writable, _ = select.select([], sockets, [], 2.0)
            connected = [
                s for s in writable if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            ]
            assert len(connected) == 500
        finally:
            for s in sockets:
                s.close()


def test_a_replica_is_picklable_and_builds_the_same_mock_with_its_seed() -> None:
    mock = MockLLM(latency=Fixed("7ms"), output_tokens=3, seed=1, hosts=["api.example.com"])
    replica = pickle.loads(pickle.dumps(mock.replica(seed=99)))
    copy = replica()
    assert copy.settings.seed == 99
    assert copy.settings.latency == mock.settings.latency
    assert copy.settings.output_tokens == 3
    assert copy.hosts == mock.hosts
    assert copy.base_url == mock.base_url


def test_absorb_adds_another_processs_counters() -> None:
    mock = MockLLM()
    worker = MockStats(
        calls=10,
        by_status={200: 9, 429: 1},
        peak_concurrency=4,
        injected_latency_total=0.45,
        mean_injected_latency=0.05,
        faults={"rate_limit": 1},
        connections_opened=2,
        harness_cpu=0.5,
        unattributed_tokens={"gpt-4o": (100, 20)},
    )
    mock.absorb(worker)
    mock.absorb(worker)
    stats = mock.stats()
    assert (stats.calls, stats.by_status, stats.faults) == (
        20,
        {200: 18, 429: 2},
        {"rate_limit": 2},
    )
    assert stats.injected_latency_total == pytest.approx(0.9)
    assert stats.mean_injected_latency == pytest.approx(0.05)  # 0.9 s over 18 latency calls
    assert stats.peak_concurrency == 8
    assert stats.harness_cpu == 0.0  # another process's CPU is not this process's harness
    assert stats.unattributed_tokens == {"gpt-4o": (200, 40)}
    assert json.loads(json.dumps(stats.to_dict()))["calls"] == 20
