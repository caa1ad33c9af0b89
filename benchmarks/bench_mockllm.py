"""What the mock LLM costs on the measured hot path.

    python benchmarks/bench_mockllm.py [--calls N] [--rss-calls N]

1. Per-call cost, transport mode vs a bare ``httpx.MockTransport`` handler returning the same
   body, measured in the same run (interleaved rounds, medians): target <= 1.1x.
2. The same for respx patching: target <= 2.5x. (And httpx2 vs ``httpx2.MockTransport``.)
   The zero-change httpx2 interception (a client built with no transport, the mock
   started) vs the injected ``httpx2_transport()``: target <= 1.2x.
3. RSS growth over 100k calls through respx after a warm-up: target <= 5 MB.
4. 100 concurrent calls with Fixed(20ms): client-side p50 within 2 ms of 20 ms.

Costs are CPU time per call (``time.process_time``), in many short interleaved rounds, so
other processes on a shared machine move the figures little; ratios measured in one run are
the ones to trust.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
import httpx2
import psutil

from pytest_agentperf.mockllm import Fixed, MockLLM
from pytest_agentperf.mockllm.core import Incoming

REQUEST = {"model": "gpt-bench", "messages": [{"role": "user", "content": "Hello, benchmark"}]}
PATH = "/chat/completions"

Post = Callable[[], Awaitable[object]]


async def per_call(post: Post, calls: int) -> float:
    """Mean CPU seconds per call over ``calls`` sequential calls.

    The process's CPU time, not the wall clock: on a shared machine, time spent waiting for
    a core would otherwise land on whichever variant happened to run then.
    """
    start = time.process_time()
    for _ in range(calls):
        await post()
    return (time.process_time() - start) / calls


async def interleaved(
    variants: dict[str, Post], calls: int, rounds: int, patched: set[str], mock: MockLLM
) -> dict[str, float]:
    """Median per-call cost of each variant, rounds interleaved A B C A B C ...

    Patching reaches every client, so the mock is started only for the ``patched`` variants'
    rounds.
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(rounds + 1):
        for name, post in variants.items():
            if name in patched:
                mock.start()
            try:
                cost = await per_call(post, calls if round_ else 200)  # round 0: warm-up
            finally:
                mock.stop()
            if round_:
                samples[name].append(cost)
    return {name: statistics.median(values) for name, values in samples.items()}


async def bench_cost(calls: int, rounds: int) -> None:
    mock = MockLLM()
    async with httpx.AsyncClient(transport=mock.httpx_transport()) as probe:
        body = (await probe.post(mock.base_url + PATH, json=REQUEST)).content
    headers = {"content-type": "application/json"}

    def bare(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=body)

    core = mock._core  # the front ends' core, reached here to time it in a client's path

    def bare_and_core(request: httpx.Request) -> httpx.Response:
        # the bare handler plus the mock's core work: what that work costs inside a client
        plan = core.plan(Incoming(request.method, request.url.path, request.content, {}), 0.0)
        core.finish(plan, 0.0)
        return httpx.Response(200, headers=headers, content=plan.body)

    def bare2(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=headers, content=body)

    url = mock.base_url
    bare_c = httpx.AsyncClient(transport=httpx.MockTransport(bare), base_url=url)
    core_c = httpx.AsyncClient(transport=httpx.MockTransport(bare_and_core), base_url=url)
    mock_c = httpx.AsyncClient(transport=mock.httpx_transport(), base_url=url)
    respx_c = httpx.AsyncClient(base_url=url)
    bare2_c = httpx2.AsyncClient(transport=httpx2.MockTransport(bare2), base_url=url)
    mock2_c = httpx2.AsyncClient(transport=mock.httpx2_transport(), base_url=url)
    intercepted_c = httpx2.AsyncClient(base_url=url)
    try:
        medians = await interleaved(
            {
                "bare httpx.MockTransport": lambda: bare_c.post(PATH, json=REQUEST),
                "bare + the mock's core": lambda: core_c.post(PATH, json=REQUEST),
                "mock httpx_transport()": lambda: mock_c.post(PATH, json=REQUEST),
                "mock respx patching": lambda: respx_c.post(PATH, json=REQUEST),
                "bare httpx2.MockTransport": lambda: bare2_c.post(PATH, json=REQUEST),
                "mock httpx2_transport()": lambda: mock2_c.post(PATH, json=REQUEST),
                "mock httpx2 interception": lambda: intercepted_c.post(PATH, json=REQUEST),
            },
            calls,
            rounds,
            {"mock respx patching", "mock httpx2 interception"},
            mock,
        )
    finally:
        for client in (bare_c, core_c, mock_c, respx_c):
            await client.aclose()
        for client2 in (bare2_c, mock2_c, intercepted_c):
            await client2.aclose()
    base, base2 = medians["bare httpx.MockTransport"], medians["bare httpx2.MockTransport"]
    print(f"per-call cost, median of {rounds} interleaved rounds x {calls} calls:")
    for name, seconds in medians.items():
        ratio = seconds / (base2 if "httpx2" in name else base)
        print(f"  {name:<28} {seconds * 1e6:7.1f} us  {ratio:4.2f}x")
    transport2 = medians["mock httpx2_transport()"]
    print(
        f"  targets: transport <= 1.1x ({medians['mock httpx_transport()'] / base:.2f}x), "
        f"respx <= 2.5x ({medians['mock respx patching'] / base:.2f}x), "
        f"httpx2 interception <= 1.2x of httpx2_transport() "
        f"({medians['mock httpx2 interception'] / transport2:.2f}x)"
    )


