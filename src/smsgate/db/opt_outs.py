"""The opt-out list: numbers that asked not to be texted, by keyword, by hand or through Plivo.

Adding is an ``INSERT ... ON CONFLICT DO NOTHING`` on the number (the primary key), so any
number of concurrent adds of one number store it once and exactly one of them says it was new.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy import CursorResult, Insert, Result, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from smsgate.db.common import guarded
from smsgate.db.engine import insert_or_ignore
from smsgate.db.tables import OptOutRow
from smsgate.db.webhook_rows import OPT_OUT_CHANGED, insert_outbox, outbox_row
from smsgate.domain.clock import Clock, utc_now

__all__ = ["OptOut", "OptOutSource", "OptOutStore", "guarded", "is_e164"]

P = ParamSpec("P")
T = TypeVar("T")

# "+", a country code that does not start with 0, at most 15 digits in all (ITU-T E.164).
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


class OptOutSource(StrEnum):
    """How a number came onto the list; stored, and shown by the API."""

    KEYWORD = "keyword"  # the person texted STOP (or another opt-out word)
    API = "api"  # added by hand through /api/v1/opt-outs
    PLIVO = "plivo"  # Plivo marked the inbound message as an opt-out (MessageIntent)


@dataclass(frozen=True, slots=True)
class OptOut:
    number: str
    source: OptOutSource
    created_at: datetime


def is_e164(number: str) -> bool:
    """Whether ``number`` is written in E.164 form: ``+`` and 2 to 15 digits."""
    return _E164.fullmatch(number) is not None


class OptOutStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock = utc_now) -> None:
        self._sessions = sessions
        self._clock = clock

    @guarded
    async def add(self, number: str, source: OptOutSource) -> bool:
        """Put ``number`` (E.164) on the list; True if it was not on it already.

        A number already on the list keeps its first source and time.

        Raises:
            ValueError: ``number`` is not in E.164 form (callers normalise it first).
        """
        _check(number)
        values = {
            "number": number,
            "source": OptOutSource(source).value,
            "created_at": self._clock(),
        }
        async with self._sessions.begin() as session:
            insert = _insert_ignoring_duplicates(session, values)
            if _rowcount(await session.execute(insert)) != 1:
                return False
            await _announce(session, number, opted_out=True, source=OptOutSource(source).value)
            return True

    @guarded
    async def remove(self, number: str) -> bool:
        """Take ``number`` off the list; True if it was on it."""
        async with self._sessions.begin() as session:
            result = await session.execute(delete(OptOutRow).where(OptOutRow.number == number))
            if _rowcount(result) != 1:
                return False
            await _announce(session, number, opted_out=False, source="api")
            return True

    @guarded
    async def get(self, number: str) -> OptOut | None:
        async with self._sessions() as session:
            row = await session.get(OptOutRow, number)
            return _opt_out(row) if row is not None else None

    @guarded
    async def list(self, limit: int = 100, after: str | None = None) -> list[OptOut]:
        """Numbers in order; pass the last number of a page as ``after`` for the next."""
        query = select(OptOutRow).order_by(OptOutRow.number).limit(limit)
        if after is not None:
            query = query.where(OptOutRow.number > after)
        async with self._sessions() as session:
            rows = (await session.execute(query)).scalars().all()
            return [_opt_out(row) for row in rows]


def _check(number: str) -> None:
    if not is_e164(number):
        raise ValueError("an opt-out number must be in E.164 form, like +14155552671")


def _insert_ignoring_duplicates(session: AsyncSession, values: Mapping[str, object]) -> Insert:
    statement: Insert = insert_or_ignore(session.get_bind().dialect.name, OptOutRow).values(values)
    return statement


def _rowcount(result: Result[Any]) -> int:
    # An INSERT's or DELETE's result is a CursorResult, which alone carries the row count.
    return cast(CursorResult[Any], result).rowcount


def _opt_out(row: OptOutRow) -> OptOut:
    return OptOut(number=row.number, source=OptOutSource(row.source), created_at=row.created_at)


async def _announce(session: AsyncSession, number: str, *, opted_out: bool, source: str) -> None:
    """An ``opt_out.changed`` webhook event, in the transaction of the change."""
    now = utc_now()
    data = {"number": number, "opted_out": opted_out, "source": source, "at": now.isoformat()}
    await session.execute(insert_outbox(), outbox_row(OPT_OUT_CHANGED, now, data))
