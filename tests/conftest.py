"""Fixtures for every test: a clean environment, settings, and the Plivo emulator."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smsgate.config import Settings, get_settings
from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, EmulatorServer

SENDER = "+14155550199"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's PLIVO_*/SMSGATE_* variables or a stray .env file."""
    for name in list(os.environ):
        if name.upper().startswith(("PLIVO_", "SMSGATE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


SettingsFactory = Callable[..., Settings]


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database migrated to head; tests get copies, which is much faster."""
    from smsgate.db.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "smsgate.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def make_settings(migrated_sqlite_template: Path, tmp_path: Path) -> SettingsFactory:
    """Settings with no environment, and (unless given) a fresh, migrated SQLite database."""

    def factory(**values: Any) -> Settings:
        # The abuse limits would refuse tests that send one number many times; the tests of
        # the limits set them.
        values.setdefault("rate_limit", "off")
        values.setdefault("destination_limit", "off")
        if "database_url" not in values:
            database = tmp_path / f"smsgate-{secrets.token_hex(4)}.db"
            shutil.copyfile(migrated_sqlite_template, database)
            values["database_url"] = f"sqlite:///{database}"
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return factory


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    """The shared emulator, with no faults and no recorded requests."""
    emulator_server.reset()
    return emulator_server


@pytest.fixture
def plivo_settings(make_settings: SettingsFactory, emulator: EmulatorServer) -> Settings:
    """Settings that send through the Plivo adapter to the emulator."""
    return make_settings(
        plivo_auth_id=DEFAULT_AUTH_ID,
        plivo_auth_token=DEFAULT_AUTH_TOKEN,
        plivo_sender_id=SENDER,
        plivo_api_url=emulator.base_url,
        plivo_timeout=2.0,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'smsgate.db'}"
        return
    from tests.support.databases import fresh_postgres_database

    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, like the server."""
    return "asyncio"


@pytest.fixture
def migrated(database_url: str) -> str:
    """An empty database (each kind) with the schema at head.

    Synchronous on purpose: Alembic runs its own event loop.
    """
    from smsgate.db.migrate import upgrade

    upgrade(database_url)
    return database_url


@pytest.fixture
def postgres() -> Iterator[str]:
    """A PostgreSQL database of the test's own with the schema at head, for what only
    PostgreSQL has (its locks, its sessions, a connection the server cuts)."""
    from smsgate.db.migrate import upgrade
    from tests.support.databases import fresh_postgres_database

    with fresh_postgres_database() as url:
        upgrade(url)
        yield url


ServeApp = Callable[..., str]


@pytest.fixture
def serve(plivo_settings: Settings) -> Iterator[ServeApp]:
    """Serve the app over real HTTP with ``plivo_settings`` changed by the given fields.

    Call it with setting names and values; it returns the server's URL. Every server started
    is stopped when the test ends.
    """
    from smsgate.api.app import create_app
    from tests.support.servers import serve_in_thread

    servers: list[Any] = []

    def start(**changes: object) -> str:
        server = serve_in_thread(create_app(plivo_settings.model_copy(update=changes)))
        servers.append(server)
        url: str = server.__enter__()
        return url

    yield start
    for server in reversed(servers):
        server.__exit__(None, None, None)