def bench_core_alone(calls: int = 20_000) -> None:
    """The mock's own work per call (plan and finish) on prebuilt requests, out of any client.

    Beside the per-call cost above it shows how much of the mock's share is its own code
    and how much is that code running inside a client's call path (colder caches).
    """
    mock = MockLLM()
    core = mock._core  # the front ends' core, reached here to time it alone
    requests = [httpx.Request("POST", mock.base_url + PATH, json=REQUEST) for _ in range(calls)]
    incoming = [Incoming(r.method, r.url.path, r.content, r.headers) for r in requests]
    for request in incoming[:1000]:  # warm-up
        core.finish(core.plan(request, 0.0), 0.0)
    start = time.process_time()
    for request in incoming:
        core.finish(core.plan(request, 0.0), 0.0)
    alone = (time.process_time() - start) / calls
    print(f"the mock's core alone (plan + finish, prebuilt requests): {alone * 1e6:.1f} us/call")


async def bench_rss(calls: int) -> None:
    process = psutil.Process()
    async with MockLLM() as mock, httpx.AsyncClient(base_url=mock.base_url) as client:
        for _ in range(5000):
            await client.post(PATH, json=REQUEST)
        gc.collect()
        before = process.memory_info().rss
        start = time.perf_counter()
        for _ in range(calls):
            await client.post(PATH, json=REQUEST)
        elapsed = time.perf_counter() - start
        gc.collect()
        grown = process.memory_info().rss - before
    print(
        f"RSS growth over {calls:,} respx-patched calls after warm-up: "
        f"{grown / 2**20:+.2f} MiB (target <= 5 MiB; {elapsed / calls * 1e6:.0f} us/call); "
        f"router history: {len(mock.router.calls)} calls"
    )


async def bench_concurrency(concurrency: int, rounds: int) -> None:
    mock = MockLLM(latency=Fixed("20ms"))
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    transport = mock.httpx_transport()
    async with httpx.AsyncClient(transport=transport, base_url=mock.base_url, limits=limits) as c:

        async def timed() -> float:
            start = time.perf_counter()
            await c.post(PATH, json=REQUEST)
            return time.perf_counter() - start

        await asyncio.gather(*(timed() for _ in range(concurrency)))  # warm-up
        latencies: list[float] = []
        for _ in range(rounds):
            latencies += await asyncio.gather(*(timed() for _ in range(concurrency)))
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(
        f"{concurrency} concurrent calls, Fixed(20ms), {rounds} rounds: client p50 "
        f"{p50 * 1e3:.2f} ms (target 20 +/- 2 ms, off by {(p50 - 0.020) * 1e3:+.2f} ms), "
        f"p99 {p99 * 1e3:.2f} ms, peak concurrency {mock.stats().peak_concurrency}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per round (cost)")
    parser.add_argument("--rounds", type=int, default=41, help="interleaved rounds (cost)")
    parser.add_argument("--rss-calls", type=int, default=100_000, help="calls for RSS growth")
    args = parser.parse_args()
    print(f"machine: {psutil.cpu_count()} CPUs, load {psutil.getloadavg()[0]:.2f} (preliminary)")
    asyncio.run(bench_cost(args.calls, args.rounds))
    bench_core_alone()
    asyncio.run(bench_concurrency(100, 10))
    asyncio.run(bench_rss(args.rss_calls))


if __name__ == "__main__":
    main()
