"""Inbound messages: what people texted to our numbers, each stored once.

Plivo posts an inbound message again when it did not get a 200 in time, with the same
``MessageUUID``; the unique column and ``INSERT ... ON CONFLICT DO NOTHING`` keep one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from smsgate.db.common import guarded
from smsgate.db.engine import insert_or_ignore
from smsgate.db.ids import new_id
from smsgate.db.tables import InboundRow
from smsgate.db.webhook_rows import INBOUND, insert_outbox, outbox_row

__all__ = ["InboundMessage", "InboundSms", "InboundStore"]


@dataclass(frozen=True, slots=True)
class InboundSms:
    """An inbound message as Plivo posted it, numbers already normalised by the caller."""

    from_number: str
    to_number: str
    text: str | None
    received_at: datetime
    provider_message_uuid: str | None = None
    units: int | None = None
    intent: str | None = None
    raw: dict[str, str] = field(default_factory=dict)  # every field Plivo posted


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """An inbound message as stored: :class:`InboundSms` with its id."""

    id: str
    from_number: str
    to_number: str
    text: str | None
    received_at: datetime
    provider_message_uuid: str | None
    units: int | None
    intent: str | None
    raw: dict[str, Any]


class InboundStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @guarded
    async def add(self, sms: InboundSms) -> bool:
        """Store ``sms``; False when its ``MessageUUID`` is stored already (a Plivo retry)."""
        values = {
            "id": new_id(),
            "provider_message_uuid": sms.provider_message_uuid,
            "from_number": sms.from_number,
            "to_number": sms.to_number,
            "text": sms.text,
            "units": sms.units,
            "intent": sms.intent,
            "received_at": sms.received_at,
            "raw": dict(sms.raw),
        }
        async with self._sessions.begin() as session:
            insert = _insert_ignoring_duplicates(session, values)
            result = cast(CursorResult[Any], await session.execute(insert))
            if result.rowcount != 1:
                return False
            # In the same transaction: stored once, announced once (webhooks).
            data = {
                "id": values["id"],
                "from": sms.from_number,
                "to": sms.to_number,
                "text": sms.text,
                "units": sms.units,
                "received_at": sms.received_at.isoformat(),
            }
            await session.execute(insert_outbox(), outbox_row(INBOUND, sms.received_at, data))
            return True

    @guarded
    async def list(self, limit: int = 50, before_id: str | None = None) -> list[InboundMessage]:
        """Newest first; pass the last id of a page as ``before_id`` for the next."""
        query = select(InboundRow).order_by(InboundRow.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(InboundRow.id < before_id)
        async with self._sessions() as session:
            rows = (await session.execute(query)).scalars().all()
            return [_inbound(row) for row in rows]


def _insert_ignoring_duplicates(session: AsyncSession, values: Mapping[str, object]) -> Insert:
    dialect = session.get_bind().dialect.name
    statement: Insert = insert_or_ignore(
        dialect, InboundRow, [InboundRow.provider_message_uuid]
    ).values(values)
    return statement


def _inbound(row: InboundRow) -> InboundMessage:
    return InboundMessage(
        id=row.id,
        from_number=row.from_number,
        to_number=row.to_number,
        text=row.text,
        received_at=row.received_at,
        provider_message_uuid=row.provider_message_uuid,
        units=row.units,
        intent=row.intent,
        raw=row.raw,
    )
