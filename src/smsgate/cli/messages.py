"""``smsgate messages list`` and ``messages show``: the store read directly, and printed.

The operator owns the data, so numbers are shown in full; the list leaves the texts out
(like the CSV export), ``show`` prints the one text asked for. Both only read: a database
that was never migrated is refused, not created. Money is in the price table's currency
(SMSGATE_PRICE_TABLE, else the shipped one), which both name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer

from smsgate.bootstrap import Services, build_documents, load_prices
from smsgate.cli.common import exiting, fail, load_settings, log_to_stderr, with_services
from smsgate.config import ConfigError, Settings
from smsgate.db.rows import Event, Message
from smsgate.domain.message import MessageStatus
from smsgate.services.documents import Documents

# A provider error code's meaning in words (bootstrap's Documents.describe_error).
Describe = Callable[[str], str | None]
_TIME = "%Y-%m-%d %H:%M:%S"

app = typer.Typer(help="List stored messages; show one with its timeline.")


@app.command("list")
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
    from smsgate.domain.phone import parse_phone_number

    settings = load_settings()
    with exiting(about="--to"):
        number = parse_phone_number(to, settings.default_region).e164 if to else None
    try:
        after = parse_since(since) if since else None
    except ValueError:
        fail("--since is not an ISO 8601 date or time, like 2026-01-31 or 2026-01-31T09:00:00Z")
    log_to_stderr(settings)

    async def newest(services: Services) -> list[Message]:
        return await services.store.list(status=status, to=number, created_after=after, limit=limit)

    found = with_services(settings, newest)
    documents = shown_documents(settings)
    if as_json:
        for message in found:
            typer.echo(orjson.dumps(documents.message(message)).decode())
        return
    if not found:
        typer.echo("No messages match.", err=True)
        return
    for line in message_lines(found):
        typer.echo(line)
    # On stderr, as "No messages match." is: stdout stays the table, one line per message.
    currency = documents.currency_of(*(message.estimated_cost for message in found))
    if currency is not None:
        typer.echo(f"EST. COST is in {currency}, the price table's currency.", err=True)


@app.command("show")
def messages_show(
    message_id: Annotated[str, typer.Argument(help="The message's id.", metavar="ID")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The message with its events, as the API shows it.")
    ] = False,
) -> None:
    """One message: its fields, Plivo's error in words, and its timeline of events."""
    settings = load_settings()
    log_to_stderr(settings)

    async def one(services: Services) -> Message | None:
        return await services.store.get(message_id.strip())

    message = with_services(settings, one)
    if message is None:
        fail(f"there is no message {message_id[:40]!r}; see smsgate messages list")
    documents = shown_documents(settings)
    if as_json:
        typer.echo(orjson.dumps(documents.message(message, with_events=True)).decode())
        return
    currency = documents.currency_of(message.estimated_cost, message.amount)
    for line in message_details(message, documents.describe_error, currency=currency):
        typer.echo(line)


def shown_documents(settings: Settings) -> Documents:
    """The documents, in the configured price table's currency. A read works whatever the
    table is: an unusable one is said on stderr, and the amounts are shown without one."""
    try:
        prices = load_prices(settings)
    except ConfigError as exc:
        typer.echo(f"smsgate: {exc}; amounts are shown without a currency", err=True)
        prices = None
    return build_documents(prices)


def parse_since(value: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC. Raises ValueError."""
    moment = datetime.fromisoformat(value.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def message_lines(messages: list[Message]) -> list[str]:
    """A header, then one line per message: no text, the number in full."""
    lines = [
        f"{'ID':<26}  {'CREATED (UTC)':<19}  {'TO':<16}  {'STATUS':<11}  {'SEG':>3}  "
        f"{'EST. COST':>9}  ERROR"
    ]
    for message in messages:
        cost = "" if message.estimated_cost is None else str(message.estimated_cost)
        lines.append(
            f"{message.id:<26}  {_utc(message.created_at):<19}  {message.to:<16}  "
            f"{message.status.value:<11}  {message.segments:>3}  {cost:>9}  {_error_short(message)}"
        )
    return [line.rstrip() for line in lines]


def message_details(
    message: Message, describe: Describe, *, currency: str | None = None
) -> list[str]:
    """The message's fields, its error in words, then its timeline, oldest first.
    ``currency`` is that of its cost (the price table's), on a line of its own."""
    fields: list[tuple[str, str]] = [
        ("to", message.to),
        ("from", message.sender or "(the provider's default)"),
        ("status", message.status.value),
        ("provider", _provider(message)),
        ("text", "(redacted)" if message.text is None else repr(message.text)),
        ("encoding", f"{message.encoding}, {message.segments} segment(s)"),
        ("cost", _cost(message)),
    ]
    if currency is not None:
        fields.append(("currency", currency))
    fields.append(("attempts", str(message.attempts)))
    if message.error_code is not None or message.error_reason is not None:
        fields.append(("error", _error_long(message, describe)))
    if message.batch_id is not None:
        fields.append(("batch", message.batch_id))
    if message.due_at is not None:
        fields.append(("due", _utc(message.due_at) + " UTC"))
    if message.expires_at is not None:
        fields.append(("expires", _utc(message.expires_at) + " UTC"))
    if message.api_key_id is not None:
        fields.append(("api key", message.api_key_id))
    if message.callback_url is not None:
        fields.append(("callback", message.callback_url))
    fields += [
        ("created", _utc(message.created_at) + " UTC"),
        ("updated", _utc(message.updated_at) + " UTC"),
    ]
    lines = [f"Message {message.id}"]
    lines += [f"  {name:<9} {value}" for name, value in fields]
    lines.append("Timeline (UTC)")
    if not message.events:
        lines.append("  (no events)")
    lines += [_event_line(event, describe) for event in message.events]
    return lines


def _event_line(event: Event, describe: Describe) -> str:
    applied = "" if event.applied else "  (kept; the status did not move)"
    detail = _detail(event.detail, describe)
    return f"  {_utc(event.at)}  {event.status.value:<11}  {event.source:<10}{detail}{applied}"


def _detail(detail: dict[str, Any] | None, describe: Describe) -> str:
    if not detail:
        return ""
    parts = []
    for key, value in detail.items():
        if value in (None, ""):
            continue
        text = f"{key}={value}"
        code = value if isinstance(value, str) and key.lower() == "errorcode" else None
        meaning = describe(code) if code is not None else None
        if meaning is not None and code not in ("0", "00", "000"):
            text += f" ({meaning})"
        parts.append(text)
    shown = ", ".join(parts)
    return f"  {shown[:200]}" if shown else ""


def _provider(message: Message) -> str:
    if message.provider_message_uuid is None:
        return message.provider
    return f"{message.provider}, message UUID {message.provider_message_uuid}"


def _cost(message: Message) -> str:
    estimated = "none" if message.estimated_cost is None else str(message.estimated_cost)
    text = f"estimated {estimated}"
    if message.amount is not None:
        units = f" for {message.units} unit(s)" if message.units is not None else ""
        text += f", charged {message.amount}{units}"
    return text


def _error_short(message: Message) -> str:
    if message.error_code is not None:
        return message.error_code
    return (message.error_reason or "")[:40]


def _error_long(message: Message, describe: Describe) -> str:
    parts = []
    if message.error_code is not None:
        meaning = describe(message.error_code)
        parts.append(f"Plivo error {message.error_code}: {meaning}")
    if message.error_reason:
        parts.append(message.error_reason)
    return "; ".join(parts)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME)
