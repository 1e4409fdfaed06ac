"""A message as smsgate stores it: the values callers get, and the rows they are written as.

Every writer of the messages and events tables builds its rows here (the inline send, the
queued batch, group commit), so a new column is added in one place, and the opt-out refusal is
written once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from smsgate.db.tables import MessageRow
from smsgate.domain.message import MessageStatus

OPTED_OUT = "The recipient opted out (replied STOP); nothing was sent."
REJECTED = MessageStatus.REJECTED.value


@dataclass(frozen=True, slots=True)
class NewMessage:
    to: str
    text: str
    encoding: str
    segments: int
    provider: str
    sender: str | None = None
    pool: str | None = None  # the pool its sender was chosen from
    estimated_cost: Decimal | None = None
    api_key_id: str | None = None  # the key that asked for it; None when smsgate is open
    callback_url: str | None = None  # where its status webhooks go too


@dataclass(frozen=True, slots=True)
class Event:
    status: MessageStatus
    applied: bool
    source: str
    at: datetime
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    to: str
    sender: str | None
    text: str | None
    encoding: str
    segments: int
    estimated_cost: Decimal | None
    status: MessageStatus
    provider: str
    provider_message_uuid: str | None
    error_code: str | None
    error_reason: str | None
    attempts: int
    units: int | None
    amount: Decimal | None
    created_at: datetime
    updated_at: datetime
    events: tuple[Event, ...] = ()
    batch_id: str | None = None
    due_at: datetime | None = None  # when a queued message is due; None if sent at once
    expires_at: datetime | None = None
    api_key_id: str | None = None
    callback_url: str | None = None
    pool: str | None = None  # the pool its sender is chosen from; None: a fixed sender


@dataclass(frozen=True, slots=True)
class Outcome:
    """What Plivo told us along with a status: whichever fields it carried."""

    provider_message_uuid: str | None = None
    error_code: str | None = None
    error_reason: str | None = None
    units: int | None = None
    amount: Decimal | None = None
    # The sender a claim chose from the message's pool, stored with the claim.
    sender: str | None = None

    def columns(self) -> dict[str, object]:
        """The fields that were given, by column name."""
        return {
            name: value for name in self.__slots__ if (value := getattr(self, name)) is not None
        }

    def applied_to(self, message: Message, status: MessageStatus) -> Message:
        """``message`` as the store holds it after a move to ``status`` with these fields."""
        return replace(
            message,
            status=status,
            provider_message_uuid=self.provider_message_uuid or message.provider_message_uuid,
            error_code=self.error_code or message.error_code,
            error_reason=self.error_reason or message.error_reason,
            units=self.units if self.units is not None else message.units,
            amount=self.amount if self.amount is not None else message.amount,
            sender=self.sender or message.sender,
        )


def message_row(message: Message) -> dict[str, object]:
    return {
        "id": message.id,
        "to_number": message.to,
        "sender": message.sender,
        "text": message.text,
        "encoding": message.encoding,
        "segments": message.segments,
        "estimated_cost": message.estimated_cost,
        "status": message.status.value,
        "provider": message.provider,
        "attempts": message.attempts,
        # Every column, always: rows of one executemany must share their keys.
        "provider_message_uuid": message.provider_message_uuid,
        "error_code": message.error_code,
        "error_reason": message.error_reason,
        "units": message.units,
        "amount": message.amount,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
        "batch_id": message.batch_id,
        "due_at": message.due_at,
        "expires_at": message.expires_at,
        "scheduled_at": message.due_at,
        "api_key_id": message.api_key_id,
        "callback_url": message.callback_url,
        "pool": message.pool,
    }


def event_row(message_id: str, event: Event) -> dict[str, object]:
    return {
        "message_id": message_id,
        "status": event.status.value,
        "applied": event.applied,
        "source": event.source,
        "at": event.at,
        "detail": event.detail,
    }


def message_from(row: MessageRow, events: Any) -> Message:
    return Message(
        id=row.id,
        to=row.to_number,
        sender=row.sender,
        text=row.text,
        encoding=row.encoding,
        segments=row.segments,
        estimated_cost=row.estimated_cost,
        status=MessageStatus(row.status),
        provider=row.provider,
        provider_message_uuid=row.provider_message_uuid,
        error_code=row.error_code,
        error_reason=row.error_reason,
        attempts=row.attempts,
        units=row.units,
        amount=row.amount,
        created_at=row.created_at,
        updated_at=row.updated_at,
        events=tuple(
            Event(MessageStatus(e.status), e.applied, e.source, e.at, e.detail) for e in events
        ),
        batch_id=row.batch_id,
        due_at=row.due_at,
        expires_at=row.expires_at,
        api_key_id=row.api_key_id,
        callback_url=row.callback_url,
        pool=row.pool,
    )


def refuse_opted_out(row: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """Turn a new message's row and events into those of one stored as rejected: opted out."""
    row.update(status=REJECTED, attempts=0, error_reason=OPTED_OUT)
    accepted = events[0]
    events[:] = [accepted, {**accepted, "status": REJECTED, "detail": {"reason": OPTED_OUT}}]
