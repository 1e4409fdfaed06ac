"""The ``smsgate`` command (also ``python -m smsgate``): thin calls into the services.

Exit codes: 0 success; 1 the work was not done (the provider did not take the message, rows
were refused, a check failed, a database was unreachable); 2 bad input or configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import orjson
import phonenumbers
import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.bootstrap import Runtime, build_plivo, check_provider, check_serving, load_prices
from smsgate.config import ConfigError, ProviderName, Settings, get_settings
from smsgate.db.api_keys import ApiKeyStore, StoredKey
from smsgate.db.engine import is_sqlite, make_engine, make_sessions
from smsgate.db.errors import StoreUnavailable
from smsgate.db.price_files import save_price_table
from smsgate.db.rows import Message
from smsgate.db.store import MessageStore
from smsgate.db.webhooks import Endpoint, WebhookStore
from smsgate.domain.access import format_scopes, parse_scopes
from smsgate.domain.addresses import is_loopback
from smsgate.domain.api_keys import (
    LIVE_PREFIX,
    SHOWN_LENGTH,
    TEST_PREFIX,
    key_digest,
    shown_prefix,
)
from smsgate.domain.encoding import analyse_text
from smsgate.domain.errors import DomainError
from smsgate.domain.message import MessageStatus
from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN
from smsgate.logs import configure_logging, get_logger
from smsgate.providers.base import PricingUnavailable
from smsgate.services.handoff import describe_failure
from smsgate.services.pricing import FetchedPrices, fetch_price_table
from smsgate.services.sending import SendReport

if TYPE_CHECKING:
    from rich.progress import Progress

app = typer.Typer(
    name="smsgate",
    help="Send SMS through Plivo, self-hosted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = get_logger("smsgate.cli")
db_app = typer.Typer(help="Manage the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
prices_app = typer.Typer(help="Show and refresh the price table used for cost estimates.")
app.add_typer(prices_app, name="prices", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.")
app.add_typer(keys_app, name="keys", no_args_is_help=True)
webhooks_app = typer.Typer(help="See webhook endpoints and replay dead deliveries.")
app.add_typer(webhooks_app, name="webhooks", no_args_is_help=True)
messages_app = typer.Typer(help="List stored messages; show one with its timeline.")
app.add_typer(messages_app, name="messages", no_args_is_help=True)

T = TypeVar("T")
EXIT_NOT_SENT = 1
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """One line on stderr, then exit: what a person reads first when something is wrong."""
    typer.echo(f"smsgate: {message}", err=True)
    raise typer.Exit(code)


def load_settings(**overrides: object) -> Settings:
    try:
        settings = get_settings()
        if overrides:
            # Validated like the environment: a --port out of range fails here, not at bind.
            settings = Settings.model_validate({**settings.model_dump(), **overrides})
    except ValidationError as exc:
        error = exc.errors()[0]
        fail(f"{env_name(str(error['loc'][0]))} is invalid: {error['msg']}")
    return settings


def sending_settings() -> Settings:
    """Settings for a command that sends: the provider and the price table must be usable."""
    settings = load_settings()
    try:
        check_provider(settings)
        load_prices(settings)
    except ConfigError as exc:
        fail(str(exc))
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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [SMSGATE_HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to bind [SMSGATE_PORT].")
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve a non-loopback address without API keys. Anyone who reaches it can "
            "send SMS at your cost.",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API and the send page."""
    import uvicorn

    from smsgate.api.app import create_app

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = load_settings(**overrides)
    try:
        check_serving(
            settings, insecure_no_auth=insecure_no_auth, keys_stored=lambda: keys_stored(settings)
        )
    except ConfigError as exc:
        fail(str(exc))
    configure_logging(settings.log_level, settings.log_format)
    warn_about_half_configured_plivo(settings)
    upgrade_database(settings)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        access_log=False,  # RequestContext writes one structured line per request instead
        log_level=settings.log_level,
        server_header=False,
        proxy_headers=False,
        # On SIGTERM, requests in progress get the send grace (a send takes at most
        # SMSGATE_PLIVO_TIMEOUT); then a stalled client is cut off, so claimed queued
        # hand-offs still finish within systemd's TimeoutStopSec.
        timeout_graceful_shutdown=math.ceil(settings.send_grace),
    )
    tune_garbage_collector()
    typer.echo(
        f"smsgate serving http://{settings.host}:{settings.port} "
        f"(provider: {settings.resolved_provider.value})",
        err=True,
    )
    uvicorn.Server(config).run()


