"""The async engine, for SQLite (the embedded default) or PostgreSQL.

URLs are accepted the way people write them (``sqlite:///./smsgate.db``,
``postgresql://user@host/db``) and given the async driver smsgate uses: aiosqlite or asyncpg.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
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


def insert_or_ignore(dialect: str, model: Any, index_elements: list[Any] | None = None) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for ``model`` on the two supported databases.

    Both spell it alike, but each dialect has its own construct for it.
    """
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=index_elements)
    if dialect == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing(index_elements=index_elements)
    raise UnsupportedDatabase(f"{dialect} is not supported; use sqlite or postgresql")


def insert_or_update(dialect: str, model: Any, index_elements: list[Any], update: list[str]) -> Any:
    """``INSERT ... ON CONFLICT (index_elements) DO UPDATE`` of the ``update`` columns."""
    if dialect == "postgresql":
        pg = postgresql.insert(model)
        return pg.on_conflict_do_update(
            index_elements=index_elements, set_={name: pg.excluded[name] for name in update}
        )
    if dialect == "sqlite":
        lite = sqlite.insert(model)
        return lite.on_conflict_do_update(
            index_elements=index_elements, set_={name: lite.excluded[name] for name in update}
        )
    raise UnsupportedDatabase(f"{dialect} is not supported; use sqlite or postgresql")


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **options: Any) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        database = target.database or ":memory:"
        # One connection: its calls run on the loop's thread, so a second connection waiting
        # for the write lock the first holds would wait on itself.
        engine = create_async_engine(
            target,
            async_creator=lambda: _inline_sqlite(database),
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            **options,
        )
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    # A worker runs dozens of hand-offs at once, each a few short queries: a pool too small
    # for them opens and closes an overflow connection per query (measured: most of a
    # worker's database time went to connecting).
    options.setdefault("pool_size", 20)
    options.setdefault("max_overflow", 20)
    return create_async_engine(target, pool_pre_ping=True, **options)


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread: runs each call as it is queued."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineSqliteConnection(aiosqlite.Connection):
    """aiosqlite's interface, with each call run right away on the event loop's thread.

    aiosqlite hands every call to a worker thread and back: SQLAlchemy makes some twenty such
    calls per transaction, and the hand-offs cost far more than SQLite's own work, which for
    smsgate's small writes takes microseconds (measured: docs/benchmarks.md). Every call goes
    through aiosqlite's queue, even those SQLAlchemy queues directly, so all run inline.
    The price is that a call waiting on SQLite's write lock holds up the loop, which only
    another process writing to the same file can cause: run one process on SQLite, or use
    PostgreSQL.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # there is no worker thread to start

    @property
    def sqlite3_connection(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for statements run on it directly
        (``db.prepared``): its calls would run on this thread anyway."""
        if self._connection is None:
            raise ValueError("the connection is closed")
        return self._connection

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


async def _inline_sqlite(database: str) -> aiosqlite.Connection:
    connection = InlineSqliteConnection(lambda: sqlite3.connect(database, check_same_thread=False))
    return await connection


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
