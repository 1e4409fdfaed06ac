"""``smsgate db upgrade`` and ``smsgate db copy``: the schema, and moving to another database."""

from __future__ import annotations

from typing import Annotated

import typer

from smsgate.cli.common import fail, load_settings, masked_url, upgrade_database

app = typer.Typer(help="Manage the database.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply every database migration not applied yet (serve does this on start too)."""
    settings = load_settings()
    upgrade_database(settings)
    typer.echo("smsgate: the database schema is up to date")


@app.command("copy")
def db_copy(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The database to copy into, e.g. postgresql://smsgate@db/smsgate; it is "
            "migrated first and must hold no data.",
        ),
    ],
) -> None:
    """Copy every row of SMSGATE_DATABASE_URL into another database (SQLite to PostgreSQL).

    Stop smsgate first. All or nothing: rows are kept only if every table's count matches.
    """
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from smsgate.cli.progress import copy_progress
    from smsgate.db.copy import CopyRefused, copy_database
    from smsgate.db.engine import UnsupportedDatabase, async_url

    settings = load_settings()
    try:
        async_url(to)
    except (UnsupportedDatabase, ValueError) as exc:
        # SQLAlchemy's message for an unreadable URL does not repeat it, so no password.
        fail(f"--to is not a usable database URL ({exc})")
    target = masked_url(to)
    with copy_progress() as progress:
        try:
            copied = copy_database(
                settings.database_url, to, progress=progress.advance, counted=progress.start
            )
        except CopyRefused as exc:
            progress.stop()
            fail(f"db copy: {exc}; nothing was copied", 1)
        except CommandError as exc:  # a schema Alembic cannot migrate (from a newer smsgate)
            progress.stop()
            fail(f"db copy: cannot migrate a database ({exc}); nothing was copied", 1)
        except (OSError, SQLAlchemyError) as exc:
            progress.stop()
            # The text of a driver error can hold the URL, password included: the kind only.
            fail(f"db copy: cannot reach a database ({type(exc).__name__}); nothing was copied", 1)
    total = sum(table.rows for table in copied)
    typer.echo(f"Copied {total:,} rows from {masked_url(settings.database_url)} to {target}:")
    for table in copied:
        typer.echo(f"  {table.name:<22} {table.rows:>10,}")
    typer.echo(f"Row counts match. Now set SMSGATE_DATABASE_URL={target} and start smsgate.")