def tune_garbage_collector() -> None:
    """Keep the cyclic GC off the hot path: measured +10% sends per second (docs/benchmarks.md).

    Everything built at start-up lives as long as the process, so it is frozen out of the
    collector's scans; and the youngest generation is collected every 20,000 allocations
    instead of every 700, which a request-per-task server outruns many times a second.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(20_000, older, oldest)


def warn_about_half_configured_plivo(settings: Settings) -> None:
    has_id, has_token = bool(settings.plivo_auth_id), settings.plivo_auth_token is not None
    if settings.provider is None and has_id != has_token:
        missing = "PLIVO_AUTH_TOKEN" if has_id else "PLIVO_AUTH_ID"
        log.warning(
            "plivo_half_configured",
            problem=f"{missing} is not set, so the sandbox is used and nothing is sent",
        )


def upgrade_database(settings: Settings) -> None:
    """Bring the schema to the newest migration, or stop with one line saying why not."""
    from sqlalchemy.exc import SQLAlchemyError

    from smsgate.db.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except (OSError, SQLAlchemyError) as exc:
        # The exception's text can hold the URL, password included: name only its kind.
        fail(f"SMSGATE_DATABASE_URL: cannot upgrade the database ({type(exc).__name__})", 1)


def keys_stored(settings: Settings) -> bool:
    """Whether the database holds API keys (migrating it first, as serve would)."""
    upgrade_database(settings)

    async def ask(store: ApiKeyStore) -> bool:
        return await store.exist()

    return with_key_store(settings, ask)


def with_engine(settings: Settings, use: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``use`` on the database's engine (migrated by the caller); exit 1 if unreachable."""

    async def run() -> T:
        engine = make_engine(settings.database_url)
        try:
            return await use(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except StoreUnavailable:
        fail("SMSGATE_DATABASE_URL: the database is unavailable", 1)


def with_key_store(settings: Settings, use: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    """Run ``use`` with the key store of a migrated database; exit 1 if it is unreachable."""
    return with_engine(settings, lambda engine: use(ApiKeyStore(make_sessions(engine))))


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="What the key is for, e.g. 'web shop'.")],
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="Comma-separated: send (send and cancel), read (messages, batches), "
            "admin (everything, keys included).",
        ),
    ] = "send,read",
    test: Annotated[
        bool,
        typer.Option("--test", help="A test key: the sandbox path, never Plivo, no cost."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the key's record, key included, as JSON.")
    ] = False,
) -> None:
    """Create an API key and print it, once: only its digest is stored."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 100 or not cleaned.isprintable():
        fail("--name must be 1 to 100 printable characters")
    try:
        scopes = parse_scopes(scope)
    except DomainError as exc:
        fail(f"--scope: {exc.message}")
    settings = load_settings()
    upgrade_database(settings)

    async def create(store: ApiKeyStore) -> tuple[StoredKey, str]:
        return await store.create(cleaned, scopes, test=test)

    record, key = with_key_store(settings, create)
    if as_json:
        typer.echo(orjson.dumps({**record.as_json(), "key": key}).decode())
        return
    mode = "test" if test else "live"
    typer.echo(
        f"Created {mode} key '{record.name}' ({record.prefix}, scopes {format_scopes(scopes)}). "
        "Copy it now; it cannot be shown again:",
        err=True,
    )
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """List the keys: prefix, name, scopes, mode, last use; revoked ones are marked."""
    settings = load_settings()
    upgrade_database(settings)

    async def everything(store: ApiKeyStore) -> list[StoredKey]:
        return await store.all()

    keys = with_key_store(settings, everything)
    if as_json:
        for key in keys:
            typer.echo(orjson.dumps(key.as_json()).decode())
        return
    if not keys:
        typer.echo("No API keys yet: smsgate keys create --name NAME", err=True)
        return
    typer.echo(f"{'PREFIX':<17} {'NAME':<24} {'SCOPES':<16} {'MODE':<5} {'LAST USED':<20} STATE")
    for key in keys:
        used = key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "never"
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        typer.echo(
            f"{key.prefix:<17} {key.name[:24]:<24} {format_scopes(key.scopes):<16} "
            f"{'test' if key.test else 'live':<5} {used:<20} {state}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[
        str, typer.Argument(help="The key's prefix (sg_live_AbC12345), its id, or the key itself.")
    ],
) -> None:
    """Revoke a key: every request with it is refused from now on, in every process."""
    handle = key.strip()
    # A whole key (a leaked one, say) is found by its digest, and never repeated back.
    whole = handle.startswith((LIVE_PREFIX, TEST_PREFIX)) and len(handle) > SHOWN_LENGTH
    settings = load_settings()
    upgrade_database(settings)

    async def revoke(store: ApiKeyStore) -> StoredKey | None:
        if not whole:
            return await store.revoke(handle)
        found = await store.find(key_digest(handle))
        return await store.revoke(found.id) if found is not None else None

    revoked = with_key_store(settings, revoke)
    if revoked is None:
        named = f"'{shown_prefix(handle)}...'" if whole else repr(handle[:40])
        fail(f"no key has the prefix or id {named}; see smsgate keys list")
    typer.echo(f"Revoked '{revoked.name}' ({revoked.prefix}).")


def with_webhook_store(settings: Settings, use: Callable[[WebhookStore], Awaitable[T]]) -> T:
    """Run ``use`` with the webhook store of a migrated database; exit 1 if unreachable."""
    upgrade_database(settings)
    return with_engine(settings, lambda engine: use(WebhookStore(engine)))


@webhooks_app.command("list")
def webhooks_list() -> None:
    """The endpoints in use, with how many deliveries are pending and dead."""
    settings = load_settings()

    async def overview(store: WebhookStore) -> list[tuple[Endpoint, int, int]]:
        rows = []
        for endpoint in await store.endpoints():
            pending = await store.deliveries(endpoint.id, state="pending", limit=1000)
            dead = await store.deliveries(endpoint.id, state="dead", limit=1000)
            rows.append((endpoint, len(pending), len(dead)))
        return rows

    rows = with_webhook_store(settings, overview)
    if not rows:
        typer.echo("No webhook endpoints: POST /api/v1/webhooks to add one.", err=True)
        return
    typer.echo(f"{'ID':<27} {'PENDING':>7} {'DEAD':>5}  URL")
    for endpoint, pending, dead in rows:
        typer.echo(f"{endpoint.id:<27} {pending:>7} {dead:>5}  {endpoint.url}")


@webhooks_app.command("replay")
def webhooks_replay(
    endpoint: Annotated[str, typer.Argument(help="The endpoint's id.")],
    delivery: Annotated[
        str | None, typer.Option("--delivery", help="One dead delivery; all when left out.")
    ] = None,
) -> None:
    """Make dead deliveries pending again: the deliverer sends them within a second."""
    settings = load_settings()

    async def replay(store: WebhookStore) -> int | None:
        if await store.endpoint(endpoint) is None:
            return None
        return await store.replay(endpoint, delivery)

    replayed = with_webhook_store(settings, replay)
    if replayed is None:
        fail(f"no webhook endpoint has the id {endpoint[:40]!r}; see smsgate webhooks list")
    typer.echo(f"Replaying {replayed} dead deliver{'y' if replayed == 1 else 'ies'}.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every database migration not applied yet (serve does this on start too)."""
    settings = load_settings()
    upgrade_database(settings)
    typer.echo("smsgate: the database schema is up to date")


