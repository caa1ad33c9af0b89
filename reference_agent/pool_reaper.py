"""Reclaim the pool slots that httpcore 1.0.x leaks when a request is cancelled.

The bug (encode/httpcore#1093, also #658, #830; fix proposed in encode/httpcore#1099, merged
in httpcore2 as pydantic/httpx2#983): a request cancelled after the pool assigned it a new,
not yet connected connection leaves that connection in the pool. It is neither idle, closed
nor expired, and never available, so it holds a slot for good; once ``max_connections`` of
them pile up every request fails with ``PoolTimeout`` against a healthy server. Per-task
and per-attempt timeouts cancel requests all the time, so the agent must not leak here.

``reap_orphaned_connections`` runs only after a cancelled or timed-out attempt (never on
the hot path). It removes connections that were never connected and that no queued or
running request holds, then lets the pool hand the freed slots to waiting requests.

Which transports it concerns: only an httpcore pool, i.e. httpx's own transport
(``AgentConfig.http_backend="httpx"``, or an injected ``httpx.AsyncHTTPTransport``, which
the agent wraps in a ``BorrowedTransport``). The default aiohttp transport frees a
cancelled request's slot itself, and mocks have no pool: for them it finds no pool and
does nothing. It reads httpcore internals, so any mismatch (another httpcore version)
makes it a no-op as well.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["reap_orphaned_connections"]


def _pool_of(client: httpx.AsyncClient) -> Any:
    transport = getattr(client, "_transport", None)
    inner = getattr(transport, "transport", None)  # a BorrowedTransport's injected one
    if isinstance(inner, httpx.AsyncBaseTransport):
        transport = inner
    return getattr(transport, "_pool", None)


def _orphans(pool: Any) -> list[Any]:
    held = {id(request.connection) for request in pool._requests if request.connection}
    return [
        connection
        for connection in pool._connections
        if getattr(connection, "_connection", True) is None
        and not getattr(connection, "_connect_failed", True)
        and id(connection) not in held
    ]


async def reap_orphaned_connections(client: httpx.AsyncClient) -> int:
    """Remove never-connected connections no request holds; returns how many."""
    pool = _pool_of(client)
    if pool is None:
        return 0
    try:
        with pool._optional_thread_lock:
            orphans = _orphans(pool)
            for connection in orphans:
                pool._connections.remove(connection)
            closing = pool._assign_requests_to_connections() if orphans else []
    except (AttributeError, TypeError, ValueError):
        return 0
    if closing:
        await pool._close_connections(closing)
    return len(orphans)
