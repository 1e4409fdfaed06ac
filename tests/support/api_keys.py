"""API keys stored straight through ``ApiKeyStore``, and rows read back, for tests of access.

The helpers open an engine of their own on the database (each on its own event loop), so a
test can create or revoke a key before an app starts or while it runs, as another process
(``smsgate keys ...``) would.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from smsgate.db.api_keys import ApiKeyStore, StoredKey
from smsgate.db.engine import make_engine, make_sessions
from smsgate.domain.access import parse_scopes

T = TypeVar("T")


def with_store(database_url: str, use: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = make_engine(database_url)
        try:
            return await use(ApiKeyStore(make_sessions(engine)))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def create_key(
    database_url: str, name: str, scopes: str = "send,read", *, test: bool = False
) -> tuple[StoredKey, str]:
    """A stored key: its record, and the key itself."""

    async def create(store: ApiKeyStore) -> tuple[StoredKey, str]:
        return await store.create(name, parse_scopes(scopes), test=test)

    return with_store(database_url, create)


def revoke_key(database_url: str, handle: str) -> StoredKey | None:
    async def revoke(store: ApiKeyStore) -> StoredKey | None:
        return await store.revoke(handle)

    return with_store(database_url, revoke)


def sqlite_path(database_url: str) -> str:
    path = make_url(database_url).database
    assert path, database_url
    return path


def rows(database_url: str, query: str, *parameters: object) -> list[dict[str, Any]]:
    """The rows a query returns from a SQLite database, as dicts."""
    with closing(sqlite3.connect(sqlite_path(database_url))) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(query, parameters)]
