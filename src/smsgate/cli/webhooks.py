"""``smsgate webhooks list|replay``: the webhook endpoints and their dead deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from smsgate.bootstrap import Services
from smsgate.cli.common import fail, load_settings, with_services
from smsgate.db.webhooks import DeliveryCounts, Endpoint

app = typer.Typer(help="See webhook endpoints and replay dead deliveries.")


@app.command("list")
def webhooks_list() -> None:
    """The endpoints in use, with how many deliveries are pending and dead."""
    settings = load_settings()

    async def overview(services: Services) -> list[tuple[Endpoint, int, int]]:
        # Two queries whatever the number of endpoints; the counts are exact at any size.
        counts = await services.webhooks.counts_by_state()
        rows = []
        for endpoint in await services.webhooks.endpoints():
            count = counts.get(endpoint.id, DeliveryCounts())
            rows.append((endpoint, count.pending, count.dead))
        return rows

    rows = with_services(settings, overview)
    if not rows:
        typer.echo("No webhook endpoints: POST /api/v1/webhooks to add one.", err=True)
        return
    typer.echo(f"{'ID':<27} {'PENDING':>7} {'DEAD':>5}  URL")
    for endpoint, pending, dead in rows:
        typer.echo(f"{endpoint.id:<27} {pending:>7} {dead:>5}  {endpoint.url}")


@app.command("replay")
def webhooks_replay(
    endpoint: Annotated[str, typer.Argument(help="The endpoint's id.")],
    delivery: Annotated[
        str | None, typer.Option("--delivery", help="One dead delivery; all when left out.")
    ] = None,
) -> None:
    """Make dead deliveries pending again: the deliverer sends them within a second."""
    settings = load_settings()

    async def replay(services: Services) -> int | None:
        if await services.webhooks.endpoint(endpoint) is None:
            return None
        return await services.webhooks.replay(endpoint, delivery)

    replayed = with_services(settings, replay, writes=True)
    if replayed is None:
        fail(f"no webhook endpoint has the id {endpoint[:40]!r}; see smsgate webhooks list")
    typer.echo(f"Replaying {replayed} dead deliver{'y' if replayed == 1 else 'ies'}.")
