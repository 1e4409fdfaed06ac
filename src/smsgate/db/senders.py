"""The sender registry: senders, their pools, and the sender each recipient last had.

Every change moves ``sender_registry.revision`` in its own transaction, so a process that holds
the registry in memory (``services.senders.SenderDirectory``) knows with one small read
whether it is still current.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smsgate.db.common import guarded
from smsgate.db.engine import insert_or_ignore, insert_or_update
from smsgate.db.tables import SenderPoolRow, SenderRegistryRow, SenderRow, StickySenderRow
from smsgate.domain.clock import Clock, utc_now
from smsgate.domain.senders import Sender, SenderKind, new_sender

SENDERS = cast(Table, SenderRow.__table__)
POOLS = cast(Table, SenderPoolRow.__table__)
STICKY = cast(Table, StickySenderRow.__table__)
REGISTRY = cast(Table, SenderRegistryRow.__table__)


class SenderExists(Exception):
    """A sender with this address is registered already."""

    def __init__(self, existing: Sender) -> None:
        super().__init__(existing.address)
        self.existing = existing


class SenderStore:
    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._upsert_sticky = insert_or_update(
            engine.dialect.name,
            STICKY,
            [STICKY.c.pool, STICKY.c.to_number],
            ["sender_id", "updated_at"],
        )

    @guarded
    async def revision(self) -> int:
        async with self._engine.connect() as connection:
            value = await connection.scalar(select(REGISTRY.c.revision).where(REGISTRY.c.id == 1))
        return int(value or 0)

    @guarded
    async def load(self) -> tuple[int, list[Sender]]:
        """The revision and every sender, oldest first, read in one transaction."""
        async with self._engine.begin() as connection:
            revision = await connection.scalar(
                select(REGISTRY.c.revision).where(REGISTRY.c.id == 1)
            )
            senders = await _senders(connection)
        return int(revision or 0), senders

    @guarded
    async def add(self, sender: Sender) -> Sender:
        """Register ``sender``; SenderExists if its address is registered already (also when
        another request registers it at the same moment: the unique address decides)."""
        now = self._clock()
        sender = replace(sender, created_at=now)
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    insert(SENDERS),
                    {
                        "id": sender.id,
                        "address": sender.address,
                        "kind": sender.kind.value,
                        "countries": ",".join(sorted(sender.countries)),
                        "mps": sender.mps,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                await _join(connection, sender.id, sender.pools)
                await _bump(connection)
        except IntegrityError:
            async with self._engine.connect() as connection:
                found = [s for s in await _senders(connection) if s.address == sender.address]
            if not found:
                raise
            raise SenderExists(found[0]) from None
        return sender

    @guarded
    async def update(
        self,
        sender_id: str,
        *,
        countries: frozenset[str] | None = None,
        mps: float | None = None,
        pools: tuple[str, ...] | None = None,
    ) -> bool:
        """Change what was given; False when there is no such sender. Leaving a pool also
        forgets the recipients who stuck to the sender there: they move at once."""
        values: dict[str, object] = {"updated_at": self._clock()}
        if countries is not None:
            values["countries"] = ",".join(sorted(countries))
        if mps is not None:
            values["mps"] = mps
        async with self._engine.begin() as connection:
            moved = await connection.execute(
                update(SENDERS).where(SENDERS.c.id == sender_id).values(**values)
            )
            if moved.rowcount != 1:
                return False
            if pools is not None:
                await connection.execute(delete(POOLS).where(POOLS.c.sender_id == sender_id))
                await connection.execute(
                    delete(STICKY).where(
                        STICKY.c.sender_id == sender_id, STICKY.c.pool.not_in(pools)
                    )
                )
                await _join(connection, sender_id, pools)
            await _bump(connection)
        return True

    @guarded
    async def remove(self, sender_id: str) -> bool:
        """Unregister a sender, from every pool at once; False when there is no such sender.
        Messages it sent keep its address."""
        async with self._engine.begin() as connection:
            await connection.execute(delete(POOLS).where(POOLS.c.sender_id == sender_id))
            await connection.execute(delete(STICKY).where(STICKY.c.sender_id == sender_id))
            gone = await connection.execute(delete(SENDERS).where(SENDERS.c.id == sender_id))
            if gone.rowcount != 1:
                return False
            await _bump(connection)
        return True

    @guarded
    async def sticky(self, pool: str, to: str) -> str | None:
        """The id of the sender ``to`` last got from ``pool``, if any."""
        async with self._engine.connect() as connection:
            value = await connection.scalar(
                select(STICKY.c.sender_id).where(STICKY.c.pool == pool, STICKY.c.to_number == to)
            )
        return str(value) if value is not None else None

    @guarded
    async def stick_many(self, choices: list[tuple[str, str, str]]) -> None:
        """Remember that each recipient got its sender from its pool, so that it gets it next
        time too: (pool, recipient, sender id) triples, in one statement."""
        now = self._clock()
        rows = [
            {"pool": pool, "to_number": to, "sender_id": sender_id, "updated_at": now}
            for pool, to, sender_id in choices
        ]
        async with self._engine.begin() as connection:
            await connection.execute(self._upsert_sticky, rows)


async def _senders(connection: AsyncConnection) -> list[Sender]:
    rows = (await connection.execute(select(SENDERS).order_by(SENDERS.c.id))).all()
    memberships = (
        await connection.execute(
            select(POOLS.c.sender_id, POOLS.c.pool).order_by(POOLS.c.position, POOLS.c.pool)
        )
    ).all()
    pools: dict[str, list[str]] = {}
    for sender_id, pool in memberships:
        pools.setdefault(sender_id, []).append(pool)
    return [_sender(row, tuple(pools.get(row.id, ()))) for row in rows]


def _sender(row: Any, pools: tuple[str, ...]) -> Sender:
    # Read back through the rule that wrote it, so its derived facts (home country) agree.
    sender = new_sender(
        row.id,
        row.address,
        kind=row.kind,
        countries=[code for code in row.countries.split(",") if code],
        mps=row.mps,
        pools=pools,
        created_at=row.created_at,
    )
    assert sender.kind is SenderKind(row.kind)
    return sender


async def _join(connection: AsyncConnection, sender_id: str, pools: tuple[str, ...]) -> None:
    if pools:
        await connection.execute(
            insert(POOLS),
            [
                {"pool": pool, "sender_id": sender_id, "position": position}
                for position, pool in enumerate(pools)
            ],
        )


async def _bump(connection: AsyncConnection) -> None:
    # The row is made by the first change, not by the migration: an empty database stays
    # empty (``smsgate db copy`` wants one). Two first changes at once both find it made.
    create = insert_or_ignore(connection.dialect.name, REGISTRY, [REGISTRY.c.id])
    await connection.execute(create, {"id": 1, "revision": 0})
    await connection.execute(
        update(REGISTRY).where(REGISTRY.c.id == 1).values(revision=REGISTRY.c.revision + 1)
    )
