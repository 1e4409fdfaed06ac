"""Real databases for tests: a SQLite file, and a fresh PostgreSQL database when one is around.

PostgreSQL comes from SMSGATE_TEST_POSTGRES_URL (default: the local `test` database with the
`postgres` user, as on the CI machine). Each use creates a database of its own and drops it
afterwards. Without a server, PostgreSQL tests skip, unless CI is set: then they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    return os.environ.get("SMSGATE_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(_dsn(admin_url()), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def postgres_available() -> str | None:
    """None when PostgreSQL answers; otherwise why not."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {make_url(admin_url()).render_as_string()} unreachable: {exc}"
    return None


def require_postgres() -> None:
    problem = postgres_available()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem} (CI is set, so this fails instead of skipping)")
    pytest.skip(problem)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for the block; yields its URL."""
    require_postgres()
    name = f"smsgate_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
