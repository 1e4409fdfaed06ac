"""Pacing in this process: each sender's hand-offs spaced by its rate, held back after a 429.

``RedisPacing`` (``limits/redis_pacing.py``) keeps the same schedule in Redis, shared by every
process; this one keeps it in memory, for a single ``serve``. A sender is paced by its key
(its address) at the rate it is given; without one, at the pacing's default rate (the
``SMSGATE_SENDER_MPS`` of the sender that ``PLIVO_SENDER_ID`` names).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from smsgate.domain.pacing import Pacer, earliest

# A sender to pace: its key, and its rate (None: the pacing's default rate).
Paced = tuple[str, float | None]


class Pacing(Protocol):
    """Waits for a sender's next slot; ``hold`` pushes its slots back (a 429)."""

    async def wait(self, sender: str, rate: float | None = None) -> bool:
        """Wait for the sender's next slot; True if there was a wait."""
        ...

    async def wait_first(self, senders: Sequence[Paced], *, wait: bool = True) -> tuple[int, bool]:
        """Take the first free slot of any of ``senders`` (the least busy), wait for it unless
        ``wait`` is False, and say whose it was (an index into ``senders``) and whether its
        slot was later than now."""
        ...

    def hold(self, sender: str, seconds: float) -> None: ...


class SenderPacing:
    """One ``Pacer`` per sender, in this process (the Redis limiter shares them between many)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._pacers: dict[str, Pacer] = {}

    async def wait(self, sender: str, rate: float | None = None) -> bool:
        _, waited = await self.wait_first([(sender, rate)])
        return waited

    async def wait_first(self, senders: Sequence[Paced], *, wait: bool = True) -> tuple[int, bool]:
        pacers = [self._pacer(key, rate) for key, rate in senders]
        waited = False
        while True:
            now = self._clock()
            # Chosen and taken with no await between: no other hand-off can take the slot.
            chosen = earliest(pacers, now)
            delay = pacers[chosen].reserve(now)
            waited = waited or delay > 0
            if not wait or delay <= 0:
                return chosen, waited
            await asyncio.sleep(delay)
            if not pacers[chosen].is_held(self._clock()):
                return chosen, waited
            # A 429 came for this sender while its slot was waited for: choose again.

    def hold(self, sender: str, seconds: float) -> None:
        self._pacer(sender, None).hold_until(self._clock() + seconds)

    def _pacer(self, sender: str, rate: float | None) -> Pacer:
        wanted = rate if rate is not None else self._rate
        pacer = self._pacers.get(sender)
        if pacer is None:
            pacer = self._pacers[sender] = Pacer(wanted)
        elif rate is not None and pacer.rate != rate:
            pacer.rate = rate  # the operator changed the sender's rate: from its next slot on
        return pacer
