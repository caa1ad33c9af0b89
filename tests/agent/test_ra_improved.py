"""ImprovedAgent end to end over httpx.MockTransport (and a loopback server for pools)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from ra_support import (
    BASE_URL,
    FakeClock,
    LoopbackLLM,
    completion,
    echo_handler,
    last_prompt,
    reply,
    sse,
)

from reference_agent import (
    CircuitOpenError,
    ImprovedAgent,
    LLMConnectionError,
    LLMResponseError,
    LLMStatusError,
    LLMTimeoutError,
    Task,
    TaskStatus,
    ToolError,
)


class Recorder:
    """A MockTransport handler that answers with ``respond`` and records requests."""

    def __init__(self, respond: Any = echo_handler) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> Any:
        self.requests.append(request)
        return self.respond(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def agent_for(handler: Recorder, clock: FakeClock | None = None, **overrides: Any) -> ImprovedAgent:
    clock = clock or FakeClock()
    overrides.setdefault("resource_sample_interval", None)
    return ImprovedAgent(
        transport=handler.transport(),
        base_url=BASE_URL,
        clock=clock,
        sleep=clock.sleep,
        **overrides,
    )


@pytest.mark.asyncio
async def test_plain_completion_goes_to_the_openai_endpoint() -> None:
    handler = Recorder()
    async with agent_for(handler, api_key="sk-test", model="m1") as agent:
        result = await agent.run("hello")
    assert result.value == "echo:hello"
    request = handler.requests[0]
    assert str(request.url) == "http://llm.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.content)
    assert body == {"model": "m1", "messages": [{"role": "user", "content": "hello"}]}


@pytest.mark.asyncio
async def test_payload_dict_carries_messages_and_options() -> None:
    handler = Recorder()
    async with agent_for(handler) as agent:
        payload = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "model": "o"}
        assert (await agent.run(payload)).value == "echo:x"
        bad = await agent.run({"nothing": 1})
        wrong = await agent.run(3.5)
    body = json.loads(handler.requests[0].content)
    assert (body["max_tokens"], body["model"]) == (5, "o")
    assert bad.status is TaskStatus.FAILED
    assert "needs 'messages'" in str(bad.error)
    assert isinstance(wrong.error, TypeError)


@pytest.mark.asyncio
async def test_streaming_parses_sse_and_records_time_to_first_token() -> None:
    handler = Recorder(lambda request: sse(["hel", "lo", " world"]))
    async with agent_for(handler, stream=True) as agent:
        result = await agent.run("hi")
    assert result.value == "hello world"
    assert json.loads(handler.requests[0].content)["stream"] is True
    assert result.timings is not None
    assert result.timings.first_token is not None
    assert result.timings.ttft is not None
    assert 0 <= result.timings.ttft <= result.timings.service_time  # type: ignore[operator]


@pytest.mark.asyncio
async def test_a_stream_reporting_an_error_fails_the_task() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'data: {"error": {"message": "boom"}}\n\n')

    async with agent_for(Recorder(broken), stream=True) as agent:
        result = await agent.run("hi")
    assert isinstance(result.error, LLMResponseError)
    assert "boom" in str(result.error)


def tool_reply(name: str, arguments: dict[str, Any]) -> httpx.Response:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
    return httpx.Response(200, json=completion("", tool_calls=[call]))


@pytest.mark.asyncio
async def test_tool_call_loop_calls_the_tool_and_the_llm_again() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        messages = json.loads(request.content)["messages"]
        if messages[-1]["role"] == "tool":
            return reply("weather is " + messages[-1]["content"])
        return tool_reply("weather", {"city": "Oslo"})

    async def weather(city: str) -> str:
        return f"cold in {city}"

    handler = Recorder(respond)
    async with agent_for(handler, tools={"weather": weather}) as agent:
        result = await agent.run("weather?")
    assert result.value == "weather is cold in Oslo"
    assert len(handler.requests) == 2
    second = json.loads(handler.requests[1].content)["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool"]


@pytest.mark.asyncio
async def test_tool_call_loop_is_bounded_and_unknown_tools_fail() -> None:
    handler = Recorder(lambda request: tool_reply("weather", {}))
    async with agent_for(handler, tools={"weather": lambda: "x"}, max_tool_rounds=2) as agent:
        endless = await agent.run("a")
    assert isinstance(endless.error, ToolError)
    assert len(handler.requests) == 3
    other = Recorder(lambda request: tool_reply("missing", {}))
    async with agent_for(other, tools={"weather": lambda: "x"}) as agent:
        unknown = await agent.run("a")
    assert "not registered" in str(unknown.error)


@pytest.mark.asyncio
async def test_server_errors_are_retried_with_backoff_and_counted() -> None:
    answers = [reply(status=503), reply(status=429, **{"Retry-After": "1.5"}), reply("fine")]
    handler = Recorder(lambda request: answers.pop(0))
    clock = FakeClock()
    async with agent_for(handler, clock, retry_attempts=3, seed=3) as agent:
        result = await agent.run("x")
        stats = agent.statistics()
    assert result.value == "fine"
    assert len(handler.requests) == 3
    assert clock.sleeps[1] == 1.5
    assert 0 <= clock.sleeps[0] <= 0.1
    assert stats.retries == 2


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("raise_or_answer", "error_type", "calls"),
    [
        (lambda r: reply(status=400), LLMStatusError, 1),
        (lambda r: httpx.Response(200, content=b"not json"), LLMResponseError, 1),
        (
            lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
            LLMConnectionError,
            3,
        ),
        (lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)), LLMTimeoutError, 3),
        (
            lambda r: (_ for _ in ()).throw(httpx.RemoteProtocolError("gone", request=r)),
            LLMConnectionError,
            1,
        ),
    ],
)
async def test_httpx_errors_are_mapped_and_only_retryable_ones_retried(
    raise_or_answer: Any, error_type: type[Exception], calls: int
) -> None:
    handler = Recorder(raise_or_answer)
    async with agent_for(handler, retry_attempts=3, breaker_enabled=False) as agent:
        result = await agent.run("x")
    assert type(result.error) is error_type
    assert isinstance(result.error.__cause__, httpx.HTTPError | ValueError | type(None))
    assert len(handler.requests) == calls


@pytest.mark.asyncio
async def test_breaker_opens_and_fails_fast_then_health_says_so() -> None:
    handler = Recorder(lambda request: reply(status=500))
    clock = FakeClock()
    overrides = {"retry_attempts": 1, "breaker_min_calls": 4, "breaker_window": 4, "concurrency": 1}
    async with agent_for(handler, clock, **overrides) as agent:
        first = [await agent.run(f"p{i}") for i in range(4)]
        fast = await agent.run("p-fast")
        health = agent.health_check()
        stats = agent.statistics()
        clock.advance(10.0)
        handler.respond = echo_handler
        recovered = await agent.run("p-after")
    assert all(r.status is TaskStatus.FAILED for r in first)
    assert isinstance(fast.error, CircuitOpenError)
    assert len(handler.requests) == 5  # the fast failure made no call
    assert health.status == "unhealthy"
    assert "circuit breaker is open" in health.reasons
    assert stats.breaker_state == "open"
    assert stats.breaker_transitions == {"closed->open": 1}
    assert recovered.value == "echo:p-after"
    assert agent.breaker is not None
    assert agent.breaker.state.value == "closed"


def _pool_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.PoolTimeout("no connection free", request=request)


def breaker_state(agent: ImprovedAgent) -> str:
    """The breaker's state name, read through a call (so type checkers do not narrow it)."""
    assert agent.breaker is not None
    return agent.breaker.state.value


