"""What the commands share: the exit codes, one line on stderr, the settings, and the services.

Exit codes: 0 success; 1 the work was not done (the provider did not take the message, rows
were refused, a check failed, a database was unreachable); 2 bad input or configuration.
``exit_for`` is the one table from an expected exception to its exit code and message, as
``api/errors.problem_for`` is for the API's answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import orjson
import typer
from pydantic import ValidationError

from smsgate.bootstrap import check_provider, load_prices
from smsgate.config import ConfigError, Settings, get_settings
from smsgate.db.common import guarded
from smsgate.db.engine import is_sqlite
from smsgate.db.errors import StoreUnavailable
from smsgate.domain.errors import DomainError
from smsgate.logs import configure_logging, get_logger
from smsgate.services.limits import LimitExceeded, LimitsUnavailable
from smsgate.services.queueing import BatchRefused

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from smsgate.bootstrap import Services

T = TypeVar("T")
EXIT_NOT_SENT = 1
EXIT_BAD_INPUT = 2
log = get_logger("smsgate.cli")


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """One line on stderr, then exit: what a person reads first when something is wrong."""
    typer.echo(f"smsgate: {message}", err=True)
    raise typer.Exit(code)


class SchemaMissing(Exception):
    """A command that only reads found the database not (or not fully) migrated."""


@dataclass(frozen=True, slots=True)
class ExitProblem:
    exit_code: int
    code: str  # the stable code, as the API's answers carry it
    message: str


def exit_for(exc: BaseException) -> ExitProblem | None:
    """The exit code and the one line an expected exception stands for; None for a bug."""
    match exc:
        case ValidationError():
            return ExitProblem(EXIT_BAD_INPUT, "invalid_settings", settings_problem(exc))
        case ConfigError():
            return ExitProblem(EXIT_BAD_INPUT, "invalid_settings", str(exc))
        case StoreUnavailable():
            message = "SMSGATE_DATABASE_URL: the database is unavailable"
            return ExitProblem(EXIT_NOT_SENT, "store_unavailable", message)
        case SchemaMissing():
            return ExitProblem(EXIT_NOT_SENT, "schema_missing", str(exc))
        case BatchRefused(rows=rows):
            # Every row refused is the rows' problem; an empty or huge batch, the file's.
            return ExitProblem(EXIT_NOT_SENT if rows else EXIT_BAD_INPUT, exc.code, exc.message)
        case LimitExceeded() | LimitsUnavailable():
            return ExitProblem(EXIT_NOT_SENT, exc.code, exc.message)
        case DomainError():
            return ExitProblem(EXIT_BAD_INPUT, exc.code, exc.message)
    return None


def fail_for(exc: BaseException, *, about: str | None = None, then: str | None = None) -> NoReturn:
    """``fail`` with ``exit_for``'s line (``about: line; then``); a bug is raised again."""
    problem = exit_for(exc)
    if problem is None:
        raise exc
    message = f"{about}: {problem.message}" if about else problem.message
    fail(f"{message}; {then}" if then else message, problem.exit_code)


@contextlib.contextmanager
def exiting(*, about: str | None = None, then: str | None = None) -> Iterator[None]:
    """Turn the expected exceptions of the block into their exit (``fail_for``)."""
    try:
        yield
    except (ValidationError, ConfigError, StoreUnavailable, SchemaMissing, DomainError) as exc:
        fail_for(exc, about=about, then=then)


def emit_error(code: str, message: str, as_json: bool) -> None:
    """A refusal: the API's error document on stdout with ``--json``, else a line on stderr."""
    if as_json:
        from smsgate.api.responses import error_body  # no FastAPI: orjson and a Response

        typer.echo(orjson.dumps(error_body(code, message)).decode())
    else:
        typer.echo(f"smsgate: not sent: {message} [{code}]", err=True)


def settings_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = env_name(str(error["loc"][0])) if error["loc"] else "the settings"
    return f"{where} is invalid: {error['msg']}"


def load_settings(**overrides: object) -> Settings:
    with exiting():
        settings = get_settings()
        if overrides:
            # Validated like the environment: a --port out of range fails here, not at bind.
            settings = Settings.model_validate({**settings.model_dump(), **overrides})
    return settings


def sending_settings() -> Settings:
    """Settings for a command that sends: the provider and the price table must be usable."""
    settings = load_settings()
    with exiting():
        check_provider(settings)
        load_prices(settings)
    return settings


