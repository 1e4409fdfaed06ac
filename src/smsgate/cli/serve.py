"""``smsgate serve`` (the HTTP API and the send page) and ``smsgate emulator`` (Plivo's)."""

from __future__ import annotations

import gc
import math
import sys
from typing import Annotated

import typer

from smsgate.bootstrap import Services, check_serving
from smsgate.cli.common import (
    exiting,
    fail,
    half_configured_plivo,
    load_settings,
    log,
    upgrade_database,
    with_services,
)
from smsgate.config import Settings
from smsgate.domain.addresses import is_loopback
from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN
from smsgate.logs import configure_logging, get_logger


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
    with exiting():
        check_serving(
            settings, insecure_no_auth=insecure_no_auth, keys_stored=lambda: keys_stored(settings)
        )
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
        log_config=None,  # uvicorn's lines go through smsgate's renderer (logs.py), not its own
        log_level=settings.log_level,
        server_header=False,
        proxy_headers=False,
        # On SIGTERM, requests in progress get the send grace (a send takes at most
        # SMSGATE_PLIVO_TIMEOUT); then a stalled client is cut off, so claimed queued
        # hand-offs still finish within systemd's TimeoutStopSec.
        timeout_graceful_shutdown=math.ceil(settings.send_grace),
    )
    tune_garbage_collector()
    address = f"http://{settings.host}:{settings.port}"
    if settings.log_format == "json":  # every line is JSON then, this one too
        get_logger("smsgate.serve").info(
            "serving", url=address, provider=settings.resolved_provider.value
        )
    else:
        typer.echo(
            f"smsgate serving {address} (provider: {settings.resolved_provider.value})",
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
    missing = half_configured_plivo(settings)
    if missing is not None:
        log.warning(
            "plivo_half_configured",
            problem=f"{missing} is not set, so the sandbox is used and nothing is sent",
        )


def keys_stored(settings: Settings) -> bool:
    """Whether the database holds API keys (migrating it first, as serve would)."""

    async def ask(services: Services) -> bool:
        return await services.api_keys.exist()

    return with_services(settings, ask, writes=True)


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