@db_app.command("copy")
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
    target = safe_url(to)
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
    typer.echo(f"Copied {total:,} rows from {safe_url(settings.database_url)} to {target}:")
    for table in copied:
        typer.echo(f"  {table.name:<22} {table.rows:>10,}")
    typer.echo(f"Row counts match. Now set SMSGATE_DATABASE_URL={target} and start smsgate.")


def safe_url(url: str) -> str:
    """A database URL fit to print: the password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def send(
    to: Annotated[str, typer.Option("--to", help="Destination, E.164 (+14155552671).")],
    text: Annotated[str, typer.Option("--text", help="The message.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
) -> None:
    """Send one SMS now through the configured provider and print what happened."""
    settings = sending_settings()
    configure_logging("warning", settings.log_format)

    upgrade_database(settings)

    async def run() -> SendReport:
        runtime = Runtime(settings)
        await runtime.open()
        try:
            return await runtime.services.sender.send(to, text)
        finally:
            await runtime.close()

    try:
        report = asyncio.run(run())
    except DomainError as exc:
        emit_error(exc.code, exc.message, as_json)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except StoreUnavailable as exc:
        fail(f"SMSGATE_DATABASE_URL: the database is unavailable ({exc}); nothing was sent", 1)
    if (accepted := report.accepted) is not None:
        if as_json:
            from smsgate.api.routes.send_sms import success_document

            typer.echo(orjson.dumps(success_document(report, accepted)).decode())
        else:
            typer.echo(
                f"Sent to {report.to.e164} via {settings.resolved_provider.value}: "
                f"{report.text.encoding.value}, {report.text.segments} segment(s), "
                f"message UUID {accepted.message_uuids[0]}"
            )
        return
    failure = describe_failure(report.result)
    assert failure is not None
    emit_error(failure.code, failure.message, as_json)
    raise typer.Exit(EXIT_NOT_SENT)


@app.command()
def worker(
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=1, max=1000, help="Broker messages (of up to 50 ids) handled at once."
        ),
    ] = 8,
    sweep_interval: Annotated[
        float,
        typer.Option("--sweep-interval", min=0.1, help="Seconds between sweeps for lost work."),
    ] = 30.0,
    overdue_after: Annotated[
        float,
        typer.Option(
            "--overdue-after", min=1, help="Seconds past due after which a message is re-announced."
        ),
    ] = 60.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on this port."
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address for --metrics-port.")
    ] = "127.0.0.1",
) -> None:
    """Hand queued messages to the provider: a Dramatiq worker on SMSGATE_BROKER_URL."""
    settings = sending_settings()
    if settings.broker_url is None:
        fail(
            "SMSGATE_BROKER_URL is not set: without a broker, `smsgate serve` hands queued "
            "messages over itself. Set it (redis://... or amqp://...) to run workers."
        )
    configure_logging(settings.log_level, settings.log_format)
    if is_sqlite(settings.database_url):
        log.warning(
            "worker_on_sqlite",
            advice="SQLite suits one process; use PostgreSQL for workers beside serve",
        )
    try:
        settings.check_stale_after()
    except ConfigError as exc:
        fail(str(exc))
    from smsgate.cli.worker import run_worker

    run_worker(
        settings,
        threads=threads,
        sweep_interval=sweep_interval,
        overdue_after=overdue_after,
        stale_after=settings.stale_after,
        metrics_address=(metrics_host, metrics_port) if metrics_port is not None else None,
    )


@prices_app.command("show")
def prices_show() -> None:
    """Print the price table in use (SMSGATE_PRICE_TABLE, else the one shipped)."""
    settings = load_settings()
    try:
        table = load_prices(settings)
    except ConfigError as exc:
        fail(str(exc))
    typer.echo(f"Price table: {table.origin}")
    typer.echo(f"Source: {table.source}")
    typer.echo(f"As of: {table.as_of}; {table.currency} per segment")
    for region, rate in sorted(table.rates.items()):
        typer.echo(f"  {region}  {rate}")
    if not table.rates:
        typer.echo("  (no countries priced: messages are stored without an estimated cost)")


@prices_app.command("update")
def prices_update(
    countries: Annotated[
        str, typer.Option("--countries", help="Comma-separated ISO codes to price, e.g. US,CA.")
    ] = "US,CA",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the table [default: SMSGATE_PRICE_TABLE]."),
    ] = None,
) -> None:
    """Fetch your Plivo account's SMS rates for the given countries into a price table."""
    settings = load_settings()
    target = out or settings.price_table
    if target is None:
        fail("say where to write the table: --out PATH, or set SMSGATE_PRICE_TABLE")
    regions = [code.strip().upper() for code in countries.split(",") if code.strip()]
    unknown = [code for code in regions if phonenumbers.country_code_for_region(code) == 0]
    if not regions or unknown:
        fail(f"--countries: {', '.join(unknown) or 'nothing'} is not a list of country codes")
    if not (settings.plivo_auth_id and settings.plivo_auth_token):
        fail(
            "prices update reads your Plivo account's rates: set PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN"
        )
    plivo = settings.model_copy(update={"provider": ProviderName.PLIVO})
    try:
        check_provider(plivo)
    except ConfigError as exc:
        fail(str(exc))

    async def run() -> FetchedPrices:
        provider = build_plivo(plivo)
        try:
            return await fetch_price_table(provider, regions, datetime.now(UTC).date())
        finally:
            await provider.aclose()

    try:
        fetched = asyncio.run(run())
    except PricingUnavailable as exc:
        fail(f"could not read Plivo's prices: {exc}; the table was not changed", 1)
    try:
        save_price_table(fetched.table, target)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror or exc}", 1)
    for region, rate in sorted(fetched.table.rates.items()):
        typer.echo(f"  {region}  {rate} {fetched.table.currency} per segment")
    if fetched.unpriced:
        typer.echo(f"Plivo lists no SMS rate for: {', '.join(fetched.unpriced)}")
    typer.echo(f"Wrote {len(fetched.table.rates)} rate(s) to {target}.")
    if settings.price_table is None or settings.price_table.resolve() != target.resolve():
        typer.echo(f"Set SMSGATE_PRICE_TABLE={target} to use them.")


