"""The status of an outbound message, and the only moves it may make.

A message walks one track, forward only::

    accepted -> sending -> unknown -> queued -> sent -> delivered | undelivered | failed
       |           |
       |           +-> rejected                (Plivo refused the hand-off)
       +-> rejected | expired | canceled       (it never left us)

Steps may be skipped (a fast callback can take ``sending`` straight to ``delivered``), but a
status never moves back and an end status never changes. ``unknown`` is where a hand-off
lands when it timed out after the request may have reached Plivo; a later Plivo callback
that proves what happened moves it on like any other.

One move goes back, and only our own hand-off makes it: a hand-off the provider certainly did
not take (it was unreachable, or answered 429, 502 or 503) gives its claim back, from
``sending`` to ``accepted``, to be tried again (``db.queue.QueueStore.release``): a queued
message later, by the dispatcher; one sent at once with an ``Idempotency-Key``, by the caller's
retry with that key. Nothing a callback says can cause it, and nothing that may have reached
Plivo is ever released.

Every writer asks :func:`decide`: delivery reports arrive late, twice, or out of order, so a
move that would go back is normal: the store records the event and keeps the status. The
store's compare-and-set makes each decision against the status it read.

Asking for the status a message already has is a no-op either way, never an error: Plivo
repeats callbacks it thinks we missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "TERMINAL",
    "MessageStatus",
    "Transition",
    "can_transition",
    "decide",
    "is_terminal",
]


class MessageStatus(StrEnum):
    """Where an outbound message stands; the values are stored and shown by the API."""

    ACCEPTED = "accepted"  # stored, not yet handed to Plivo
    SENDING = "sending"  # hand-off to Plivo started
    UNKNOWN = "unknown"  # hand-off timed out after the request may have reached Plivo
    QUEUED = "queued"  # Plivo accepted it and holds it in its queue
    SENT = "sent"  # Plivo passed it to the carrier
    DELIVERED = "delivered"  # the carrier reported it on the handset
    UNDELIVERED = "undelivered"  # the carrier reported it could not deliver it
    FAILED = "failed"  # Plivo never got it to the carrier
    REJECTED = "rejected"  # refused before or by Plivo
    EXPIRED = "expired"  # waited too long in our queue; never handed to Plivo
    CANCELED = "canceled"  # withdrawn from our queue; never handed to Plivo


# Position on the main track. A move is forward when the new rank is higher, so equal ranks
# (delivered vs failed) can never replace each other, and every step may be skipped.
_RANK: Mapping[MessageStatus, int] = MappingProxyType(
    {
        MessageStatus.ACCEPTED: 0,
        MessageStatus.SENDING: 1,
        # Below queued: any word from Plivo says more than "we don't know".
        MessageStatus.UNKNOWN: 2,
        MessageStatus.QUEUED: 3,
        MessageStatus.SENT: 4,
        MessageStatus.DELIVERED: 5,
        MessageStatus.UNDELIVERED: 5,
        MessageStatus.FAILED: 5,
    }
)

# Ends off the track, each reachable only from the statuses listed: once the hand-off may
# have reached Plivo, only Plivo can say how the message ended.
_OFF_TRACK_FROM: Mapping[MessageStatus, frozenset[MessageStatus]] = MappingProxyType(
    {
        # From sending too: Plivo answers the hand-off itself with a refusal.
        MessageStatus.REJECTED: frozenset({MessageStatus.ACCEPTED, MessageStatus.SENDING}),
        MessageStatus.EXPIRED: frozenset({MessageStatus.ACCEPTED}),
        MessageStatus.CANCELED: frozenset({MessageStatus.ACCEPTED}),
    }
)

# Statuses that never change again.
TERMINAL: frozenset[MessageStatus] = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.REJECTED,
        MessageStatus.EXPIRED,
        MessageStatus.CANCELED,
    }
)


@dataclass(frozen=True, slots=True)
class Transition:
    """What :func:`decide` made of a move: ``new`` is what was asked, even if not applied."""

    old: MessageStatus
    new: MessageStatus
    applied: bool

    @property
    def status(self) -> MessageStatus:
        """The status the message has after the decision."""
        return self.new if self.applied else self.old


def is_terminal(status: MessageStatus) -> bool:
    """Whether ``status`` is an end that never changes."""
    return status in TERMINAL


def can_transition(current: MessageStatus, new: MessageStatus) -> bool:
    """Whether moving from ``current`` to ``new`` changes the status legally.

    False for a repeat of the same status too: that changes nothing.
    """
    if current == new or is_terminal(current):
        return False
    if new in _OFF_TRACK_FROM:
        return current in _OFF_TRACK_FROM[new]
    return _RANK[new] > _RANK[current]


def decide(current: MessageStatus, new: MessageStatus) -> Transition:
    """Decide a move reported by Plivo; one that is not applied is still worth recording."""
    return Transition(old=current, new=new, applied=can_transition(current, new))
