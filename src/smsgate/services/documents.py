"""The public documents, rendered in one place: a message, a queued batch, a webhook event.

The API, the CLI (``--json``, ``send-bulk``) and the webhooks show these, so each shape is
written once, here. What a provider's error code means is the provider's knowledge: the
describer is passed in (bootstrap passes Plivo's table), so neither this module nor its
callers import the provider.

Money is shown two ways, each as it always was: a message (JSON and CSV) shows the stored
``Decimal`` as it is (``str``), a webhook event with five decimals (``:.5f``). Stored amounts
come back from the column with five decimals, so the two agree on stored values.

Every document that carries money says its currency beside it (``currency``): the price
table's, the one currency smsgate counts in. ``estimated_cost`` is the table's rate times the
segments; ``amount`` is what Plivo charged, and Plivo bills in the account's currency, which
is the price table's by construction (the shipped table's is Plivo's USD, and ``prices
update`` writes the account's own rates). Rows keep no currency of their own, so a message
is shown in the currency of the table in use. ``currency`` is null where there is no money
to qualify (nothing estimated, nothing charged), and when smsgate has no price table to name
one (``Documents`` built without a currency); a webhook event then leaves the key out, so its
body is byte for byte what it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from smsgate.db.rows import Event, Message
from smsgate.db.webhook_rows import NewEvent, StatusChange
from smsgate.domain.message import MessageStatus
from smsgate.domain.senders import Sender
from smsgate.services.queueing import BatchReport, RowError

# A provider error code's meaning in words; None when there is nothing to say.
DescribeError = Callable[[str], str | None]

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
    # Appended, so that the columns before it keep their positions.
    "currency",
)


class Documents:
    """Renders the public documents; ``describe_error`` gives an error code's meaning, and
    ``currency`` is the price table's (None without one): the currency of all their money."""

    def __init__(self, describe_error: DescribeError, currency: str | None = None) -> None:
        self.describe_error = describe_error
        self.currency = currency

    def currency_of(self, *amounts: Decimal | None) -> str | None:
        """The currency of these amounts: the price table's; None when all are None."""
        return self.currency if any(amount is not None for amount in amounts) else None

    def message(self, message: Message, *, with_events: bool = False) -> dict[str, Any]:
        """A stored message, as the API shows it (and ``messages list/show --json``)."""
        document: dict[str, Any] = {
            "id": message.id,
            "to": message.to,
            "from": message.sender,
            "pool": message.pool,
            "text": message.text,
            "encoding": message.encoding,
            "segments": message.segments,
            "status": message.status.value,
            "provider": message.provider,
            "provider_message_uuid": message.provider_message_uuid,
            "error": self._message_error(message),
            "attempts": message.attempts,
            "units": message.units,
            "amount": _money(message.amount),
            "estimated_cost": _money(message.estimated_cost),
            "currency": self.currency_of(message.amount, message.estimated_cost),
            "api_key_id": message.api_key_id,
            "created_at": message.created_at.isoformat(),
            "updated_at": message.updated_at.isoformat(),
        }
        if with_events:
            document["events"] = [_event(event) for event in message.events]
        return document

    def csv_row(self, message: Message) -> list[str]:
        """One line of the CSV export (``CSV_COLUMNS``): no message text, on purpose."""
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
            self._meaning(message.error_code) or "",
            message.error_reason or "",
            "" if message.units is None else str(message.units),
            _money(message.estimated_cost) or "",
            _money(message.amount) or "",
            message.updated_at.isoformat(),
            self.currency_of(message.estimated_cost, message.amount) or "",
        ]

    def batch(self, report: BatchReport) -> dict[str, Any]:
        """The 202 of a queued batch: each stored message and each refused row, by position.

        ``index`` is a row's position in the request (0-based); rows read from a file also
        carry ``row``, the line it starts on (the header is line 1).
        """
        batch = report.batch
        messages: list[dict[str, Any]] = []
        for position, (placed, message_id) in enumerate(
            zip(report.recipients, batch.message_ids, strict=True)
        ):
            message: dict[str, Any] = {"index": placed.index}
            if placed.line is not None:
                message["row"] = placed.line
            message.update(to=placed.to, id=message_id, status=report.status_of(position).value)
            messages.append(message)
        opted_out = [
            RowError(
                placed.index,
                placed.to,
                "recipient_opted_out",
                "The recipient opted out (replied STOP); it is stored as rejected.",
                placed.line,
            )
            for position, placed in enumerate(report.recipients)
            if position in batch.opted_out
        ]
        errors = sorted([*report.errors, *opted_out], key=lambda row: row.index)
        accepted = sum(1 for m in messages if m["status"] == MessageStatus.ACCEPTED.value)
        return {
            "success": True,
            "batch_id": batch.id,
            "send_at": report.due_at.isoformat(),
            "expires_at": report.expires_at.isoformat() if report.expires_at else None,
            "accepted": accepted,
            "refused": len(errors),
            "messages": messages,
            "errors": [row.as_json() for row in errors],
        }

    def webhook_event(self, event: NewEvent) -> str:
        """The exact body posted to the user's endpoints: compact JSON, signed as it is."""
        data = (
            self._status_change(event.data)
            if isinstance(event.data, StatusChange)
            else dict(event.data)
        )
        body = {
            "id": event.id,
            "type": event.type,
            "occurred_at": event.occurred_at.isoformat(),
            "data": data,
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    def _status_change(self, change: StatusChange) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": change.message_id,
            "to": change.to,
            "status": change.status,
            "sequence": change.sequence,
            "error": self._event_error(change.error_code, change.error_reason),
            "segments": change.segments,
            "estimated_cost": _event_money(change.estimated_cost),
            "amount": _event_money(change.amount),
        }
        if self.currency is not None:
            data["currency"] = self.currency_of(change.estimated_cost, change.amount)
        data["batch_id"] = change.batch_id
        # Appended, and only when known, so that a body without them is what it always was.
        if change.sender is not None:
            data["from"] = change.sender
        if change.pool is not None:
            data["pool"] = change.pool
        return data

    def _message_error(self, message: Message) -> dict[str, Any] | None:
        if message.error_code is None and message.error_reason is None:
            return None
        return {
            "code": message.error_code,
            "meaning": self._meaning(message.error_code),
            "reason": message.error_reason,
        }

    def _event_error(self, code: str | None, reason: str | None) -> dict[str, Any] | None:
        if code is None and reason is None:
            return None
        meaning = self.describe_error(code) if code else None
        return {"code": code, "meaning": meaning, "reason": reason}

    def _meaning(self, code: str | None) -> str | None:
        return None if code is None else self.describe_error(code)


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


def _event_money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.5f}"


def sender_document(sender: Sender) -> dict[str, object]:
    """A registered sender, as the API shows it (and ``smsgate senders list --json``)."""
    return {
        "id": sender.id,
        "address": sender.address,
        "kind": sender.kind.value,
        "countries": sorted(sender.countries),
        "mps": sender.mps,
        "pools": list(sender.pools),
        "home": sender.home,
        "created_at": sender.created_at.isoformat() if sender.created_at else None,
    }