@app.command("send-bulk")
def send_bulk(
    file: Annotated[
        Path,
        typer.Argument(
            help="A CSV file: a header naming to and text (and optionally send_at and "
            "validity), then one message a row; as POST /api/v1/batches takes it.",
            dir_okay=False,
        ),
    ],
    send_at: Annotated[
        str | None,
        typer.Option(
            "--send-at",
            help="When rows without their own send_at are sent: ISO 8601 with a time zone, "
            "up to 30 days ahead (default: now).",
        ),
    ] = None,
    validity: Annotated[
        str | None,
        typer.Option(
            "--validity",
            help="Seconds (5 to 604800) a row without its own validity may wait to be handed "
            "over before it expires, unsent.",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Follow the batch until every message is handed over or final. Without "
            "SMSGATE_BROKER_URL this command hands them over itself (paced like serve).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's 202 document, with counts by status.")
    ] = False,
) -> None:
    """Queue a CSV file of messages through this machine's services, with a progress bar.

    Exits 0 if every row was accepted, 1 if some were refused, 2 for a bad file or setting.
    """
    from rich.console import Console

    from smsgate.cli.progress import progress_bar
    from smsgate.cli.send_bulk import (
        document,
        print_summary,
        queue_file,
        read_file,
        refused_document,
    )
    from smsgate.services.batch_file import parse_send_at, parse_validity
    from smsgate.services.limits import LimitExceeded, LimitsUnavailable
    from smsgate.services.queueing import BatchRefused

    try:
        batch_send_at = parse_send_at((send_at or "").strip())
    except ValueError:
        fail("--send-at is not an ISO 8601 time, like 2026-12-01T09:00:00Z")
    try:
        batch_validity = parse_validity((validity or "").strip())
    except ValueError:
        fail("--validity is not a whole number of seconds")
    settings = sending_settings()
    console = Console(highlight=False)

    def refused(code: str, message: str, exit_code: int, rows: int = 0, **more: Any) -> NoReturn:
        body = refused_document(code, message, more.get("errors", []))
        if as_json:
            typer.echo(orjson.dumps(body).decode())
        else:
            if body.get("errors"):
                print_summary(console, body, rows)
            typer.echo(f"smsgate: nothing was queued: {message} [{code}]", err=True)
        raise typer.Exit(exit_code)

    with progress_bar() as progress:
        try:
            upload = read_file(file, progress)
        except OSError as exc:
            drop_bars(progress)
            fail(f"cannot read {file}: {exc.strerror or exc}")
        except BatchRefused as exc:
            drop_bars(progress)
            refused(exc.code, exc.message, EXIT_BAD_INPUT)
        log_to_stderr(settings)
        upgrade_database(settings)
        try:
            queued = asyncio.run(
                queue_file(
                    settings,
                    upload,
                    send_at=batch_send_at,
                    validity_s=batch_validity,
                    wait=wait,
                    progress=progress,
                )
            )
        except BatchRefused as exc:
            drop_bars(progress)
            # Every row refused is the rows' problem (exit 1); an empty or huge batch, the file's.
            code = EXIT_NOT_SENT if exc.rows else EXIT_BAD_INPUT
            refused(exc.code, exc.message, code, len(upload.rows), errors=exc.rows)
        except (LimitExceeded, LimitsUnavailable) as exc:
            drop_bars(progress)
            refused(exc.code, exc.message, EXIT_NOT_SENT)
        except DomainError as exc:  # the batch-wide send_at or validity
            drop_bars(progress)
            refused(exc.code, f"{exc.message} (--send-at, --validity)", EXIT_BAD_INPUT)
        except StoreUnavailable:
            drop_bars(progress)
            fail("SMSGATE_DATABASE_URL: the database is unavailable; nothing was queued", 1)
    body = document(queued)
    if as_json:
        typer.echo(orjson.dumps(body).decode())
    else:
        print_summary(console, body, len(upload.rows), queued)
    if body["refused"]:
        raise typer.Exit(EXIT_NOT_SENT)


