"""Bring a database's schema to the newest migration: ``smsgate db upgrade`` and ``serve``.

``serve`` and the commands that write start with ``upgrade_if_behind``: a schema already at
the newest migration, the usual case, is found so with one read, without importing Alembic
(about 7 MiB of every server's memory, docs/benchmarks.md). Alembic runs when there is work.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"

# A migration file's own two lines: `revision = "0008"` and `down_revision = "0007"` (or None).
_LINK = re.compile(r'^(down_revision|revision)\s*(?::[^=\n]*)?=\s*(?:"([^"]*)"|None)\s*$', re.M)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # The URL goes in as an attribute, not an ini option, where "%" would need escaping.
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every migration up to ``revision``. Safe to run again: applied ones are skipped."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def upgrade_if_behind(url: str) -> bool:
    """``upgrade`` unless the schema is at the newest migration already; whether it ran."""
    if asyncio.run(current_revision(url)) == head_revision():
        return False
    upgrade(url)
    return True


def head_revision() -> str:
    """The newest migration, read from the files as Alembic chains them: the one revision no
    other names as its ``down_revision``. tests/integration/test_migrations.py checks it
    against Alembic's own answer."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        links = dict(_LINK.findall(path.read_text()))
        revisions.add(links["revision"])
        if links.get("down_revision"):
            parents.add(links["down_revision"])
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads, not one")
    return heads.pop()


async def current_revision(url: str) -> str | None:
    """The migration the database is at; None when it has none yet."""
    from sqlalchemy import inspect, text

    from smsgate.db.engine import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            has_table = await connection.run_sync(
                lambda sync: inspect(sync).has_table("alembic_version")
            )
            if not has_table:
                return None
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            return None if version is None else str(version)
    finally:
        await engine.dispose()
