"""One process at a time: a named lock held by the database, for jobs that must not overlap.

On PostgreSQL it is a session-level advisory lock, taken on a connection in AUTOCOMMIT mode:
the lock belongs to the session, not to a transaction, so none is left open while the job
runs. The reconciler holds it across calls to Plivo that may take their whole deadline; an
open transaction there would sit "idle in transaction" in ``pg_stat_activity`` for as long,
and a server's ``idle_in_transaction_session_timeout`` would end it, and the lock, mid-job.
SQLite runs in one process, so there the lock is always granted.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine


@asynccontextmanager
async def exclusive(engine: AsyncEngine, name: str) -> AsyncIterator[bool]:
    """Whether this process may do the job ``name`` now (False while another holds it)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        held = bool(await connection.scalar(select(func.pg_try_advisory_lock(key))))
        try:
            yield held
        finally:
            if held:
                await connection.scalar(select(func.pg_advisory_unlock(key)))
