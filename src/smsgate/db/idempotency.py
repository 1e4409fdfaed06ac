"""Idempotency keys: the first request with a key runs; repeats get its stored answer.

The claim is an INSERT into a table whose primary key is (scope, key): of any number of
concurrent requests with one key, the database lets exactly one insert succeed. The others
read the row, and wait while its answer is still being made.

A key may also be *held*: its first request stored a message and certainly sent nothing
(Plivo answered 429 or 503). The next request with the key takes the hold (``resume``, a
compare-and-set, so one request of any number does) and sends that same message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from smsgate.db.errors import StoreUnavailable
from smsgate.db.tables import IdempotencyKeyRow
from smsgate.domain.clock import Clock, utc_now


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    request_hash: str
    status_code: int | None  # None while the first request is still running
    response: dict[str, Any] | None
    expired: bool
    held_message_id: str | None = None  # set while the key is held for a retry


class IdempotencyStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock = utc_now,
        longest_request: timedelta = timedelta(minutes=5),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._longest_request = longest_request

    async def claim(self, scope: str, key: str, request_hash: str, ttl: timedelta) -> bool:
        """True if this request is the first with the key (and must make the answer)."""
        now = self._clock()
        row = IdempotencyKeyRow(
            scope=scope,
            key=key,
            request_hash=request_hash,
            created_at=now,
            expires_at=now + ttl,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            return False
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return True

    async def read(self, scope: str, key: str) -> StoredAnswer | None:
        query = select(IdempotencyKeyRow).where(
            IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key
        )
        try:
            async with self._sessions() as session:
                row = (await session.execute(query)).scalar_one_or_none()
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        if row is None:
            return None
        now = self._clock()
        # A claim still without an answer expires only once its request cannot be running
        # any more (its process died): never under a request in progress, however short the TTL.
        running_for = now - row.created_at
        settled = row.status_code is not None or row.held
        expired = row.expires_at <= now and (settled or running_for > self._longest_request)
        held = row.message_id if row.held else None
        return StoredAnswer(row.request_hash, row.status_code, row.response, expired, held)

    async def complete(
        self,
        scope: str,
        key: str,
        status_code: int,
        response: dict[str, Any],
        message_id: str | None,
    ) -> None:
        values = {"status_code": status_code, "response": response, "message_id": message_id}
        await self._write(
            update(IdempotencyKeyRow)
            .where(IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key)
            .values(**values)
        )

    async def hold(self, scope: str, key: str, message_id: str) -> None:
        """Keep the key for a retry that sends ``message_id``, which was stored and not sent."""
        await self._write(
            update(IdempotencyKeyRow)
            .where(IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key)
            .values(held=True, message_id=message_id, status_code=None, response=None)
        )

    async def resume(self, scope: str, key: str, message_id: str) -> bool:
        """Take a held key, to send its message now: True for exactly one of any racers.

        The key is running again from now on: its other repeats wait for this answer.
        """
        statement = (
            update(IdempotencyKeyRow)
            .where(
                IdempotencyKeyRow.scope == scope,
                IdempotencyKeyRow.key == key,
                IdempotencyKeyRow.held.is_(True),
                IdempotencyKeyRow.message_id == message_id,
            )
            .values(held=False, created_at=self._clock())
        )
        try:
            async with self._sessions.begin() as session:
                result = await session.execute(statement)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def release(self, scope: str, key: str) -> None:
        """Forget a claim whose request failed without an answer, so a retry can run."""
        await self._write(
            delete(IdempotencyKeyRow).where(
                IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key
            )
        )

    async def release_expired(self, scope: str, key: str) -> None:
        """Forget the key only if it is still expired: never a claim someone just renewed,
        and never one whose request may still be running."""
        now = self._clock()
        await self._write(
            delete(IdempotencyKeyRow).where(
                IdempotencyKeyRow.scope == scope,
                IdempotencyKeyRow.key == key,
                IdempotencyKeyRow.expires_at <= now,
                IdempotencyKeyRow.status_code.is_not(None)
                | IdempotencyKeyRow.held.is_(True)
                | (IdempotencyKeyRow.created_at < now - self._longest_request),
            )
        )

    async def purge(self, before: datetime | None = None) -> int:
        """Delete answered or held keys that expired (before ``before``, default now); how
        many. A held key's message is expired by the reconciler (``QueueStore.lapsed_holds``)."""
        cutoff = before or self._clock()
        statement = delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.expires_at <= cutoff,
            IdempotencyKeyRow.status_code.is_not(None) | IdempotencyKeyRow.held.is_(True),
        )
        try:
            async with self._sessions.begin() as session:
                result = await session.execute(statement)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return int(getattr(result, "rowcount", 0) or 0)

    async def _write(self, statement: Any) -> None:
        try:
            async with self._sessions.begin() as session:
                await session.execute(statement)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
