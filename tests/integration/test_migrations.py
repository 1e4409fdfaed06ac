"""The migrations build exactly the tables the code maps, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from smsgate.db.engine import make_engine
from smsgate.db.migrate import (
    MIGRATIONS,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
    upgrade_if_behind,
)
from smsgate.db.tables import Base


def differences(url: str) -> list[object]:
    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async def run() -> list[object]:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def tables(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                names = await connection.run_sync(lambda c: inspect(c).get_table_names())
                return set(names)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrading_to_head_matches_the_models(database_url: str) -> None:
    """Any change to tables.py without a migration (or the reverse) fails here."""
    upgrade(database_url)
    assert differences(database_url) == []
    assert {"messages", "message_events", "idempotency_keys"} <= tables(database_url)


def test_upgrading_twice_changes_nothing(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
    assert differences(database_url) == []


def test_every_migration_can_be_undone(database_url: str) -> None:
    from alembic import command

    upgrade(database_url)
    command.downgrade(alembic_config(database_url), "base")
    assert tables(database_url) <= {"alembic_version"}
    upgrade(database_url)
    assert differences(database_url) == []


def test_revisions_are_numbered_in_one_line() -> None:
    """Revision ids are 0001, 0002, ... and each file is named after its id."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    revisions = list(reversed(list(script.walk_revisions())))
    assert [r.revision for r in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    for revision in revisions:
        assert Path(str(revision.path)).name.startswith(revision.revision + "_")
    assert len(script.get_heads()) == 1
    assert MIGRATIONS.is_dir()


def test_the_head_read_from_the_files_is_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert head_revision() == script.get_current_head()


def test_a_schema_behind_is_upgraded_and_one_at_head_is_left_alone(database_url: str) -> None:
    upgrade(database_url, "0005")
    assert asyncio.run(current_revision(database_url)) == "0005"
    assert upgrade_if_behind(database_url) is True
    assert asyncio.run(current_revision(database_url)) == head_revision()
    assert upgrade_if_behind(database_url) is False
    assert differences(database_url) == []


def test_an_empty_database_is_behind(database_url: str) -> None:
    assert asyncio.run(current_revision(database_url)) is None
    assert upgrade_if_behind(database_url) is True
    assert differences(database_url) == []


def test_a_schema_at_head_is_checked_without_importing_alembic(tmp_path: Path) -> None:
    """What serve saves: Alembic is about 7 MiB of every process's memory."""
    url = f"sqlite:///{tmp_path / 'smsgate.db'}"
    upgrade(url)
    script = (
        "import sys\n"
        "from smsgate.db.migrate import upgrade_if_behind\n"
        f"assert upgrade_if_behind({url!r}) is False\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert ran.stdout.strip() == "[]"
