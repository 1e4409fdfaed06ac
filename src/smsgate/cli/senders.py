"""``smsgate senders add|list|remove``: the sender registry, from the command line.

The same rules as ``/api/v1/senders`` (``domain.senders``); a running ``serve`` or worker sees a
change within a second.
"""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from smsgate.bootstrap import Services
from smsgate.cli.common import fail, load_settings, log_to_stderr, with_services
from smsgate.domain.senders import DEFAULT_POOL, Sender
from smsgate.services.documents import sender_document
from smsgate.services.senders import SenderExists

app = typer.Typer(help="Register, list and remove the senders messages go from.")


@app.command("add")
def senders_add(
    address: Annotated[
        str,
        typer.Argument(
            help="A number in E.164 form, a short code, an alphanumeric ID or a Powerpack UUID."
        ),
    ],
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="long_code, toll_free, short_code, alphanumeric or powerpack; read from the "
            "address when left out.",
        ),
    ] = None,
    country: Annotated[
        list[str] | None,
        typer.Option("--country", help="A country it may send to (repeat it); none: anywhere."),
    ] = None,
    mps: Annotated[
        float | None,
        typer.Option(
            "--mps", help="Messages a second; defaults by kind (a Powerpack's is required)."
        ),
    ] = None,
    pool: Annotated[
        list[str] | None,
        typer.Option("--pool", help=f"A pool it joins (repeat it); default: {DEFAULT_POOL}."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the sender as JSON.")] = False,
) -> None:
    """Register a sender."""
    settings = load_settings()
    log_to_stderr(settings)

    async def add(services: Services) -> Sender:
        return await services.senders.add(
            address,
            kind=kind,
            countries=country or [],
            mps=mps,
            pools=pool if pool is not None else [DEFAULT_POOL],
        )

    try:
        sender = with_services(settings, add, writes=True)
    except SenderExists as exc:
        fail(f"{exc.existing.address} is registered already, as {exc.existing.id}")
    if as_json:
        typer.echo(orjson.dumps(sender_document(sender)).decode())
        return
    typer.echo(f"Registered {sender.kind.value} {sender.address} as {sender.id}.", err=True)
    typer.echo(sender.id)


@app.command("list")
def senders_list(
    pool: Annotated[str | None, typer.Option("--pool", help="Only this pool's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document per line.")] = False,
) -> None:
    """The registered senders, oldest first."""
    settings = load_settings()
    log_to_stderr(settings)

    async def listed(services: Services) -> list[Sender]:
        await services.senders.reload()
        registry = services.senders.registry
        return registry.pool(pool) if pool is not None else list(registry.senders)

    senders = with_services(settings, listed)
    if as_json:
        for sender in senders:
            typer.echo(orjson.dumps(sender_document(sender)).decode())
        return
    if not senders:
        default = settings.plivo_sender_id or "nothing (PLIVO_SENDER_ID is not set)"
        typer.echo(f"No senders registered: messages go from {default}.", err=True)
        return
    typer.echo(f"{'ID':<27} {'KIND':<13} {'MPS':>7}  {'ADDRESS':<37} {'COUNTRIES':<12} POOLS")
    for sender in senders:
        countries = ",".join(sorted(sender.countries)) or "any"
        typer.echo(
            f"{sender.id:<27} {sender.kind.value:<13} {sender.mps:>7g}  {sender.address:<37} "
            f"{countries:<12} {','.join(sender.pools) or '-'}"
        )


@app.command("remove")
def senders_remove(
    key: Annotated[str, typer.Argument(help="The sender's id or address.")],
) -> None:
    """Unregister a sender: no pool chooses it any more; its messages keep its address."""
    settings = load_settings()
    log_to_stderr(settings)

    async def remove(services: Services) -> Sender | None:
        return await services.senders.remove(key)

    removed = with_services(settings, remove, writes=True)
    if removed is None:
        fail(f"no sender has the id or address {key[:64]!r}; see smsgate senders list")
    typer.echo(f"Removed {removed.address} ({removed.id}).", err=True)
