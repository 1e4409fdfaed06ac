"""Which sender a message goes from: the registry in memory, the routing rule, the choice.

Every way a message comes in asks ``route`` when it is accepted: a named sender (``from``)
must be registered and allowed for the recipient's country; a named pool (or the default
one) must hold a sender that may send there. With no sender registered at all, every message
goes from ``PLIVO_SENDER_ID``, as before there was a registry.

A message of a pool gets its sender at the hand-off (``choose``): a local sender first, then
the one the recipient had last time (stored, so it survives restarts and is shared by every
process: ``StickySenders``), then the least busy by its pacing slots; the slot is taken in the
same step. A sender removed from a pool is never chosen again once this process has seen the
change: at once where the change was made, and within a second in any other process (every
send reads the registry's revision, one small read, at most once a second).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from smsgate.db.ids import new_id
from smsgate.db.senders import SenderExists, SenderStore
from smsgate.domain.errors import DomainError
from smsgate.domain.phone import PhoneNumber
from smsgate.domain.senders import (
    DEFAULT_POOL,
    Sender,
    SenderAddress,
    SenderNotAllowed,
    SenderRegistry,
    UnknownPool,
    UnknownSender,
    new_sender,
    prefer,
)
from smsgate.limits.pacing import Pacing
from smsgate.logs import get_logger
from smsgate.services.sticky_senders import UNREAD, StickySenders, Stored

log = get_logger("smsgate.senders")

__all__ = ["Choice", "Route", "SenderDirectory", "SenderExists"]


@dataclass(frozen=True, slots=True)
class Route:
    """Where an accepted message's sender comes from: fixed (``sender``), or chosen from
    ``pool`` at each hand-off. Both None never happens: a fixed default has its address."""

    sender: str | None  # the address it goes from, when fixed
    pool: str | None  # the pool its sender is chosen from


@dataclass(frozen=True, slots=True)
class Choice:
    sender: Sender
    waited: bool  # its slot was not free at once: the hand-off was paced


class SenderDirectory:
    def __init__(
        self,
        store: SenderStore,
        pacing: Pacing,
        *,
        default_sender: str | None,
        default_mps: float | None,
        check_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``default_sender``: PLIVO_SENDER_ID, used while no sender is registered (and for
        the default pool while nobody is in it); paced at ``default_mps``. Changes made by
        other processes are seen within ``check_every`` seconds (``maybe_refresh``)."""
        self._store = store
        self._pacing = pacing
        self.default_sender = default_sender
        self._default_mps = default_mps
        self._registry = SenderRegistry()
        self._revision = -1
        self._lock = asyncio.Lock()
        self._checked_at = float("-inf")
        self._clock = clock
        self._check_every = check_every
        self._sticky = StickySenders(store)

    async def aclose(self) -> None:
        """Store the sticky choices not stored yet (``StickySenders``)."""
        await self._sticky.aclose()

    @property
    def registry(self) -> SenderRegistry:
        return self._registry

    async def refresh(self) -> None:
        """Read the registry again if another process changed it since it was last read."""
        async with self._lock:
            await self._refresh()

    async def maybe_refresh(self) -> None:
        """``refresh``, at most once every ``check_every`` seconds: what every send calls.

        Until the registry was first read every caller waits for it; after that, a caller
        that finds a refresh under way goes on with the registry as it was (a second old at
        most) rather than queue behind it.
        """
        fresh = self._clock() - self._checked_at < self._check_every
        if self._revision >= 0 and (fresh or self._lock.locked()):
            return
        async with self._lock:
            if self._revision >= 0 and self._clock() - self._checked_at < self._check_every:
                return  # another caller refreshed it while this one waited
            await self._refresh()

    async def reload(self) -> None:
        async with self._lock:
            await self._load()

    async def _refresh(self) -> None:
        self._checked_at = self._clock()
        if await self._store.revision() != self._revision:
            await self._load()

    async def _load(self) -> None:
        revision, senders = await self._store.load()
        self._registry = SenderRegistry(tuple(senders))
        self._revision = revision
        self._checked_at = self._clock()

    def address_of(self, address: str | None) -> SenderAddress | None:
        """What the provider is told a stored message goes from; None for its own sender."""
        if address is None or address == self.default_sender:
            return None
        sender = self._registry.find(address)
        return sender.as_address if sender is not None else SenderAddress.of(address)

    # --- accepting a message ----------------------------------------------------------------

    def route(self, from_: object, pool: object, number: PhoneNumber) -> Route:
        """Where a message to ``number`` goes from; a DomainError (with its code) if nowhere.

        ``from_`` is a sender's address or id, ``pool`` a pool's name (at most one of them);
        both None: the default pool, or ``PLIVO_SENDER_ID`` while nobody is in it.
        """
        self.check_names(from_, pool)
        if isinstance(from_, str):
            sender = self._registry.find(from_)
            if sender is None:  # PLIVO_SENDER_ID, named (``check_names`` let nothing else by)
                return Route(self.default_sender, None)
            if not sender.may_send_to(number.region):
                raise sender.refusal(number.region)
            return Route(sender.address, None)
        name = pool if isinstance(pool, str) else DEFAULT_POOL
        senders = self._registry.pool(name)
        if not senders:  # the default pool: a named one nobody is in was refused
            return Route(self.default_sender, None)
        self._check_pool(name, senders, number)
        return Route(None, name)

    def check_names(self, from_: object, pool: object) -> None:
        """Refuse what ``route`` would refuse for any recipient: both named, a sender or a
        pool nobody registered. The per-country rules are left to ``route``."""
        if from_ is not None and pool is not None:
            raise DomainError(
                "Name a sender ('from') or a pool ('pool'), not both.", code="invalid_request"
            )
        if from_ is not None:
            if not isinstance(from_, str):
                raise DomainError("'from' is a string.", code="invalid_field_type")
            if self._registry.find(from_) is None and from_.strip() != self.default_sender:
                raise UnknownSender(
                    f"{from_!r} is not a registered sender; register it at /api/v1/senders first."
                )
        if pool is not None:
            if not isinstance(pool, str):
                raise DomainError("'pool' is a string.", code="invalid_field_type")
            if not self._registry.pool(pool):
                raise UnknownPool(f"No sender is in the pool {pool!r}.")

    @staticmethod
    def _check_pool(name: str, senders: Sequence[Sender], number: PhoneNumber) -> None:
        if prefer(senders, number.region):
            return
        if len(senders) == 1:
            raise senders[0].refusal(number.region)
        where = number.region or "no country (an international number)"
        raise SenderNotAllowed(f"No sender of the pool {name!r} may send to {where}.")

    # --- handing it over --------------------------------------------------------------------

    async def choose(
        self,
        pool: str,
        to: str,
        region: str | None,
        *,
        pace_prefix: str,
        wait: bool,
        stored: Stored = UNREAD,
    ) -> Choice | None:
        """The sender of ``pool`` a message to ``to`` goes from now, its pacing slot taken
        (and waited for, with ``wait``). None when no sender of the pool may send there any
        more (the pool changed since the message was accepted).

        ``pace_prefix`` starts the pacing keys of the senders' addresses (the sandbox standing
        in for a live provider has schedules of its own: ``Outlets.pace_prefix``). ``stored``:
        the recipient's sticky sender as read with the message (a queued one), so that it
        need not be read again.
        """
        senders = self._registry.pool(pool)
        if not senders:
            return None
        sticky = await self._sticky.get(pool, to, stored)
        candidates = prefer(senders, region, sticky)
        if not candidates:
            return None
        paced = [(pace_prefix + candidate.address, candidate.mps) for candidate in candidates]
        index, waited = await self._pacing.wait_first(paced, wait=wait)
        chosen = candidates[index]
        if chosen.id != sticky:
            self._sticky.set(pool, to, chosen.id)
        return Choice(chosen, waited)

    def rate_of(self, address: str | None) -> float | None:
        """The rate a fixed sender is paced at: its own if registered, else the default."""
        sender = self._registry.find(address) if address else None
        return sender.mps if sender is not None else self._default_mps

    # --- the registry -----------------------------------------------------------------------

    async def add(
        self,
        address: object,
        *,
        kind: object = None,
        countries: object = (),
        mps: object = None,
        pools: object = (DEFAULT_POOL,),
    ) -> Sender:
        """Register a sender; DomainError if it is malformed, SenderExists if registered."""
        sender = new_sender(new_id(), address, kind=kind, countries=countries, mps=mps, pools=pools)
        stored = await self._store.add(sender)
        await self.reload()
        log.info("sender_added", sender_id=stored.id, kind=stored.kind.value)
        return self._registry.find(stored.id) or stored

    async def find(self, key: str) -> Sender | None:
        """The sender with this id or address, as the database has it now."""
        await self.refresh()
        return self._registry.find(key)

    async def update(
        self, key: str, *, countries: object = None, mps: object = None, pools: object = None
    ) -> Sender | None:
        """Change a sender's countries, rate or pools (what is not None); None if there is no
        sender with this id or address."""
        current = await self.find(key)
        if current is None:
            return None
        changed = new_sender(
            current.id,
            current.address,
            kind=current.kind.value,
            countries=sorted(current.countries) if countries is None else countries,
            mps=current.mps if mps is None else mps,
            pools=list(current.pools) if pools is None else pools,
        )
        updated = await self._store.update(
            current.id,
            countries=changed.countries if countries is not None else None,
            mps=changed.mps if mps is not None else None,
            pools=changed.pools if pools is not None else None,
        )
        await self.reload()
        if not updated:
            return None
        log.info("sender_changed", sender_id=current.id)
        return self._registry.find(current.id)

    async def remove(self, key: str) -> Sender | None:
        """Unregister the sender with this id or address; None if there is none."""
        current = await self.find(key)
        removed = current is not None and await self._store.remove(current.id)
        await self.reload()
        if not removed or current is None:
            return None
        log.info("sender_removed", sender_id=current.id)
        return current