@pytest.mark.asyncio
async def test_a_half_open_probe_that_never_reached_the_upstream_cannot_close_the_breaker() -> None:
    handler = Recorder(lambda request: reply(status=500))
    clock = FakeClock()
    overrides = {"retry_attempts": 1, "breaker_min_calls": 4, "breaker_window": 4, "concurrency": 1}
    async with agent_for(handler, clock, **overrides) as agent:
        for i in range(4):
            await agent.run(f"p{i}")
        assert breaker_state(agent) == "open"
        clock.advance(10.0)
        handler.respond = _pool_timeout
        local = await agent.run("p-pool")  # the probe waited for a pooled connection
        assert isinstance(local.error, LLMTimeoutError)
        assert breaker_state(agent) == "half_open"  # neither closed nor reopened by it
        handler.respond = lambda request: reply(status=400)
        answered = await agent.run("p-400")  # the upstream answered: it is alive
        assert isinstance(answered.error, LLMStatusError)
        assert breaker_state(agent) == "closed"
        assert agent.statistics().breaker_transitions == {
            "closed->open": 1,
            "open->half_open": 1,
            "half_open->closed": 1,
        }


@pytest.mark.asyncio
async def test_local_failures_do_not_count_in_the_breaker_window() -> None:
    handler = Recorder(lambda request: reply(status=500))
    overrides = {"retry_attempts": 1, "breaker_min_calls": 4, "breaker_window": 4, "concurrency": 1}
    async with agent_for(handler, FakeClock(), **overrides) as agent:
        for i in range(3):
            await agent.run(f"fail{i}")
        handler.respond = _pool_timeout
        for i in range(3):  # would dilute the failure rate if counted as successes
            await agent.run(f"pool{i}")
        handler.respond = lambda request: reply(status=500)
        await agent.run("fail-last")
        assert breaker_state(agent) == "open"  # 4 failures of 4 counted calls


