"""Bring a database's schema to the newest migration: ``smsgate db upgrade`` and ``serve``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # The URL goes in as an attribute, not an ini option, where "%" would need escaping.
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every migration up to ``revision``. Safe to run again: applied ones are skipped."""
    command.upgrade(alembic_config(url), revision)
