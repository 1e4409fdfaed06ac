"""``smsgate prices show|update``: the price table used for cost estimates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import phonenumbers
import typer

from smsgate.bootstrap import build_plivo, check_provider, load_prices
from smsgate.cli.common import exiting, fail, load_settings
from smsgate.config import ProviderName
from smsgate.db.price_files import save_price_table
from smsgate.providers.base import PricingUnavailable
from smsgate.services.pricing import FetchedPrices, fetch_price_table

app = typer.Typer(help="Show and refresh the price table used for cost estimates.")


@app.command("show")
def prices_show() -> None:
    """Print the price table in use (SMSGATE_PRICE_TABLE, else the one shipped)."""
    settings = load_settings()
    with exiting():
        table = load_prices(settings)
    typer.echo(f"Price table: {table.origin}")
    typer.echo(f"Source: {table.source}")
    typer.echo(f"As of: {table.as_of}; {table.currency} per segment")
    for region, rate in sorted(table.rates.items()):
        typer.echo(f"  {region}  {rate}")
    if not table.rates:
        typer.echo("  (no countries priced: messages are stored without an estimated cost)")


@app.command("update")
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
    with exiting():
        check_provider(plivo)

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