@pytest.mark.asyncio
async def test_stop_cuts_a_backoff_wait_short() -> None:
    handler = Recorder(lambda request: reply(status=503, **{"Retry-After": "30"}))
    clock = FakeClock()
    waiting = asyncio.Event()

    async def endless_sleep(delay: float) -> None:
        clock.sleeps.append(delay)
        waiting.set()
        await asyncio.Event().wait()  # a wait that would never end by itself

    agent = ImprovedAgent(
        transport=handler.transport(),
        base_url=BASE_URL,
        clock=clock,
        sleep=endless_sleep,
        retry_attempts=5,
        resource_sample_interval=None,
    )
    await agent.start()
    handle = await agent.submit("x")
    await waiting.wait()
    async with asyncio.timeout(30):  # a hang guard only: the stop itself takes no time
        await agent.stop(drain=True)
    result = await handle
    assert result.status is TaskStatus.FAILED
    assert result.error is not None
    assert "the agent is shutting down" in result.error.__notes__[-1]
    assert clock.sleeps == [30.0]
    assert len(handler.requests) == 1


@pytest.mark.asyncio
async def test_identical_concurrent_tasks_share_one_upstream_call() -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return echo_handler(request)

    handler = Recorder(slow)
    async with agent_for(handler, concurrency=20) as agent:
        handles = [await agent.submit("same") for _ in range(20)]
        for _ in range(5):
            await asyncio.sleep(0)
        release.set()
        results = [await h for h in handles]
        again = await agent.run("same")
        stats = agent.statistics()
    assert {r.value for r in results} == {"echo:same"}
    assert again.ok
    assert len(handler.requests) == 1
    assert (stats.cache_misses, stats.cache_coalesced, stats.cache_hits) == (1, 19, 1)
    assert stats.cache_hit_ratio == pytest.approx(20 / 21)


