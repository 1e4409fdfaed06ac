"""The commands that only read (``messages list|show``, ``keys list``, ``webhooks list``)
never migrate: a database without smsgate's schema is refused with exit 1 and a line naming
``smsgate db upgrade``, and is left as it was (no SQLite file, no tables)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from smsgate.cli import app, messages
from smsgate.config import get_settings
from smsgate.db.engine import is_sqlite, make_engine
from smsgate.db.migrate import upgrade

READS = {
    "messages list": ["messages", "list"],
    "messages show": ["messages", "show", "01JAAAAAAAAAAAAAAAAAAAAAAA"],
    "keys list": ["keys", "list"],
    "webhooks list": ["webhooks", "list"],
}


@pytest.fixture(autouse=True)
def no_logging_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    # Logging is the process's: configuring it here would point it at the runner's streams.
    monkeypatch.setattr(messages, "log_to_stderr", lambda *_args, **_kwargs: None)


def run(database_url: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("SMSGATE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stderr


def tables(database_url: str) -> set[str]:
    async def names() -> set[str]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as connection:
                return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(names())


@pytest.mark.parametrize("command", list(READS))
def test_a_read_of_a_missing_sqlite_file_is_refused_and_creates_nothing(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "never-created.db"
    code, stderr = run(f"sqlite:///{database}", READS[command], monkeypatch)
    assert code == 1, stderr
    assert stderr == (
        f"smsgate: SMSGATE_DATABASE_URL: the SQLite file {database} does not exist: run "
        "smsgate db upgrade to create it\n"
    )
    assert not database.exists()


@pytest.mark.parametrize("command", list(READS))
def test_a_read_of_a_database_without_the_schema_is_refused_and_migrates_nothing(
    command: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if is_sqlite(database_url):
        Path(database_url.removeprefix("sqlite:///")).touch()  # there, and empty
    code, stderr = run(database_url, READS[command], monkeypatch)
    assert code == 1, stderr
    assert stderr.startswith("smsgate: SMSGATE_DATABASE_URL: "), stderr
    assert stderr.endswith(" has no smsgate schema yet: run smsgate db upgrade\n"), stderr
    assert tables(database_url) == set()


def test_a_read_of_a_schema_behind_is_refused_and_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = f"sqlite:///{tmp_path / 'behind.db'}"
    upgrade(database_url, "0005")
    before = tables(database_url)
    code, stderr = run(database_url, READS["keys list"], monkeypatch)
    assert code == 1, stderr
    assert "is at schema 0005, and this smsgate needs" in stderr
    assert stderr.endswith("run smsgate db upgrade\n")
    assert tables(database_url) == before


def test_a_read_of_a_migrated_database_works(
    migrated_sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stderr = run(f"sqlite:///{migrated_sqlite_template}", READS["keys list"], monkeypatch)
    assert code == 0, stderr
    assert "No API keys yet" in stderr
