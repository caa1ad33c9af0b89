"""Helpers for the reference_agent tests: a fake clock, canned LLM replies, a tiny
loopback HTTP server (for real connection pools), and small agents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx

from reference_agent import BaseAgent, Task

BASE_URL = "http://llm.test/v1"


class FakeClock:
    """Monotonic seconds that move only when told; ``sleep`` advances them."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def completion(
    content: str = "ok", tool_calls: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"model": "m", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


def reply(content: str = "ok", status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=completion(content), headers=headers)


def sse(pieces: list[str]) -> httpx.Response:
    lines = [": comment", "event: message"]
    for piece in pieces:
        lines.append(
            "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]})
        )
    lines.append("data: [DONE]")
    body = "\n\n".join(lines) + "\n\n"
    return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


def echo_handler(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    return reply("echo:" + body["messages"][-1]["content"])


def last_prompt(request: httpx.Request) -> str:
    return str(json.loads(request.content)["messages"][-1]["content"])


class GatedAgent(BaseAgent):
    """Each task awaits the gate (an Event), then returns its payload; records the order
    in which tasks started and the peak number in flight."""

    def __init__(self, **overrides: Any) -> None:
        overrides.setdefault("resource_sample_interval", None)
        super().__init__(**overrides)
        self.gate = asyncio.Event()
        self.order: list[Any] = []
        self.in_flight = 0
        self.peak = 0
        self.cancelled = 0

    async def process_task(self, task: Task) -> Any:
        self.order.append(task.payload)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.gate.wait()
            return task.payload
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1


class LoopbackLLM:
    """A minimal HTTP/1.1 keep-alive server on 127.0.0.1 answering chat completions.

    ``hold`` (an async callable given each prompt) lets a test hold requests; ``connections``
    counts accepted TCP connections.
    """

    def __init__(self, hold: Callable[[str], Any] | None = None) -> None:
        self.hold = hold
        self.connections = 0
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self.base_url = ""

    async def __aenter__(self) -> LoopbackLLM:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for handler in self._handlers:
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        current = asyncio.current_task()
        assert current is not None
        self._handlers.add(current)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = json.loads(await reader.readexactly(length))
                self.requests += 1
                prompt = body["messages"][-1]["content"]
                if self.hold is not None:
                    await self.hold(prompt)
                data = json.dumps(completion("echo:" + prompt)).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(current)
            writer.close()
