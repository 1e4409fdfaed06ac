"""Queued messages: batches written in one transaction, due messages found, claims released.

The database is the source of truth for queued sending. A message waits as ``accepted`` with
the time it is ``due_at``; a dispatcher (in-process, or a worker told by the broker) claims it
with the store's compare-and-set, sends it, and records the outcome. Whatever the broker says
or loses, a row's status decides whether it may still be sent.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.db.batches import BatchProgress, NewBatch, StoredBatch
from smsgate.db.common import EVENTS, MESSAGES, OPT_OUTS, guarded
from smsgate.db.ids import new_id
from smsgate.db.locks import exclusive
from smsgate.db.rows import Event, Message, event_row, message_row, refuse_opted_out
from smsgate.db.senders import STICKY
from smsgate.db.tables import BatchRow
from smsgate.domain.clock import Clock, utc_now
from smsgate.domain.message import MessageStatus

BATCHES = cast(Table, BatchRow.__table__)
# Rows per INSERT statement: SQLite allows 32,766 parameters, and a message row takes 20.
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class DueMessage:
    """What a dispatcher needs to hand a queued message over, and nothing more."""

    id: str
    to: str
    text: str
    sender: str | None
    attempts: int
    created_at: datetime
    expires_at: datetime | None
    due_at: datetime | None = None
    scheduled_at: datetime | None = None  # when it was first due: retries age from this
    provider: str = ""  # the provider it goes to: a test key's messages go to the sandbox
    pool: str | None = None  # its sender is chosen from this pool at the hand-off
    # The id of the sender its recipient last got from the pool, when the message was read.
    sticky: str | None = None


@dataclass(frozen=True, slots=True)
class StaleHandOff:
    """A message left ``sending``: who it was for, and when it was claimed."""

    id: str
    to: str
    claimed_at: datetime
    queued: bool  # sent through the queue (it may be queued again), not inline
    provider: str = ""  # where it was being handed: a test key's go to the sandbox


class QueueStore:
    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    @guarded
    async def add_batch(self, batch: NewBatch) -> StoredBatch:
        """Store the batch and all its messages in one transaction: all of them, or none.

        Messages to numbers on the opt-out list are stored as ``rejected``, with the reason.
        """
        now = self._clock()
        batch_id = new_id()
        ids = [new_id() for _ in batch.messages]
        async with self._engine.begin() as connection:
            numbers = {m.to for m in batch.messages}
            opted_out_numbers: set[str] = set()
            for chunk in _chunks(sorted(numbers)):
                query = select(OPT_OUTS.c.number).where(OPT_OUTS.c.number.in_(chunk))
                opted_out_numbers.update((await connection.execute(query)).scalars())
            await connection.execute(
                insert(BATCHES),
                {
                    "id": batch_id,
                    "created_at": now,
                    "recipients": batch.recipients,
                    "invalid": batch.recipients - len(batch.messages),
                    "send_at": batch.send_at,
                    "validity_s": batch.validity_s,
                    "canceled_at": None,
                },
            )
            rows: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            opted_out: set[int] = set()
            for position, (message_id, message) in enumerate(zip(ids, batch.messages, strict=True)):
                due_at = message.due_at or batch.due_at
                accepted = Event(MessageStatus.ACCEPTED, True, "api", now, None)
                stored = Message(
                    id=message_id,
                    to=message.to,
                    sender=message.sender if message.sender or message.pool else batch.sender,
                    text=message.text,
                    encoding=message.encoding,
                    segments=message.segments,
                    estimated_cost=message.estimated_cost,
                    status=MessageStatus.ACCEPTED,
                    provider=batch.provider,
                    provider_message_uuid=None,
                    error_code=None,
                    error_reason=None,
                    attempts=0,
                    units=None,
                    amount=None,
                    created_at=now,
                    updated_at=now,
                    batch_id=batch_id,
                    due_at=due_at,
                    expires_at=message.expires_at or batch.expires_at,
                    api_key_id=batch.api_key_id,
                    callback_url=batch.callback_url,
                    pool=message.pool,
                )
                row, row_events = message_row(stored), [event_row(message_id, accepted)]
                if message.to in opted_out_numbers:
                    opted_out.add(position)
                    refuse_opted_out(row, row_events)
                rows.append(row)
                events.extend(row_events)
            for chunk in _chunks(rows):
                await connection.execute(insert(MESSAGES), chunk)
            for chunk in _chunks(events):
                await connection.execute(insert(EVENTS), chunk)
        due = [message.due_at or batch.due_at for message in batch.messages]
        return StoredBatch(batch_id, now, ids, opted_out, due)

    @guarded
    async def due(
        self, now: datetime, limit: int, *, batch_id: str | None = None
    ) -> list[DueMessage]:
        """Accepted messages whose time has come, the longest waiting first (of one batch
        only, with ``batch_id``)."""
        conditions = [MESSAGES.c.status == MessageStatus.ACCEPTED.value, MESSAGES.c.due_at <= now]
        if batch_id is not None:
            conditions.append(MESSAGES.c.batch_id == batch_id)
        query = (
            _DUE_COLUMNS.where(*conditions).order_by(MESSAGES.c.due_at, MESSAGES.c.id).limit(limit)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_due_message(row) for row in rows]

    @guarded
    async def backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """How many accepted messages are due by ``now``, and the earliest due time among them."""
        query = select(func.count(), func.min(MESSAGES.c.due_at)).where(
            MESSAGES.c.status == MessageStatus.ACCEPTED.value, MESSAGES.c.due_at <= now
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).one()
        return int(row[0]), row[1]

    @guarded
    async def counts_by_status(self) -> dict[str, int]:
        query = select(MESSAGES.c.status, func.count()).group_by(MESSAGES.c.status)
        async with self._engine.connect() as connection:
            return {str(row[0]): int(row[1]) for row in (await connection.execute(query)).all()}

    @guarded
    async def stale_sending(self, before: datetime, limit: int) -> list[StaleHandOff]:
        """Messages ``sending`` since before ``before``: their hand-off was cut off."""
        query = (
            select(
                MESSAGES.c.id,
                MESSAGES.c.to_number,
                MESSAGES.c.updated_at,
                MESSAGES.c.due_at,
                MESSAGES.c.provider,
            )
            .where(MESSAGES.c.status == MessageStatus.SENDING.value, MESSAGES.c.updated_at < before)
            .order_by(MESSAGES.c.updated_at)
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            StaleHandOff(
                row.id, row.to_number, row.updated_at, row.due_at is not None, row.provider
            )
            for row in rows
        ]

    @guarded
    async def waiting_many(self, message_ids: list[str]) -> list[DueMessage]:
        """Those of ``message_ids`` still ``accepted``, in one query (a worker's chunk)."""
        query = _DUE_COLUMNS.where(
            MESSAGES.c.id.in_(message_ids), MESSAGES.c.status == MessageStatus.ACCEPTED.value
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_due_message(row) for row in rows]

    @guarded
    async def touch(self, message_ids: list[str], now: datetime) -> None:
        """Make still-accepted messages due ``now``: a worker holding them renews its lease."""
        async with self._engine.begin() as connection:
            for chunk in _chunks(message_ids):
                await connection.execute(
                    update(MESSAGES)
                    .where(
                        MESSAGES.c.id.in_(chunk),
                        MESSAGES.c.status == MessageStatus.ACCEPTED.value,
                    )
                    .values(due_at=now)
                )

    @guarded
    async def overdue(self, before: datetime, limit: int) -> list[str]:
        """Accepted messages that were due before ``before``: their announcement was lost."""
        return await self._accepted(
            MESSAGES.c.due_at < before, order_by=MESSAGES.c.due_at, limit=limit
        )

    @guarded
    async def lapsed_holds(self, now: datetime, limit: int) -> list[str]:
        """Held messages (``release`` with no ``due_at``) whose retry never came by ``now``."""
        return await self._accepted(
            MESSAGES.c.due_at.is_(None), MESSAGES.c.expires_at <= now, limit=limit
        )

    async def _accepted(
        self, *conditions: Any, order_by: Any = None, limit: int | None = None
    ) -> list[str]:
        """The ids of accepted messages that meet ``conditions``."""
        query = select(MESSAGES.c.id).where(
            MESSAGES.c.status == MessageStatus.ACCEPTED.value, *conditions
        )
        if order_by is not None:
            query = query.order_by(order_by)
        async with self._engine.connect() as connection:
            return list((await connection.execute(query.limit(limit))).scalars())

    @guarded
    async def next_due_at(self, after: datetime, *, batch_id: str | None = None) -> datetime | None:
        """When the first accepted message due later than ``after`` falls due."""
        conditions = [MESSAGES.c.status == MessageStatus.ACCEPTED.value, MESSAGES.c.due_at > after]
        if batch_id is not None:
            conditions.append(MESSAGES.c.batch_id == batch_id)
        query = select(func.min(MESSAGES.c.due_at)).where(*conditions)
        async with self._engine.connect() as connection:
            moment: datetime | None = await connection.scalar(query)
        return moment

    @guarded
    async def release(
        self,
        message_id: str,
        due_at: datetime | None,
        reason: str,
        *,
        claimed_at: datetime | None = None,
        held_until: datetime | None = None,
    ) -> bool:
        """Give a claim back: ``sending`` to ``accepted``, due again at ``due_at``.

        Only for a hand-off the provider certainly did not take (see ``domain.message``).
        ``claimed_at`` makes it a compare-and-set on that very claim (the row's
        ``updated_at``), so a later claim of the same message is never released by mistake.
        A message whose batch was canceled meanwhile is canceled instead. False if the
        message was not ``sending`` (with that claim).

        ``due_at`` None holds the message instead: no dispatcher ever takes it; it waits for
        the retry of the request that sent it (its ``Idempotency-Key``) until ``held_until``,
        and then expires (``lapsed_holds``).
        """
        now = self._clock()
        conditions = [MESSAGES.c.id == message_id, MESSAGES.c.status == MessageStatus.SENDING.value]
        if claimed_at is not None:
            conditions.append(MESSAGES.c.updated_at == claimed_at)
        canceled = (
            select(BATCHES.c.canceled_at)
            .where(BATCHES.c.id == MESSAGES.c.batch_id)
            .scalar_subquery()
        )
        async with self._engine.begin() as connection:
            batch_canceled = await connection.scalar(
                select(canceled.isnot(None)).where(MESSAGES.c.id == message_id)
            )
            status = MessageStatus.CANCELED if batch_canceled else MessageStatus.ACCEPTED
            values: dict[str, object] = {
                "status": status.value,
                "due_at": due_at,
                "updated_at": now,
            }
            if held_until is not None:
                # The reason is in the event only: the retry is the caller's, and a message it
                # then sends must not carry this as its error.
                values["expires_at"] = held_until
            else:
                values["error_reason"] = reason
            move = update(MESSAGES).where(*conditions).values(**values)
            if (await connection.execute(move)).rowcount != 1:
                return False
            detail: dict[str, object]
            if status is MessageStatus.CANCELED:
                detail = {"reason": f"its batch was canceled; nothing was sent ({reason})"}
            elif due_at is None:
                until = held_until.isoformat() if held_until is not None else None
                detail = {"held_until": until, "reason": reason}
            else:
                detail = {"retry_at": due_at.isoformat(), "reason": reason}
            event = Event(status, True, "retry", now, detail)
            await connection.execute(insert(EVENTS), event_row(message_id, event))
        return status is MessageStatus.ACCEPTED

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Whether this process may do the job ``name`` now: one process at a time
        (``db.locks.exclusive``, on this store's database)."""
        return exclusive(self._engine, name)

    @guarded
    async def progress(self, batch_id: str) -> BatchProgress | None:
        async with self._engine.connect() as connection:
            batch = (
                await connection.execute(select(BATCHES).where(BATCHES.c.id == batch_id))
            ).first()
            if batch is None:
                return None
            counted = await connection.execute(
                select(MESSAGES.c.status, func.count())
                .where(MESSAGES.c.batch_id == batch_id)
                .group_by(MESSAGES.c.status)
            )
            counts: dict[str, int] = {str(row[0]): int(row[1]) for row in counted.all()}
        return BatchProgress(
            id=batch.id,
            created_at=batch.created_at,
            recipients=batch.recipients,
            invalid=batch.invalid,
            send_at=batch.send_at,
            validity_s=batch.validity_s,
            canceled_at=batch.canceled_at,
            counts=counts,
        )

    @guarded
    async def pending_ids(self, batch_id: str) -> list[str]:
        """The batch's messages still ``accepted``: those a cancel can still stop."""
        return await self._accepted(MESSAGES.c.batch_id == batch_id)

    @guarded
    async def mark_canceled(self, batch_id: str) -> bool:
        """Note when the batch was canceled (the first time); False if there is no such batch."""
        now = self._clock()
        async with self._engine.begin() as connection:
            exists = await connection.scalar(select(BATCHES.c.id).where(BATCHES.c.id == batch_id))
            if exists is None:
                return False
            await connection.execute(
                update(BATCHES)
                .where(BATCHES.c.id == batch_id, BATCHES.c.canceled_at.is_(None))
                .values(canceled_at=now)
            )
        return True


_DUE_COLUMNS = select(
    MESSAGES.c.id,
    MESSAGES.c.to_number,
    MESSAGES.c.text,
    MESSAGES.c.sender,
    MESSAGES.c.attempts,
    MESSAGES.c.created_at,
    MESSAGES.c.expires_at,
    MESSAGES.c.due_at,
    MESSAGES.c.scheduled_at,
    MESSAGES.c.provider,
    MESSAGES.c.pool,
    # The sender the recipient last got from the message's pool, read with the message so the
    # hand-off needs no query of its own for it (``services.sticky_senders``).
    STICKY.c.sender_id.label("sticky"),
).select_from(
    MESSAGES.outerjoin(
        STICKY, and_(STICKY.c.pool == MESSAGES.c.pool, STICKY.c.to_number == MESSAGES.c.to_number)
    )
)


def _due_message(row: Any) -> DueMessage:
    return DueMessage(
        id=row.id,
        to=row.to_number,
        text=row.text or "",
        sender=row.sender,
        attempts=row.attempts,
        created_at=row.created_at,
        expires_at=row.expires_at,
        due_at=row.due_at,
        scheduled_at=row.scheduled_at,
        provider=row.provider,
        pool=row.pool,
        sticky=row.sticky,
    )


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
