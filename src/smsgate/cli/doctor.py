"""``smsgate doctor``: is this installation able to send, and if not, what to fix.

Each check gives ``ok``, ``warn`` (it works, but probably not as you want) or ``fail`` (it
does not work), in plain words with the fix. Checks that would only repeat an earlier
failure are left out (no Plivo call with malformed credentials, say). Nothing is written:
the database is read, not migrated, and a missing SQLite file is not created; Plivo gets
one read-only request. The checks over the network are in ``cli/reachability.py``.
"""

from __future__ import annotations

import asyncio

import typer
from pydantic import ValidationError

from smsgate.bootstrap import check_provider, check_spend_priced, load_prices
from smsgate.cli.checks import TIMEOUT, Check, Level, Report, fail, ok, warn
from smsgate.cli.common import (
    half_configured_plivo,
    log_to_stderr,
    settings_problem,
    shown_database,
    sqlite_path,
)
from smsgate.cli.reachability import (
    broker_check,
    plivo_check,
    public_url_checks,
    shared_redis_check,
)
from smsgate.config import ConfigError, ProviderName, Settings, get_settings
from smsgate.db.engine import is_sqlite, make_engine
from smsgate.domain.addresses import is_loopback

__all__ = ["Check", "Level", "doctor", "run_checks"]


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
    asyncio.run(run_checks(settings, report))
    verdict = f"{failed} failed, {warned} warning(s)" if failed or warned else "all good"
    typer.echo(f"smsgate doctor: {verdict}")
    if failed:
        raise typer.Exit(1)


async def run_checks(settings: Settings, report: Report) -> None:
    """Run every check, reporting each as it ends (the network ones can take seconds)."""
    provider_usable = True
    checks = configuration_checks(settings)
    if not any(check.level is Level.FAIL for check in checks):
        # Said only when it is true: a setting can load and still be unusable (a malformed
        # PLIVO_AUTH_ID), and that is a failed check below, not a valid setting.
        report(Check("configuration", Level.OK, "the settings are valid"))
    for check in checks:
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
        where = f"{table.origin}: {priced} priced in {table.currency}"
        checks.append(ok("price table", f"{where}, as of {table.as_of}"))
        try:
            check_spend_priced(settings, table)  # serve's own rule, so the two agree
        except ConfigError as exc:
            checks.append(fail("spend limit", f"serve refuses to start: {exc}"))
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
        missing = half_configured_plivo(settings)
        if missing is not None:
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
