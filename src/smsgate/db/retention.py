"""Retention in the database: old texts redacted, old rows deleted, a chunk at a time.

Each chunk (``CHUNK`` rows) is one short transaction, so retention never holds a lock for
long, whatever the backlog; a pause between chunks lets other work in (on SQLite, which runs
on the event loop's thread, that is every request).

A message is only touched once nothing will read its text again:

- it is final (``domain.message.TERMINAL``: delivered, undelivered, failed, rejected,
  expired, canceled), or
- it was handed to the provider (``queued``, ``sent``, ``unknown``) and has not changed since
  the cutoff either: a delivery report may still move it, but nothing sends it again.

``accepted`` and ``sending`` messages are never touched, however old: the first are still to
be sent, and a hand-off cut off mid-send may be queued again by the reconciler, which needs
the text.

Texts of inbound messages go at the text cutoff too (with the ``Text`` of the fields Plivo
posted), and so do webhook events (their bodies can hold an inbound text) whose deliveries
are all over, with their deliveries and attempts, and undelivered outbox rows. Message rows
(with their timelines), inbound rows, and batches with no message left go at the row cutoff.
Opt-outs are kept: they are why a number is not texted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, exists, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from smsgate.db.common import EVENTS, MESSAGES, guarded
from smsgate.db.queue import BATCHES
from smsgate.db.tables import InboundRow
from smsgate.db.webhook_rows import ATTEMPTS, DELIVERIES, OUTBOX, PENDING, WEBHOOK_EVENTS
from smsgate.domain.message import TERMINAL, MessageStatus

INBOUND = cast(Table, InboundRow.__table__)

# Rows per transaction.
CHUNK = 1000

FINAL = sorted(status.value for status in TERMINAL)
# Handed to the provider: never sent again, but a report may still come, so only once quiet.
HANDED_OVER = sorted(
    s.value for s in (MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.UNKNOWN)
)


@dataclass(frozen=True, slots=True)
class RetentionCounts:
    """What one pass changed, by kind: counts only."""

    messages_redacted: int = 0
    messages_deleted: int = 0
    message_events_deleted: int = 0
    inbound_redacted: int = 0
    inbound_deleted: int = 0
    webhook_events_deleted: int = 0
    webhook_deliveries_deleted: int = 0
    webhook_attempts_deleted: int = 0
    webhook_outbox_deleted: int = 0
    batches_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())


def settled(cutoff: datetime) -> ColumnElement[bool]:
    """Messages created before ``cutoff`` whose text nothing will read again (see above)."""
    return and_(
        MESSAGES.c.created_at < cutoff,
        or_(
            MESSAGES.c.status.in_(FINAL),
            and_(MESSAGES.c.status.in_(HANDED_OVER), MESSAGES.c.updated_at < cutoff),
        ),
    )


# A position in a scan ordered by (time, id): rows are taken after it.
Position = tuple[datetime, str]
Chunk = Callable[[AsyncConnection, Sequence[Row[Any]]], Awaitable[dict[str, int]]]


class RetentionStore:
    def __init__(self, engine: AsyncEngine, *, chunk: int = CHUNK, pause: float = 0.01) -> None:
        self._engine = engine
        self._chunk = chunk
        self._pause = pause
        # Where the last pass's redaction scans may start again: everything before was
        # redacted then, or had no text. Kept in memory: a new process scans from the start.
        self._redacted_up_to: dict[str, Position] = {}

    @guarded
    async def apply(self, *, text_before: datetime, rows_before: datetime) -> RetentionCounts:
        """Redact texts from before ``text_before``, delete rows from before ``rows_before``."""
        counts: dict[str, int] = {}
        for step in (
            self._delete_messages(rows_before),
            self._redact_messages(text_before),
            self._delete_inbound(rows_before),
            self._redact_inbound(text_before),
            self._delete_webhook_events(text_before),
            self._delete_outbox(text_before),
            self._delete_batches(rows_before),
        ):
            for name, count in (await step).items():
                counts[name] = counts.get(name, 0) + count
        return RetentionCounts(**counts)

    # Messages.

    async def _redact_messages(self, before: datetime) -> dict[str, int]:
        async def redact(connection: AsyncConnection, rows: Sequence[Row[Any]]) -> dict[str, int]:
            ids = [row.id for row in rows if row.eligible]
            if not ids:
                return {}
            result = await connection.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id.in_(ids), MESSAGES.c.text.is_not(None))
                .values(text=None)
            )
            return {"messages_redacted": _count(result)}

        return await self._redaction_scan(
            "messages",
            select(
                MESSAGES.c.id, MESSAGES.c.created_at.label("at"), settled(before).label("eligible")
            ).where(MESSAGES.c.created_at < before, MESSAGES.c.text.is_not(None)),
            MESSAGES.c.created_at,
            MESSAGES.c.id,
            before,
            redact,
        )

    async def _delete_messages(self, before: datetime) -> dict[str, int]:
        async def remove(connection: AsyncConnection, rows: Sequence[Row[Any]]) -> dict[str, int]:
            # Eligibility is checked again in the statements: a row may have moved since.
            ids = select(MESSAGES.c.id).where(
                MESSAGES.c.id.in_([row.id for row in rows]), settled(before)
            )
            # Explicitly, not only by the foreign key's ON DELETE CASCADE: that needs
            # PRAGMA foreign_keys on SQLite (db/engine.py sets it), and this way it is counted.
            events = await connection.execute(delete(EVENTS).where(EVENTS.c.message_id.in_(ids)))
            messages = await connection.execute(
                delete(MESSAGES).where(MESSAGES.c.id.in_([row.id for row in rows]), settled(before))
            )
            return {"messages_deleted": _count(messages), "message_events_deleted": _count(events)}

        return await self._scan(
            select(MESSAGES.c.id, MESSAGES.c.created_at.label("at")).where(settled(before)),
            MESSAGES.c.created_at,
            MESSAGES.c.id,
            remove,
        )

    # Inbound messages.

    async def _redact_inbound(self, before: datetime) -> dict[str, int]:
        async def redact(connection: AsyncConnection, rows: Sequence[Row[Any]]) -> dict[str, int]:
            if not rows:
                return {}
            # The text is in the fields Plivo posted too; the other fields stay.
            statement = (
                update(INBOUND)
                .where(INBOUND.c.id == bindparam("row_id"), INBOUND.c.text.is_not(None))
                .values(text=None, raw=bindparam("redacted_raw"))
            )
            values = [{"row_id": row.id, "redacted_raw": _without_text(row.raw)} for row in rows]
            result = await connection.execute(statement, values)
            return {"inbound_redacted": _count(result)}

        return await self._redaction_scan(
            "inbound",
            select(INBOUND.c.id, INBOUND.c.received_at.label("at"), INBOUND.c.raw).where(
                INBOUND.c.received_at < before, INBOUND.c.text.is_not(None)
            ),
            INBOUND.c.received_at,
            INBOUND.c.id,
            before,
            redact,
        )

    async def _delete_inbound(self, before: datetime) -> dict[str, int]:
        async def remove(connection: AsyncConnection, rows: Sequence[Row[Any]]) -> dict[str, int]:
            result = await connection.execute(
                delete(INBOUND).where(INBOUND.c.id.in_([row.id for row in rows]))
            )
            return {"inbound_deleted": _count(result)}

        return await self._scan(
            select(INBOUND.c.id, INBOUND.c.received_at.label("at")).where(
                INBOUND.c.received_at < before
            ),
            INBOUND.c.received_at,
            INBOUND.c.id,
            remove,
        )

    # Webhooks.

    async def _delete_webhook_events(self, before: datetime) -> dict[str, int]:
        pending = exists().where(
            DELIVERIES.c.event_id == WEBHOOK_EVENTS.c.id, DELIVERIES.c.state == PENDING
        )

        async def remove(connection: AsyncConnection, rows: Sequence[Row[Any]]) -> dict[str, int]:
            events = select(WEBHOOK_EVENTS.c.id).where(
                WEBHOOK_EVENTS.c.id.in_([row.id for row in rows]), ~pending
            )
            deliveries = select(DELIVERIES.c.id).where(DELIVERIES.c.event_id.in_(events))
            attempts = await connection.execute(
                delete(ATTEMPTS).where(ATTEMPTS.c.delivery_id.in_(deliveries))
            )
            removed_deliveries = await connection.execute(
                delete(DELIVERIES).where(DELIVERIES.c.event_id.in_(events))
            )
            removed_events = await connection.execute(
                delete(WEBHOOK_EVENTS).where(
                    WEBHOOK_EVENTS.c.id.in_([row.id for row in rows]), ~pending
                )
            )
            return {
                "webhook_events_deleted": _count(removed_events),
                "webhook_deliveries_deleted": _count(removed_deliveries),
                "webhook_attempts_deleted": _count(attempts),
            }

        return await self._scan(
            select(WEBHOOK_EVENTS.c.id, WEBHOOK_EVENTS.c.created_at.label("at")).where(
                WEBHOOK_EVENTS.c.created_at < before, ~pending
            ),
            WEBHOOK_EVENTS.c.created_at,
            WEBHOOK_EVENTS.c.id,
            remove,
        )

    async def _delete_outbox(self, before: datetime) -> dict[str, int]:
        """Changes never turned into events (no deliverer ran): an inbound one holds a text."""

        async def remove(connection: AsyncConnection, rows: Sequence[Row[Any]]) -> dict[str, int]:
            result = await connection.execute(
                delete(OUTBOX).where(OUTBOX.c.id.in_([row.id for row in rows]))
            )
            return {"webhook_outbox_deleted": _count(result)}

        return await self._scan(
            select(OUTBOX.c.id, OUTBOX.c.created_at.label("at")).where(
                OUTBOX.c.created_at < before
            ),
            OUTBOX.c.created_at,
            OUTBOX.c.id,
            remove,
        )

    # Batches.

    async def _delete_batches(self, before: datetime) -> dict[str, int]:
        empty = ~exists().where(MESSAGES.c.batch_id == BATCHES.c.id)

        async def remove(connection: AsyncConnection, rows: Sequence[Row[Any]]) -> dict[str, int]:
            result = await connection.execute(
                delete(BATCHES).where(BATCHES.c.id.in_([row.id for row in rows]), empty)
            )
            return {"batches_deleted": _count(result)}

        return await self._scan(
            select(BATCHES.c.id, BATCHES.c.created_at.label("at")).where(
                BATCHES.c.created_at < before, empty
            ),
            BATCHES.c.created_at,
            BATCHES.c.id,
            remove,
        )

    # Scans.

    async def _scan(
        self,
        query: Any,
        at: ColumnElement[datetime],
        key: ColumnElement[str],
        chunk: Chunk,
        start: Position | None = None,
    ) -> dict[str, int]:
        """Run ``chunk`` on the rows of ``query`` in (``at``, ``key``) order, a chunk per
        transaction. Paged by position, so rows a chunk leaves alone are not read again."""
        counts: dict[str, int] = {}
        after = start
        while True:
            page = query.order_by(at, key).limit(self._chunk)
            if after is not None:
                page = page.where(or_(at > after[0], and_(at == after[0], key > after[1])))
            async with self._engine.begin() as connection:
                rows = (await connection.execute(page)).all()
                if not rows:
                    break
                for name, count in (await chunk(connection, rows)).items():
                    counts[name] = counts.get(name, 0) + count
            after = (rows[-1].at, rows[-1].id)
            if len(rows) < self._chunk:
                break
            await asyncio.sleep(self._pause)
        return counts

    async def _redaction_scan(
        self,
        name: str,
        query: Any,
        at: ColumnElement[datetime],
        key: ColumnElement[str],
        before: datetime,
        chunk: Chunk,
    ) -> dict[str, int]:
        """``_scan`` from where the last pass could stop: rows with a text left before there
        are rows a pass skipped (not yet settled), and the next pass starts at the first."""
        start = self._redacted_up_to.get(name)
        first_skipped: Position | None = None

        async def tracking(connection: AsyncConnection, rows: Sequence[Row[Any]]) -> dict[str, int]:
            nonlocal first_skipped
            if first_skipped is None:
                kept = next((row for row in rows if not getattr(row, "eligible", True)), None)
                if kept is not None:
                    # Every id sorts after "": the next pass reads this row again.
                    first_skipped = (kept.at, "")
            return await chunk(connection, rows)

        counts = await self._scan(query, at, key, tracking, start=start)
        self._redacted_up_to[name] = first_skipped or (before, "")
        return counts


def _without_text(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    return {name: value for name, value in raw.items() if name != "Text"}


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
