"""The message store: messages and their status timelines, over any SQLAlchemy async engine.

Callers get plain, frozen ``Message`` values, never mapped rows: no session is held open
after a call returns, so none can be held across a call to Plivo.

Status changes are compare-and-set: an ``UPDATE ... WHERE status = <the status we read>``,
retried when another writer got there first. That is safe on PostgreSQL and on SQLite alike,
where a read-then-write transaction could otherwise fail or overwrite a concurrent change.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from smsgate.db.common import EVENTS, MESSAGES, OPT_OUTS, guarded
from smsgate.db.errors import StoreUnavailable
from smsgate.db.group_commit import Change, GroupCommit, Insert, Write, is_claim, refused_claim
from smsgate.db.ids import new_id
from smsgate.db.rows import (
    OPTED_OUT,
    Event,
    Message,
    NewMessage,
    Outcome,
    event_row,
    message_from,
    message_row,
    refuse_opted_out,
)
from smsgate.db.tables import ApiKeyRow, MessageRow
from smsgate.domain.clock import Clock, utc_now
from smsgate.domain.message import MessageStatus, Transition, decide


class MessageStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock = utc_now) -> None:
        self._sessions = sessions
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._clock = clock
        # SQLite runs on this thread: one writer. PostgreSQL works while we wait: a few.
        workers = 1 if self._engine.dialect.name == "sqlite" else 4
        self._group = GroupCommit(
            self._engine, MESSAGES, EVENTS, OPT_OUTS, self._apply_alone, workers=workers
        )

    async def close(self) -> None:
        """Write what is queued, then stop the group-commit writer."""
        await self._group.close()

    @guarded
    async def add(
        self,
        new: NewMessage,
        *,
        source: str = "api",
        claimed: bool = False,
        unless_opted_out: bool = False,
    ) -> Message:
        """Store a message as ``accepted``, with the first event of its timeline.

        ``claimed`` stores it already ``sending`` (both events written), for a caller that
        hands it to the provider at once: no other worker can see it as ``accepted`` in between,
        so it needs no separate claim, and the send costs one transaction less.

        ``unless_opted_out`` checks the opt-out list in the same transaction; a message to an
        opted-out number is stored (and returned) as ``rejected``, with the reason.
        """
        now = self._clock()
        statuses = [MessageStatus.ACCEPTED] + ([MessageStatus.SENDING] if claimed else [])
        message = Message(
            id=new_id(),
            to=new.to,
            sender=new.sender,
            text=new.text,
            encoding=new.encoding,
            segments=new.segments,
            estimated_cost=new.estimated_cost,
            status=statuses[-1],
            provider=new.provider,
            provider_message_uuid=None,
            error_code=None,
            error_reason=None,
            attempts=1 if claimed else 0,
            units=None,
            amount=None,
            created_at=now,
            updated_at=now,
            events=tuple(Event(status, True, source, now, None) for status in statuses),
            api_key_id=new.api_key_id,
            callback_url=new.callback_url,
            pool=new.pool,
        )
        # Core statements through group commit, not the ORM's unit of work in a transaction of
        # its own: measured, those cost more than all the rest of a send (docs/benchmarks.md).
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        events = [event_row(message.id, event) for event in message.events]
        await self._group.submit(Insert(message_row(message), events, done, unless_opted_out))
        if await done:  # refused: the number opted out
            return replace(
                message,
                status=MessageStatus.REJECTED,
                attempts=0,
                error_reason=OPTED_OUT,
                events=(
                    message.events[0],
                    Event(MessageStatus.REJECTED, True, source, now, {"reason": OPTED_OUT}),
                ),
            )
        return message

    async def _apply_alone(self, write: Write) -> None:
        """Apply one write in its own transaction (group commit's fallback) and resolve it."""
        try:
            if isinstance(write, Insert):
                async with self._engine.begin() as connection:
                    number = write.row["to_number"]
                    if write.unless_opted_out and await connection.scalar(
                        select(OPT_OUTS.c.number).where(OPT_OUTS.c.number == number)
                    ):
                        refuse_opted_out(write.row, write.events)
                    await connection.execute(insert(MESSAGES), write.row)
                    await connection.execute(insert(EVENTS), write.events)
                result: object = write.row["status"] == MessageStatus.REJECTED.value
            else:
                result = await _record_alone(self._engine, write)
        except (SQLAlchemyError, OSError) as exc:
            if not write.done.done():
                write.done.set_exception(StoreUnavailable(type(exc).__name__))
            return
        except Exception as exc:
            if not write.done.done():
                write.done.set_exception(exc)
            return
        if not write.done.done():
            write.done.set_result(result)  # type: ignore[arg-type]

    @guarded
    async def get(self, message_id: str) -> Message | None:
        async with self._sessions() as session:
            row = await session.get(
                MessageRow, message_id, options=[selectinload(MessageRow.events)]
            )
            return message_from(row, row.events) if row is not None else None

    @guarded
    async def find_by_provider_uuid(self, provider_message_uuid: str) -> Message | None:
        query = select(MessageRow).where(MessageRow.provider_message_uuid == provider_message_uuid)
        async with self._sessions() as session:
            row = (await session.execute(query)).scalar_one_or_none()
            return message_from(row, ()) if row is not None else None

    @guarded
    async def claim(
        self, message_id: str, *, source: str = "dispatcher", sender: str | None = None
    ) -> bool:
        """Move ``accepted`` to ``sending`` if nobody else has: the one gate before Plivo.

        True for exactly one caller however many race (processes included): the move is a
        compare-and-set, an UPDATE conditional on the status, and its row count says who won.
        Claims are group-committed like every other status change. ``sender``: the sender
        chosen from the message's pool for this hand-off, stored with the claim.
        """
        done: asyncio.Future[Transition | None] = asyncio.get_running_loop().create_future()
        change = Change(
            message_id,
            MessageStatus.SENDING,
            self._clock(),
            source,
            {"sender": sender} if sender is not None else {},
            None,
            done,
            expected=MessageStatus.ACCEPTED,
            keep_refused=False,
        )
        await self._group.submit(change)
        decision = await done
        # Not claimed either when the number opted out meanwhile: it is rejected instead.
        return decision is not None and decision.applied and decision.new is MessageStatus.SENDING

    @guarded
    async def record(
        self,
        message_id: str,
        status: MessageStatus,
        *,
        source: str,
        outcome: Outcome | None = None,
        detail: dict[str, Any] | None = None,
        expected: MessageStatus | None = None,
        keep_refused: bool = True,
    ) -> Transition | None:
        """Record that ``status`` was reported, and move the message if that is forward.

        The event is stored either way; the outcome's fields are only written with a move.
        None when there is no such message.
        """
        done: asyncio.Future[Transition | None] = asyncio.get_running_loop().create_future()
        columns = outcome.columns() if outcome is not None else {}
        change = Change(
            message_id, status, self._clock(), source, columns, detail, done, expected, keep_refused
        )
        await self._group.submit(change)
        return await done

    @guarded
    async def list(
        self,
        *,
        status: MessageStatus | None = None,
        to: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        before_id: str | None = None,
        limit: int = 50,
    ) -> list[Message]:
        """Messages newest first; pass the last id of a page as ``before_id`` for the next."""
        query = select(MessageRow).order_by(MessageRow.id.desc()).limit(limit)
        if status is not None:
            query = query.where(MessageRow.status == status.value)
        if to is not None:
            query = query.where(MessageRow.to_number == to)
        if created_after is not None:
            query = query.where(MessageRow.created_at >= created_after)
        if created_before is not None:
            query = query.where(MessageRow.created_at < created_before)
        if before_id is not None:
            query = query.where(MessageRow.id < before_id)
        async with self._sessions() as session:
            rows = (await session.execute(query)).scalars().all()
            return [message_from(row, ()) for row in rows]

    @guarded
    async def hourly(self, since: datetime) -> dict[tuple[str, str], int]:
        """Messages created since ``since`` by UTC hour ("2026-11-29T14") and status."""
        async with self._sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                hour: Any = func.to_char(
                    func.date_trunc("hour", func.timezone("UTC", MessageRow.created_at)),
                    'YYYY-MM-DD"T"HH24',
                )
            else:  # SQLite stores naive UTC text
                hour = func.strftime("%Y-%m-%dT%H", MessageRow.created_at)
            rows = await session.execute(
                select(hour, MessageRow.status, func.count())
                .where(MessageRow.created_at >= since)
                .group_by(hour, MessageRow.status)
            )
            return {(str(row[0]), str(row[1])): int(row[2]) for row in rows}

    @guarded
    async def usage_since(self, since: datetime) -> tuple[dict[str | None, int], Decimal]:
        """Messages stored since ``since`` per API key, and their estimated cost, test keys'
        messages left out of the cost: what the daily limits start from after a restart."""
        since_then = MessageRow.created_at >= since
        test_keys = select(ApiKeyRow.id).where(ApiKeyRow.test.is_(True))
        counted = or_(MessageRow.api_key_id.is_(None), MessageRow.api_key_id.notin_(test_keys))
        async with self._sessions() as session:
            counts = await session.execute(
                select(MessageRow.api_key_id, func.count())
                .where(since_then)
                .group_by(MessageRow.api_key_id)
            )
            spend = await session.scalar(
                select(func.sum(MessageRow.estimated_cost)).where(since_then, counted)
            )
            return {row[0]: row[1] for row in counts}, Decimal(spend or 0)


async def _record_alone(engine: AsyncEngine, change: Change) -> Transition | None:
    """One status change in a transaction of its own, compare-and-set, retried on a race."""
    while True:
        async with engine.begin() as connection:
            row = (
                await connection.execute(
                    select(MESSAGES.c.status, OPT_OUTS.c.number)
                    .outerjoin(OPT_OUTS, OPT_OUTS.c.number == MESSAGES.c.to_number)
                    .where(MESSAGES.c.id == change.message_id)
                )
            ).first()
            if row is None:
                return None
            current, opted_out = row
            if opted_out is not None and is_claim(change):
                change = refused_claim(change)
            decision = decide(MessageStatus(current), change.status)
            outcome = Outcome(**change.columns)  # type: ignore[arg-type]
            if decision.applied and not await _moved(
                connection, change.message_id, decision, change.at, outcome
            ):
                continue  # another writer changed the status since we read it: decide again
            if not decision.applied and not change.keep_refused:
                return decision
            event = Event(change.status, decision.applied, change.source, change.at, change.detail)
            await connection.execute(insert(EVENTS), event_row(change.message_id, event))
            return decision


async def _moved(
    connection: AsyncConnection,
    message_id: str,
    decision: Transition,
    now: datetime,
    outcome: Outcome | None,
) -> bool:
    columns: dict[str, object] = dict(outcome.columns()) if outcome is not None else {}
    if decision.new is MessageStatus.SENDING:  # a claim is an attempt at the hand-off
        columns["attempts"] = MESSAGES.c.attempts + 1
    move = (
        update(MESSAGES)
        .where(MESSAGES.c.id == message_id, MESSAGES.c.status == decision.old.value)
        .values(status=decision.new.value, updated_at=now, **columns)
    )
    return (await connection.execute(move)).rowcount == 1