def drop_bars(progress: Progress) -> None:
    """Take the bars down before an error is shown: their last state would mislead."""
    for task in list(progress.task_ids):
        progress.remove_task(task)
    progress.stop()


def with_message_store(settings: Settings, use: Callable[[MessageStore], Awaitable[T]]) -> T:
    """Run ``use`` with the message store of a migrated database; exit 1 if unreachable."""
    upgrade_database(settings)

    async def run() -> T:
        engine = make_engine(settings.database_url)
        store = MessageStore(make_sessions(engine))
        try:
            return await use(store)
        finally:
            await store.close()
            await engine.dispose()

    try:
        return asyncio.run(run())
    except StoreUnavailable:
        fail("SMSGATE_DATABASE_URL: the database is unavailable", 1)


@messages_app.command("list")
def messages_list(
    status: Annotated[
        MessageStatus | None, typer.Option("--status", help="Only messages in this status.")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Only messages to this number (any format).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only messages created at or after this time: ISO 8601, UTC when it has no "
            "zone (2026-01-31, 2026-01-31T09:00:00+01:00).",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="At most this many, newest first.")
    ] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per message, as the API shows it.")
    ] = False,
) -> None:
    """The newest messages, filtered: a table without the message texts."""
    from smsgate.bootstrap import build_documents
    from smsgate.cli.messages import message_lines, parse_since
    from smsgate.domain.phone import parse_phone_number

    settings = load_settings()
    try:
        number = parse_phone_number(to, settings.default_region).e164 if to else None
    except DomainError as exc:
        fail(f"--to: {exc.message}")
    try:
        after = parse_since(since) if since else None
    except ValueError:
        fail("--since is not an ISO 8601 date or time, like 2026-01-31 or 2026-01-31T09:00:00Z")
    log_to_stderr(settings)

    async def newest(store: MessageStore) -> list[Message]:
        return await store.list(status=status, to=number, created_after=after, limit=limit)

    found = with_message_store(settings, newest)
    if as_json:
        documents = build_documents()
        for message in found:
            typer.echo(orjson.dumps(documents.message(message)).decode())
        return
    if not found:
        typer.echo("No messages match.", err=True)
        return
    for line in message_lines(found):
        typer.echo(line)


