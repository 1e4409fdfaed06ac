"""The async engine, for SQLite (the embedded default) or PostgreSQL.

URLs are accepted the way people write them (``sqlite:///./smsgate.db``,
``postgresql://user@host/db``) and given the async driver smsgate uses: aiosqlite or asyncpg.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


class UnsupportedDatabase(ValueError):
    """The URL names a database smsgate does not run on."""


def async_url(url: str) -> URL:
    """``url`` with smsgate's async driver; raises UnsupportedDatabase for anything else."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"} and parsed.drivername != "postgres":
        raise UnsupportedDatabase(f"{backend} is not supported; use sqlite or postgresql")
    if "+" in parsed.drivername:
        return parsed
    return parsed.set(drivername=_ASYNC_DRIVERS[parsed.drivername])


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **options: Any) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target, **options)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    return create_async_engine(target, pool_pre_ping=True, **options)


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit, with no lazy reload.
    return async_sessionmaker(engine, expire_on_commit=False)


def _tune_sqlite(connection: Any, _: Any) -> None:
    cursor = connection.cursor()
    # WAL lets readers run while one writer writes; NORMAL sync is durable across a process
    # crash (only a power loss can drop the last commits); waiting beats "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
