"""How a stored message looks in the API (JSON) and in the CSV export."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from smsgate.db.rows import Event, Message
from smsgate.providers.plivo.errors import describe_error_code

CSV_COLUMNS = (
    "id",
    "created_at",
    "to",
    "from",
    "status",
    "encoding",
    "segments",
    "provider_message_uuid",
    "error_code",
    "error_meaning",
    "error_reason",
    "units",
    "estimated_cost",
    "amount",
    "updated_at",
)


def message_resource(message: Message, *, with_events: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": message.id,
        "to": message.to,
        "from": message.sender,
        "text": message.text,
        "encoding": message.encoding,
        "segments": message.segments,
        "status": message.status.value,
        "provider": message.provider,
        "provider_message_uuid": message.provider_message_uuid,
        "error": _error(message),
        "attempts": message.attempts,
        "units": message.units,
        "amount": _money(message.amount),
        "estimated_cost": _money(message.estimated_cost),
        "api_key_id": message.api_key_id,
        "created_at": message.created_at.isoformat(),
        "updated_at": message.updated_at.isoformat(),
    }
    if with_events:
        document["events"] = [_event(event) for event in message.events]
    return document


def csv_row(message: Message) -> list[str]:
    """One CSV line: no message text, which the export leaves out on purpose."""
    return [
        message.id,
        message.created_at.isoformat(),
        message.to,
        message.sender or "",
        message.status.value,
        message.encoding,
        str(message.segments),
        message.provider_message_uuid or "",
        message.error_code or "",
        describe_error_code(message.error_code) or "",
        message.error_reason or "",
        "" if message.units is None else str(message.units),
        _money(message.estimated_cost) or "",
        _money(message.amount) or "",
        message.updated_at.isoformat(),
    ]


def _error(message: Message) -> dict[str, Any] | None:
    if message.error_code is None and message.error_reason is None:
        return None
    return {
        "code": message.error_code,
        "meaning": describe_error_code(message.error_code),
        "reason": message.error_reason,
    }


def _event(event: Event) -> dict[str, Any]:
    return {
        "status": event.status.value,
        "applied": event.applied,
        "source": event.source,
        "at": event.at.isoformat(),
        "detail": event.detail,
    }


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)