@messages_app.command("show")
def messages_show(
    message_id: Annotated[str, typer.Argument(help="The message's id.", metavar="ID")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The message with its events, as the API shows it.")
    ] = False,
) -> None:
    """One message: its fields, Plivo's error in words, and its timeline of events."""
    from smsgate.bootstrap import build_documents
    from smsgate.cli.messages import message_details

    documents = build_documents()
    settings = load_settings()
    log_to_stderr(settings)

    async def one(store: MessageStore) -> Message | None:
        return await store.get(message_id.strip())

    message = with_message_store(settings, one)
    if message is None:
        fail(f"there is no message {message_id[:40]!r}; see smsgate messages list")
    if as_json:
        typer.echo(orjson.dumps(documents.message(message, with_events=True)).decode())
        return
    for line in message_details(message, documents.describe_error):
        typer.echo(line)


@app.command()
def doctor() -> None:
    """Check configuration, database, broker, Redis, Plivo's credentials and the public URL.

    Each check says ok, warn or fail, and what to fix. Exit 0 when nothing failed, else 1.
    """
    from smsgate.cli.doctor import Check, Level, run_checks

    failed = 0
    warned = 0

    def report(check: Check) -> None:
        nonlocal failed, warned
        failed += check.level is Level.FAIL
        warned += check.level is Level.WARN
        colour = {Level.OK: "green", Level.WARN: "yellow", Level.FAIL: "red"}[check.level]
        label = typer.style(f"{check.level.value:<4}", fg=colour, bold=True)
        typer.echo(f"{label}  {check.topic}: {check.detail}")

    try:
        settings = get_settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        where = env_name(str(error["loc"][0])) if error["loc"] else "the settings"
        report(Check("configuration", Level.FAIL, f"{where} is invalid: {error['msg']}"))
        raise typer.Exit(1) from None
    log_to_stderr(settings)
    report(Check("configuration", Level.OK, "the settings are valid"))
    asyncio.run(run_checks(settings, report))
    verdict = f"{failed} failed, {warned} warning(s)" if failed or warned else "all good"
    typer.echo(f"smsgate doctor: {verdict}")
    if failed:
        raise typer.Exit(1)


