"""Pacing in this process: each sender's hand-offs spaced by its rate, held back after a 429.

``RedisPacing`` (``limits/redis_pacing.py``) keeps the same schedule in Redis, shared by every
process; this one keeps it in memory, for a single ``serve``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from smsgate.domain.pacing import Pacer


class Pacing(Protocol):
    """Waits for a sender's next slot; ``hold`` pushes its slots back (a 429)."""

    async def wait(self, sender: str) -> bool:
        """Wait for the sender's next slot; True if there was a wait."""
        ...

    def hold(self, sender: str, seconds: float) -> None: ...


class SenderPacing:
    """One ``Pacer`` per sender, in this process (the Redis limiter shares them between many)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._pacers: dict[str, Pacer] = {}

    async def wait(self, sender: str) -> bool:
        delay = self._pacer(sender).reserve(self._clock())
        if delay > 0:
            await asyncio.sleep(delay)
        return delay > 0

    def hold(self, sender: str, seconds: float) -> None:
        self._pacer(sender).hold_until(self._clock() + seconds)

    def _pacer(self, sender: str) -> Pacer:
        pacer = self._pacers.get(sender)
        if pacer is None:
            pacer = self._pacers[sender] = Pacer(self._rate)
        return pacer
