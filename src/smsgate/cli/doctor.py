"""``smsgate doctor``: is this installation able to send, and if not, what to fix.

Each check gives ``ok``, ``warn`` (it works, but probably not as you want) or ``fail`` (it
does not work), in plain words with the fix. Checks that would only repeat an earlier
failure are left out (no Plivo call with malformed credentials, say). Nothing is written:
the database is read, not migrated, and a missing SQLite file is not created; Plivo gets
one read-only request.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_address
from pathlib import Path

import httpx
import typer
from pydantic import ValidationError
from yarl import URL

from smsgate.bootstrap import build_plivo, check_provider, load_prices
from smsgate.cli.common import log_to_stderr, settings_problem
from smsgate.config import ConfigError, ProviderName, Settings, get_settings
from smsgate.db.engine import is_sqlite, make_engine
from smsgate.domain.addresses import is_loopback

TIMEOUT = 5.0  # seconds for each network check


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    topic: str
    level: Level
    detail: str


def ok(topic: str, detail: str) -> Check:
    return Check(topic, Level.OK, detail)


def warn(topic: str, detail: str) -> Check:
    return Check(topic, Level.WARN, detail)


def fail(topic: str, detail: str) -> Check:
    return Check(topic, Level.FAIL, detail)


Report = Callable[[Check], None]


def doctor() -> None:
    """Check configuration, database, broker, Redis, Plivo's credentials and the public URL.

    Each check says ok, warn or fail, and what to fix. Exit 0 when nothing failed, else 1.
    """
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
        report(Check("configuration", Level.FAIL, settings_problem(exc)))
        raise typer.Exit(1) from None
    log_to_stderr(settings)
    report(Check("configuration", Level.OK, "the settings are valid"))
    asyncio.run(run_checks(settings, report))
    verdict = f"{failed} failed, {warned} warning(s)" if failed or warned else "all good"
    typer.echo(f"smsgate doctor: {verdict}")
    if failed:
        raise typer.Exit(1)


async def run_checks(settings: Settings, report: Report) -> None:
    """Run every check, reporting each as it ends (the network ones can take seconds)."""
    provider_usable = True
    for check in configuration_checks(settings):
        provider_usable &= not (check.topic == "provider" and check.level is Level.FAIL)
        report(check)
    for check in await database_checks(settings):
        report(check)
    if settings.broker_url is not None:
        report(await broker_check(settings.broker_url))
    report(await shared_redis_check(settings))
    if provider_usable and settings.resolved_provider is ProviderName.PLIVO:
        report(await plivo_check(settings))
    for check in await public_url_checks(settings):
        report(check)


def configuration_checks(settings: Settings) -> list[Check]:
    checks = [provider_check(settings)]
    try:
        table = load_prices(settings)
    except ConfigError as exc:
        checks.append(fail("price table", f"{exc}: fix the file or unset SMSGATE_PRICE_TABLE"))
    else:
        priced = ", ".join(sorted(table.rates)) or "no country"
        checks.append(ok("price table", f"{table.origin}: {priced} priced, as of {table.as_of}"))
        allowed = set(settings.allowed_countries) - {"*"}
        unpriced = sorted(allowed - set(table.rates))
        if settings.daily_spend_limit is not None and unpriced:
            checks.append(
                warn(
                    "spend limit",
                    f"SMSGATE_DAILY_SPEND_LIMIT is set and the price table has no rate for "
                    f"{', '.join(unpriced)}: messages there are refused (price_unknown). "
                    "Run smsgate prices update --countries ... to price them",
                )
            )
    try:
        settings.check_stale_after()
    except ConfigError as exc:
        checks.append(fail("settings", str(exc)))
    return checks


def provider_check(settings: Settings) -> Check:
    try:
        check_provider(settings)
    except ConfigError as exc:
        return fail("provider", f"{exc}")
    if settings.resolved_provider is ProviderName.SANDBOX:
        has_id, has_token = bool(settings.plivo_auth_id), settings.plivo_auth_token is not None
        if settings.provider is None and has_id != has_token:
            missing = "PLIVO_AUTH_TOKEN" if has_id else "PLIVO_AUTH_ID"
            return warn(
                "provider",
                f"sandbox, because {missing} is not set: nothing is sent. Set it to send "
                "through Plivo",
            )
        return warn(
            "provider",
            "sandbox: nothing is sent. Set PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN and "
            "PLIVO_SENDER_ID to send through Plivo",
        )
    return ok(
        "provider",
        f"plivo, sending from {settings.plivo_sender_id} through {settings.plivo_api_url}",
    )


async def database_checks(settings: Settings) -> list[Check]:
    url = settings.database_url
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None and not path.exists():
            return [
                fail(
                    "database",
                    f"the SQLite file {path} does not exist: run smsgate db upgrade to create "
                    "it (serve does too), or fix SMSGATE_DATABASE_URL",
                )
            ]
    try:
        current, keys = await asyncio.wait_for(_read_database(url), TIMEOUT * 2)
    except Exception as exc:  # any driver's error; its text may hold the password
        return [
            fail(
                "database",
                f"cannot read {shown_database(url)} ({type(exc).__name__}): is the server "
                "running, and are SMSGATE_DATABASE_URL's host, name and credentials right?",
            )
        ]
    checks = [_schema_check(url, current)]
    if settings.broker_url is not None and is_sqlite(url):
        checks.append(
            warn(
                "database",
                "SQLite with a broker: SQLite suits one process; use PostgreSQL for workers "
                "beside serve",
            )
        )
    if keys is not None:
        checks.append(_access_check(settings, keys))
    return checks


async def _read_database(url: str) -> tuple[str | None, bool | None]:
    """The schema's Alembic revision, and whether API keys are stored (None: no table)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect, select

    from smsgate.db.tables import ApiKeyRow

    options = {} if is_sqlite(url) else {"connect_args": {"timeout": TIMEOUT}}
    engine = make_engine(url, **options)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
            has_keys = await connection.run_sync(
                lambda sync: inspect(sync).has_table(ApiKeyRow.__tablename__)
            )
            keys = None
            if has_keys:
                keys = await connection.scalar(select(ApiKeyRow.id).limit(1)) is not None
            return current, keys
    finally:
        await engine.dispose()


