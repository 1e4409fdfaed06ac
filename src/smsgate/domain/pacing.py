"""Pacing: hand-offs per sender spaced to the rate the sender may send at.

Plivo queues what an account sends beyond its rate instead of refusing it (reference §5), so
sending faster only moves the queue from our database, where it can be canceled, expired and
counted, to Plivo's, where it cannot. Each sender therefore gets evenly spaced slots: at most
``rate`` a second, none bunched together (a burst of one), so the rate holds over any window.

This is the pure schedule; waiting for a slot is the caller's business. With several
processes the schedule lives in Redis instead (the same rule, kept in one place).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Pacer", "earliest"]


@dataclass(slots=True)
class Pacer:
    """Evenly spaced slots, ``rate`` per second; a rate of None never waits."""

    rate: float | None
    _next: float = field(default=float("-inf"), init=False)
    # Until when the provider asked this sender to slow down: a slot taken before the hold
    # and due within it is not used (``is_held``), however long ago it was taken.
    _held_until: float = field(default=float("-inf"), init=False)

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ValueError("a pacing rate is a positive number of sends per second")

    def next_slot(self, now: float) -> float:
        """When the next free slot is (``now`` if one is free now), without taking it."""
        return now if self.rate is None else max(now, self._next)

    def reserve(self, now: float) -> float:
        """Take the next free slot; return how long to wait for it (0 if it is now)."""
        if self.rate is None:
            return 0.0
        slot = max(now, self._next)
        self._next = slot + 1 / self.rate
        return slot - now

    def hold_until(self, moment: float) -> None:
        """No slot before ``moment``: the provider asked us to slow down (429, Retry-After)."""
        self._next = max(self._next, moment)
        self._held_until = max(self._held_until, moment)

    def is_held(self, now: float) -> bool:
        """Whether a hold is on now: a slot taken earlier must be taken again."""
        return now < self._held_until


def earliest(pacers: Sequence[Pacer], now: float) -> int:
    """Which of ``pacers`` is least busy: the index of the one whose next slot comes first
    (the first of them on a tie, so a pool's order breaks ties the same way everywhere)."""
    if not pacers:
        raise ValueError("no pacers to choose from")
    return min(range(len(pacers)), key=lambda index: pacers[index].next_slot(now))
