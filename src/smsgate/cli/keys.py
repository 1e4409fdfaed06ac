"""``smsgate keys create|list|revoke``: the API keys in the database."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from smsgate.bootstrap import Services
from smsgate.cli.common import exiting, fail, load_settings, with_services
from smsgate.db.api_keys import StoredKey
from smsgate.domain.access import DEFAULT_SCOPES, format_scopes, parse_scopes
from smsgate.domain.api_keys import is_whole_key, shown_prefix

app = typer.Typer(help="Create, list and revoke API keys.")


@app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="What the key is for, e.g. 'web shop'.")],
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="Comma-separated: send (send and cancel), read (messages, batches), "
            "admin (everything, keys included).",
        ),
    ] = format_scopes(DEFAULT_SCOPES),
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
    with exiting(about="--scope"):
        scopes = parse_scopes(scope)
    settings = load_settings()

    async def create(services: Services) -> tuple[StoredKey, str]:
        return await services.api_keys.create(cleaned, scopes, test=test)

    record, key = with_services(settings, create, writes=True)
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


@app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """List the keys: prefix, name, scopes, mode, last use; revoked ones are marked."""
    settings = load_settings()

    async def everything(services: Services) -> list[StoredKey]:
        return await services.api_keys.all()

    keys = with_services(settings, everything)
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


@app.command("revoke")
def keys_revoke(
    key: Annotated[
        str, typer.Argument(help="The key's prefix (sg_live_AbC12345), its id, or the key itself.")
    ],
) -> None:
    """Revoke a key: every request with it is refused from now on, in every process."""
    handle = key.strip()
    settings = load_settings()

    async def revoke(services: Services) -> StoredKey | None:
        return await services.api_keys.revoke_by_handle(handle)

    revoked = with_services(settings, revoke, writes=True)
    if revoked is None:
        # A whole key (a leaked one, say) is never repeated back.
        named = f"'{shown_prefix(handle)}...'" if is_whole_key(handle) else repr(handle[:40])
        fail(f"no key has the prefix or id {named}; see smsgate keys list")
    typer.echo(f"Revoked '{revoked.name}' ({revoked.prefix}).")