@pytest.mark.asyncio
async def test_attempt_and_task_timeouts_cancel_the_request_and_leave_nothing_behind() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    before = asyncio.all_tasks()
    async with agent_for(Recorder(hang), request_timeout=0.01, retry_attempts=1) as agent:
        attempt = await agent.run("a")
    async with agent_for(Recorder(hang), request_timeout=None) as agent:
        task = await agent.run(Task("b", timeout=0.01))
    assert isinstance(attempt.error, LLMTimeoutError)
    assert "attempt timeout" in str(attempt.error)
    assert task.status is TaskStatus.TIMED_OUT
    assert asyncio.all_tasks() - before == set()


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_cancellations_under_pool_contention_leave_the_pool_usable(backend: str) -> None:
    # Regression test for httpcore's slot leak on cancellation (see pool_reaper), and the
    # same for the aiohttp pool, whose slots are a semaphore released on every path.
    release = asyncio.Event()

    async def hold(prompt: str) -> None:
        if prompt.startswith("hold"):
            await release.wait()

    async with LoopbackLLM(hold) as server:
        agent = ImprovedAgent(
            base_url=server.base_url,
            concurrency=8,
            pool_max_connections=2,
            request_timeout=2.0,
            retry_attempts=1,
            resource_sample_interval=None,
            http_backend=backend,
        )
        async with agent:
            for round_ in range(3):
                held = [
                    await agent.submit(Task(f"hold-{round_}-{i}", timeout=0.02)) for i in range(8)
                ]
                held_results = [await h for h in held]
                after = await asyncio.gather(*[agent.run(f"ok-{round_}-{i}") for i in range(8)])
                assert {r.status for r in held_results} == {TaskStatus.TIMED_OUT}
                assert [r.value for r in after] == [f"echo:ok-{round_}-{i}" for i in range(8)]
            transport = agent.llm.client._transport  # type: ignore[attr-defined]
            if backend == "httpx":
                assert len(transport._pool.connections) <= 2
            else:
                assert transport.in_use == 0  # every slot came back
        release.set()


@pytest.mark.asyncio
async def test_pooled_client_reuses_connections() -> None:
    async with LoopbackLLM() as server:
        agent = ImprovedAgent(
            base_url=server.base_url, concurrency=4, resource_sample_interval=None
        )
        async with agent:
            results = await asyncio.gather(*[agent.run(f"p{i}") for i in range(40)])
    assert all(r.ok for r in results)
    assert server.requests == 40
    assert server.connections <= 4


def test_last_prompt_helper() -> None:
    request = httpx.Request("POST", BASE_URL, json={"messages": [{"content": "z"}]})
    assert last_prompt(request) == "z"


@pytest.mark.asyncio
async def test_sampled_requests_are_not_cached_unless_asked() -> None:
    def sampled(t: float) -> dict[str, Any]:
        return {"prompt": "same", "temperature": t}

    handler = Recorder()
    async with agent_for(handler) as agent:
        for _ in range(3):
            await agent.run(sampled(0.7))
        await agent.run(sampled(0))
        await agent.run(sampled(0))
        stats = agent.statistics()
    assert len(handler.requests) == 3 + 1  # every sampled one, one deterministic
    assert (stats.cache_misses, stats.cache_hits) == (1, 1)
    opted_in = Recorder()
    async with agent_for(opted_in, cache_sampled=True) as agent:
        for _ in range(3):
            await agent.run(sampled(0.7))
    assert len(opted_in.requests) == 1


@pytest.mark.asyncio
async def test_the_cache_key_ignores_option_order_and_stream() -> None:
    handler = Recorder(lambda request: sse(["x"]) if b'"stream"' in request.content else reply("x"))
    async with agent_for(handler) as agent:
        await agent.run({"prompt": "q", "max_tokens": 5, "top_p": 1})
        await agent.run({"top_p": 1, "max_tokens": 5, "prompt": "q"})
        await agent.run({"prompt": "q", "max_tokens": 5, "top_p": 1, "stream": True})
        await agent.run({"prompt": "q", "max_tokens": 6, "top_p": 1})
    assert len(handler.requests) == 2


@pytest.mark.asyncio
async def test_options_with_integer_keys_are_sent_as_json_does() -> None:
    handler = Recorder()
    async with agent_for(handler) as agent:
        result = await agent.run({"prompt": "q", "logit_bias": {50256: -100}})
    assert result.ok, result.error
    assert json.loads(handler.requests[0].content)["logit_bias"] == {"50256": -100}