def emit_error(code: str, message: str, as_json: bool) -> None:
    if as_json:
        typer.echo(orjson.dumps({"success": False, "error": message, "code": code}).decode())
    else:
        typer.echo(f"smsgate: not sent: {message} [{code}]", err=True)


@app.command()
def segments(
    text: Annotated[str, typer.Argument(help="The message to measure.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a text's encoding, length and how many SMS segments it takes."""
    info = analyse_text(text)
    if as_json:
        document = {
            "encoding": info.encoding.value,
            "characters": info.characters,
            "units": info.units,
            "segments": info.segments,
            "per_segment": info.per_segment,
            "unicode_characters": list(info.unicode_characters),
        }
        typer.echo(orjson.dumps(document).decode())
        return
    typer.echo(f"encoding:   {info.encoding.value}")
    typer.echo(f"characters: {info.characters}")
    unit = "septets" if info.encoding.value == "GSM-7" else "UTF-16 units"
    typer.echo(f"length:     {info.units} {unit}")
    typer.echo(f"segments:   {info.segments} (up to {info.per_segment} per segment)")
    if info.unicode_characters:
        shown = " ".join(repr(c) for c in info.unicode_characters[:10])
        typer.echo(f"UCS-2 because of: {shown}")


@app.command()
def emulator(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to bind.")] = 8099,
    auth_id: Annotated[str, typer.Option(help="Auth ID the emulator accepts.")] = DEFAULT_AUTH_ID,
    auth_token: Annotated[
        str, typer.Option(help="Auth token the emulator accepts.")
    ] = DEFAULT_AUTH_TOKEN,
    latency_ms: Annotated[
        float, typer.Option(min=0, help="Delay before answering each send, in ms.")
    ] = 0.0,
    expose: Annotated[
        bool,
        typer.Option(
            "--expose",
            help="Listen on a non-loopback address. Its control API has no authentication "
            "and shows every message it received.",
        ),
    ] = False,
    allow_remote_callbacks: Annotated[
        bool,
        typer.Option(
            "--allow-remote-callbacks",
            help="Post status callbacks to other machines too (by default only to this one).",
        ),
    ] = False,
) -> None:
    """Run the Plivo emulator: Plivo's Message API on this machine, for tests and demos."""
    from smsgate.emulator import run_emulator

    if not is_loopback(host) and not expose:
        fail(
            f"--host {host} is not a loopback address: the emulator's control API has no "
            "authentication. Pass --expose if you mean it"
        )
    run_emulator(
        host,
        port,
        auth_id=auth_id,
        auth_token=auth_token,
        latency_ms=latency_ms,
        allow_remote_callbacks=allow_remote_callbacks,
    )


def main() -> None:
    app()