def _schema_check(url: str, current: str | None) -> Check:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from smsgate.db.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    where = shown_database(url)
    if current is None:
        return fail("database", f"{where} has no smsgate schema yet: run smsgate db upgrade")
    if current == head:
        return ok("database", f"{where}, schema up to date ({head})")
    try:
        script.get_revision(current)
    except CommandError:
        return fail(
            "database",
            f"{where} is at schema {current}, which this smsgate does not know: a newer "
            "smsgate migrated it. Upgrade smsgate",
        )
    return fail(
        "database",
        f"{where} is at schema {current}, and this smsgate needs {head}: run smsgate db upgrade",
    )


def _access_check(settings: Settings, keys_stored: bool) -> Check:
    keyed = settings.auth_required or keys_stored
    if keyed:
        return ok("api keys", "the API needs a key (Authorization: Bearer ...)")
    if is_loopback(settings.host):
        return ok("api keys", f"none: the API is open, on {settings.host} only (this machine)")
    return fail(
        "api keys",
        f"none, and SMSGATE_HOST={settings.host} is not a loopback address: serve refuses to "
        "start an open SMS endpoint. Run smsgate keys create --name NAME",
    )


async def broker_check(url: str) -> Check:
    where = shown_url(url)
    try:
        if url.lower().startswith("redis"):
            await ping_redis(url)
        else:
            await asyncio.wait_for(asyncio.to_thread(_open_amqp, url), TIMEOUT * 2)
    except Exception as exc:
        return fail(
            "broker",
            f"cannot reach {where} ({type(exc).__name__}): start it, or fix "
            "SMSGATE_BROKER_URL; messages queued meanwhile wait for the workers' sweeper",
        )
    return ok("broker", f"{where} answers; run smsgate worker to hand messages over")