def log_to_stderr(settings: Settings, level: str = "warning") -> None:
    """Log lines go to stderr, so that stdout holds only the command's result (JSON, say)."""
    with contextlib.redirect_stdout(sys.stderr):
        configure_logging(level, settings.log_format)


def env_name(location: str) -> str:
    """The variable a user sets for a settings field or alias, for error messages."""
    for name, field in Settings.model_fields.items():
        choices = getattr(field.validation_alias, "choices", None)
        aliases = [str(choice).lower() for choice in choices or ()]
        if location.lower() == name or location.lower() in aliases:
            return str(choices[0]) if choices else f"SMSGATE_{name.upper()}"
    return location.upper()


def half_configured_plivo(settings: Settings) -> str | None:
    """The Plivo variable missing when only one of the auth ID and token is set (and no
    provider is chosen), so that the sandbox is used and nothing is sent; else None."""
    has_id, has_token = bool(settings.plivo_auth_id), settings.plivo_auth_token is not None
    if settings.provider is None and has_id != has_token:
        return "PLIVO_AUTH_TOKEN" if has_id else "PLIVO_AUTH_ID"
    return None


def masked_url(url: str) -> str:
    """``url`` fit to print: its password, if it has one, shown as ``***``; the rest as given."""
    scheme, separator, rest = url.partition("://")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, host = rest[:end].rpartition("@")
    if not separator or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}{rest[end:]}"


def sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database)


def shown_database(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if is_sqlite(url):
        return f"SQLite {parsed.database}"
    where = f"{parsed.host or 'localhost'}{f':{parsed.port}' if parsed.port else ''}"
    return f"PostgreSQL {parsed.database} on {where}"


def upgrade_database(settings: Settings) -> None:
    """Bring the schema to the newest migration, or stop with one line saying why not."""
    from sqlalchemy.exc import SQLAlchemyError

    from smsgate.db.migrate import upgrade_if_behind

    try:
        upgrade_if_behind(settings.database_url)
    except (OSError, SQLAlchemyError) as exc:
        # The exception's text can hold the URL, password included: name only its kind.
        fail(f"SMSGATE_DATABASE_URL: cannot upgrade the database ({type(exc).__name__})", 1)


def with_services(
    settings: Settings, use: Callable[[Services], Awaitable[T]], *, writes: bool = False
) -> T:
    """Run ``use`` with the stores of bootstrap's one wiring; exit 1 if the database is
    unreachable. A command that ``writes`` migrates the schema first, as serve does; one that
    only reads finds it migrated, or stops naming ``smsgate db upgrade``, creating nothing."""
    if writes:
        upgrade_database(settings)
    else:
        require_sqlite_file(settings.database_url)

    async def run() -> T:
        from smsgate.bootstrap import build_services
        from smsgate.providers.sandbox import SandboxProvider

        # The stores need neither the provider nor the price table, the broker or Redis: a
        # command that only reads or writes rows works whatever those are set to.
        stores_only = settings.model_copy(
            update={"price_table": None, "broker_url": None, "redis_url": None}
        )
        async with AsyncExitStack() as stack:
            sandbox = SandboxProvider(sender=settings.plivo_sender_id)
            stack.push_async_callback(sandbox.aclose)
            services = build_services(stores_only, stack, provider=sandbox)
            if not writes:
                await require_schema(services.db, settings.database_url)
            return await use(services)

    with exiting():
        return asyncio.run(run())


def require_sqlite_file(url: str) -> None:
    """Stop before a read would create a missing SQLite file (connecting creates it)."""
    path = sqlite_path(url) if is_sqlite(url) else None
    if path is not None and not path.exists():
        fail(
            f"SMSGATE_DATABASE_URL: the SQLite file {path} does not exist: run smsgate db "
            "upgrade to create it",
            EXIT_NOT_SENT,
        )


async def require_schema(db: AsyncEngine, url: str) -> None:
    """Raise SchemaMissing unless the database is at the newest migration (or a newer one)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from smsgate.db.migrate import alembic_config

    current = await schema_revision(db)
    where = f"SMSGATE_DATABASE_URL: {shown_database(url)}"
    if current is None:
        raise SchemaMissing(f"{where} has no smsgate schema yet: run smsgate db upgrade")
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    try:
        script.get_revision(current)
    except CommandError:
        return  # a newer smsgate migrated it: its tables are a superset
    if current != head:
        raise SchemaMissing(
            f"{where} is at schema {current}, and this smsgate needs {head}: run smsgate db upgrade"
        )


@guarded
async def schema_revision(db: AsyncEngine) -> str | None:
    """The database's Alembic revision; None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    async with db.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
