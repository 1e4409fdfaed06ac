"""``smsgate send`` (one SMS now, through the configured provider) and ``smsgate segments``."""

from __future__ import annotations

import asyncio
from typing import Annotated

import orjson
import typer

from smsgate.bootstrap import Runtime
from smsgate.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_NOT_SENT,
    emit_error,
    fail,
    sending_settings,
    upgrade_database,
)
from smsgate.db.errors import StoreUnavailable
from smsgate.domain.encoding import analyse_text
from smsgate.domain.errors import DomainError
from smsgate.logs import configure_logging
from smsgate.services.handoff import describe_failure
from smsgate.services.sending import SendReport


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