async def ping_redis(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        await client.ping()
    finally:
        await client.aclose()


def _open_amqp(url: str) -> None:
    """Open and close a connection: the AMQP handshake, login included."""
    import pika

    parameters = pika.URLParameters(url)
    parameters.connection_attempts = 1
    parameters.socket_timeout = TIMEOUT
    parameters.blocked_connection_timeout = TIMEOUT
    parameters.stack_timeout = TIMEOUT
    pika.BlockingConnection(parameters).close()


async def shared_redis_check(settings: Settings) -> Check:
    url = settings.pacing_redis_url
    if url is None:
        if settings.broker_url is not None:
            return warn(
                "limits, pacing",
                "each process counts the abuse limits and paces senders alone: set "
                "SMSGATE_REDIS_URL to share them between serve and the workers",
            )
        return ok(
            "limits, pacing",
            "counted in this process (right for one serve; set SMSGATE_REDIS_URL for several)",
        )
    where = shown_url(url)
    try:
        await ping_redis(url)
    except Exception as exc:
        refused = "let through unlimited" if settings.limits_fail_open else "refused (503)"
        variable = "SMSGATE_REDIS_URL" if settings.redis_url else "SMSGATE_BROKER_URL"
        return fail(
            "limits, pacing",
            f"cannot reach Redis at {where} ({type(exc).__name__}): sends are {refused} "
            f"until it answers. Start it, or fix {variable}",
        )
    return ok("limits, pacing", f"shared through Redis at {where}")


async def plivo_check(settings: Settings) -> Check:
    from smsgate.providers.base import AccountUnavailable

    provider = build_plivo(settings.model_copy(update={"plivo_timeout": TIMEOUT}))
    try:
        account = await provider.account()
    except AccountUnavailable as exc:
        return fail("plivo", f"{exc}")
    finally:
        await provider.aclose()
    name = f" '{account.name}'" if account.name else ""
    credit = f", {account.cash_credits} in credit" if account.cash_credits is not None else ""
    return ok("plivo", f"the credentials work: account{name}{credit}")


async def public_url_checks(settings: Settings) -> list[Check]:
    public = settings.public_url
    if public is None:
        if settings.resolved_provider is ProviderName.SANDBOX:
            return [ok("public url", "not set: the sandbox reports delivery to smsgate itself")]
        return [
            warn(
                "public url",
                "SMSGATE_PUBLIC_URL is not set, so Plivo sends no delivery reports and "
                "messages stay 'queued': set it to the https address Plivo reaches smsgate at",
            )
        ]
    url = URL(public)
    host = url.host or ""
    checks = []
    if url.scheme != "https":
        checks.append(
            warn(
                "public url",
                f"{public} is not https: delivery reports would cross the internet in the "
                "clear. Put smsgate behind a proxy that terminates TLS",
            )
        )
    try:
        addresses = await asyncio.wait_for(_resolve(host, url.port or 443), TIMEOUT)
    except (OSError, TimeoutError) as exc:
        checks.append(
            fail(
                "public url",
                f"{host} does not resolve ({type(exc).__name__}): fix SMSGATE_PUBLIC_URL or "
                "its DNS record",
            )
        )
        return checks
    if all(_private(address) for address in addresses):
        checks.append(
            warn(
                "public url",
                f"{host} resolves to {', '.join(sorted(addresses))}, not a public address: "
                "Plivo cannot reach it",
            )
        )
    checks.append(await _reachability(settings, public))
    return checks


async def _resolve(host: str, port: int) -> set[str]:
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return {str(info[4][0]) for info in found}


def _private(address: str) -> bool:
    parsed = ip_address(address.split("%")[0])
    return not parsed.is_global


async def _reachability(settings: Settings, public: str) -> Check:
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
        try:
            health = await client.get(f"{public}/healthz")
        except httpx.HTTPError as exc:
            return fail(
                "public url",
                f"{public}/healthz does not answer ({type(exc).__name__}): is smsgate serve "
                "running, and does the proxy forward to it? Until it answers, delivery "
                "reports are lost",
            )
        if health.status_code != 200 or not _is_smsgate_health(health):
            return fail(
                "public url",
                f"{public}/healthz answers HTTP {health.status_code}, not smsgate's "
                '{"status": "ok"}: the address reaches something else; check the proxy\'s '
                "routing",
            )
        provider = await _served_provider(client, public)
    configured = settings.resolved_provider.value
    if provider is not None and provider != configured:
        return warn(
            "public url",
            f"{public} answers as a smsgate sending through {provider}, but this configuration "
            f"sends through {configured}: is it another installation?",
        )
    return ok("public url", f"{public}/healthz answers from smsgate")


def _is_smsgate_health(answer: httpx.Response) -> bool:
    try:
        return bool(answer.json() == {"status": "ok"})
    except ValueError:
        return False


async def _served_provider(client: httpx.AsyncClient, public: str) -> str | None:
    try:
        document = (await client.get(f"{public}/readyz")).json()
    except (httpx.HTTPError, ValueError):
        return None
    provider = document.get("provider") if isinstance(document, dict) else None
    return provider if isinstance(provider, str) else None


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


def shown_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else str(parsed)


async def gather_checks(settings: Settings) -> list[Check]:
    """Every check, in order (for tests and programs)."""
    found: list[Check] = []
    await run_checks(settings, found.append)
    return found
