"""Which sender each recipient of a pool last got: remembered in memory, written behind.

A recipient keeps its sender (``domain.senders.prefer``) across restarts and across workers,
so the choice is stored. Reading and writing it with every hand-off would cost more than the
rest of the choice together (measured: about 0.7 ms of CPU a read on SQLite), so this process
remembers what it chose or read, and writes its new choices in one statement every
``flush_every`` seconds, and when it stops.

What that gives up, on purpose: another worker that meets the same recipient within that
interval reads no choice yet and may pick another sender for it, and a process that is
killed (not stopped) loses its last interval of choices. Either way the recipient gets a
sender of the pool, as a new recipient would, and keeps it from then on.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import OrderedDict

from smsgate.db.errors import StoreUnavailable
from smsgate.db.senders import SenderStore
from smsgate.logs import get_logger

log = get_logger("smsgate.senders")

Key = tuple[str, str]  # (pool, recipient in E.164)


class Unread:
    """The sticky sender was not read with the message: look it up."""


UNREAD = Unread()
Stored = str | None | Unread


class StickySenders:
    def __init__(
        self, store: SenderStore, *, flush_every: float = 0.25, capacity: int = 100_000
    ) -> None:
        """``capacity``: recipients remembered in memory (the least recently used go first;
        the database still has them)."""
        self._store = store
        self._flush_every = flush_every
        self._capacity = capacity
        self._known: OrderedDict[Key, str] = OrderedDict()
        self._pending: dict[Key, str] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def get(self, pool: str, to: str, stored: Stored = UNREAD) -> str | None:
        """The id of the sender ``to`` last got from ``pool``, if any. ``stored``: what the
        database said when the message was read with it; else it is read now, unless this
        process knows it already."""
        key = (pool, to)
        known = self._known.get(key)
        if known is not None:
            self._known.move_to_end(key)
            return known
        if isinstance(stored, Unread):
            stored = await self._store.sticky(pool, to)
        if stored is not None:
            self._remember(key, stored)
        return stored

    def set(self, pool: str, to: str, sender_id: str) -> None:
        """Remember that ``to`` got ``sender_id`` from ``pool``; stored within a moment."""
        key = (pool, to)
        self._remember(key, sender_id)
        self._pending[key] = sender_id
        if self._flusher is None or self._flusher.done():
            # A context of its own: the write serves every request, it belongs to none.
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush_soon(), context=contextvars.Context()
            )

    async def flush(self) -> None:
        """Store every choice not stored yet."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            await self._store.stick_many(
                [(pool, to, sender) for (pool, to), sender in pending.items()]
            )
        except StoreUnavailable:
            # Kept for the next flush, unless a newer choice replaced it meanwhile.
            self._pending = {**pending, **self._pending}
            log.warning("sticky_senders_not_stored", recipients=len(pending))

    async def aclose(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self.flush()

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self._flush_every)
        await self.flush()

    def _remember(self, key: Key, sender_id: str) -> None:
        self._known[key] = sender_id
        self._known.move_to_end(key)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)
