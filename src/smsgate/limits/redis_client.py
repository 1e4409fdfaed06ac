"""The Redis client the limits and the pacing use: one whose callers wait for a connection.

redis-py's default pool opens at most 100 connections and fails at once past that
(``MaxConnectionsError``). A paced worker starts every hand-off it holds at the same time, and
a burst of requests checks its limits at the same time, so normal load goes past it. A
blocking pool of a bounded size queues those callers instead, for at most ``wait`` seconds.
"""

from __future__ import annotations

import redis.asyncio as aioredis

# Connections per process: each call is one short Lua script, so a few dozen serve hundreds
# of callers at once, and a Redis shared by many processes is not flooded with connections.
POOL_SIZE = 32


def redis_client(url: str, *, wait: float, timeout: float | None = None) -> aioredis.Redis:
    """A client for ``url`` whose callers wait up to ``wait`` s for a free connection;
    ``timeout`` bounds connecting and each reply (None: redis-py's default, none)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=wait,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    return aioredis.Redis.from_pool(pool)
