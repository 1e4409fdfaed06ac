"""Hand one queued message to the provider: at most once, paced, retried only when safe.

Every engine (the in-process dispatcher in ``serve``, and workers fed by a broker) calls
``Dispatcher.dispatch`` for a message it was told about; the row's status, not the engine,
decides whether anything is sent:

1. A message past its validity is marked ``expired`` and never handed over.
2. The sender's pacing slot is awaited before the claim, so a claimed row waits as little as
   possible (a claimed row whose process dies is never sent again without reconciling it).
3. The claim (``accepted`` -> ``sending``, compare-and-set) admits exactly one dispatcher,
   however many were told about the message.
4. The outcome is stored. A failure that certainly sent nothing gives the claim back, due again
   after a backoff; a 429 also holds the sender's pacing back; past the retry plan the message
   is ``failed``. A failure that may have sent it is stored ``unknown``, never retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from smsgate.db.errors import StoreUnavailable
from smsgate.db.queue import DueMessage, QueueStore
from smsgate.db.rows import Outcome
from smsgate.db.store import MessageStore
from smsgate.domain.clock import utc_now
from smsgate.domain.errors import DomainError
from smsgate.domain.message import MessageStatus
from smsgate.domain.phone import parse_phone_number
from smsgate.domain.retry import RetryPlan
from smsgate.domain.senders import SenderAddress
from smsgate.limits.pacing import Pacing
from smsgate.logs import get_logger
from smsgate.metrics import Metrics
from smsgate.providers.base import CredentialsRefused, RateLimited, SendResult
from smsgate.services.handoff import (
    describe_failure,
    hand_off,
    record_outcome,
    stored_outcome,
    try_again_later,
)
from smsgate.services.outlets import Outlet, Outlets
from smsgate.services.senders import SenderDirectory
from smsgate.services.sticky_senders import UNREAD

log = get_logger("smsgate.dispatch")


class Dispatched(StrEnum):
    """What became of one dispatch; engines count these (metrics, tests)."""

    HANDED_OVER = "handed_over"  # the provider answered; the outcome is stored
    RETRY = "retry"  # nothing was sent; due again later
    GAVE_UP = "gave_up"  # nothing was sent, and the retry plan is spent: failed
    EXPIRED = "expired"  # its validity ran out before the hand-off
    SKIPPED = "skipped"  # another dispatcher has it, or it is no longer accepted


class Dispatcher:
    def __init__(
        self,
        outlets: Outlets,
        store: MessageStore,
        queue: QueueStore,
        pacing: Pacing,
        *,
        retry: RetryPlan | None = None,
        reschedule: Callable[[str, datetime], None] | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        senders: SenderDirectory | None = None,
    ) -> None:
        # A test key's messages were stored for the sandbox and go there, never to Plivo.
        self.outlets = outlets
        self._store = store
        self._queue = queue
        self._pacing = pacing
        self._retry = retry or RetryPlan()
        # Told when a retry is due (a broker needs a new message); the in-process engine polls.
        self._reschedule = reschedule
        self._metrics = metrics or Metrics()
        self._clock = clock
        self._rng = rng or random.Random()
        self._senders = senders

    async def dispatch(
        self,
        message: DueMessage,
        on_claimed: Callable[[], None] | None = None,
        still_wanted: Callable[[], bool] | None = None,
    ) -> Dispatched:
        """Hand ``message`` over if it is still due and nobody else has; say what happened.

        ``on_claimed`` is called once the claim is won: from then on the dispatch should be
        left to finish (a graceful shutdown waits for it), as the message may reach Plivo.
        """
        if self._expired(message):
            return await self._expire(message)
        outlet = self.outlets.named(message.provider or self.outlets.live.provider.name)
        if self._senders is not None:
            await self._senders.maybe_refresh()
        paced = await self._paced(message, outlet)
        if paced is None:
            return await self._no_sender(message)
        sender, address, waited = paced
        if waited:
            self._metrics.throttled.inc()
        if self._expired(message):  # the wait for a slot can be long
            return await self._expire(message)
        if still_wanted is not None and not still_wanted():
            return Dispatched.SKIPPED  # shutting down: leave it accepted for another
        chosen = sender if message.pool is not None else None
        if not await self._store.claim(message.id, sender=chosen):
            return Dispatched.SKIPPED
        if on_claimed is not None:
            on_claimed()
        result = await hand_off(
            outlet, message.id, message.to, message.text, self._metrics, address, queued=True
        )
        attempts = message.attempts + 1
        if _nothing_sent(result):
            return await self._retry_later(message, result, attempts, outlet, sender)
        status, outcome = stored_outcome(result)
        await self._record(message.id, status, outcome)
        return Dispatched.HANDED_OVER

    async def _paced(
        self, message: DueMessage, outlet: Outlet
    ) -> tuple[str | None, SenderAddress | None, bool] | None:
        """The sender this hand-off goes from, what the provider is told of it, and whether
        its slot had to be waited for; None when its pool has no sender for it any more.

        A message of a pool gets the pool's least busy sender for it (``SenderDirectory``);
        any other goes from its stored sender, paced at that sender's rate.
        """
        if message.pool is None:
            rate = self._senders.rate_of(message.sender) if self._senders is not None else None
            waited = await self._pacing.wait(self.outlets.pace_key(outlet, message.sender), rate)
            address = (
                self._senders.address_of(message.sender) if self._senders is not None else None
            )
            return message.sender, address, waited
        if self._senders is None:
            return None
        try:
            region = parse_phone_number(message.to).region
        except DomainError:  # stored valid, refused by a newer numbering plan: no local sender
            region = None
        for attempt in range(2):
            choice = await self._senders.choose(
                message.pool,
                message.to,
                region,
                pace_prefix=self.outlets.pace_prefix(outlet),
                wait=True,
                stored=message.sticky if attempt == 0 else UNREAD,
            )
            if choice is not None:
                break
            if attempt == 0:
                # Failing a message is final: first make sure the registry is today's.
                await self._senders.refresh()
        if choice is None:
            return None
        return choice.sender.address, choice.sender.as_address, choice.waited

    async def _no_sender(self, message: DueMessage) -> Dispatched:
        reason = (
            f"no sender of the pool {message.pool!r} may send to this number any more (the "
            "pool changed after the message was accepted); nothing was sent"
        )
        decision = await self._store.record(
            message.id,
            MessageStatus.FAILED,
            source="dispatcher",
            outcome=Outcome(error_reason=reason),
            detail={"reason": reason},
            expected=MessageStatus.ACCEPTED,
        )
        applied = decision is not None and decision.applied
        return Dispatched.GAVE_UP if applied else Dispatched.SKIPPED

    def _expired(self, message: DueMessage) -> bool:
        return message.expires_at is not None and self._clock() >= message.expires_at

    async def _expire(self, message: DueMessage) -> Dispatched:
        detail = {"reason": "its validity ran out before it was handed to the provider"}
        decision = await self._store.record(
            message.id,
            MessageStatus.EXPIRED,
            source="dispatcher",
            detail=detail,
            keep_refused=False,
        )
        return (
            Dispatched.EXPIRED if decision is not None and decision.applied else Dispatched.SKIPPED
        )

    async def _retry_later(
        self,
        message: DueMessage,
        result: SendResult,
        attempts: int,
        outlet: Outlet,
        sender: str | None,
    ) -> Dispatched:
        failure = describe_failure(result)
        reason = failure.message if failure is not None else result.outcome
        wait: timedelta | None = None
        if isinstance(result, RateLimited):
            seconds = result.retry_after if result.retry_after is not None else 1.0
            # Only the sender Plivo slowed down: the others of its pool go on at their rates.
            self._pacing.hold(self.outlets.pace_key(outlet, sender), seconds)
            wait = timedelta(seconds=seconds)
        now = self._clock()
        due = self._retry.next_attempt(
            attempts=attempts,
            # A message scheduled for later ages from then, not from when it was accepted.
            created_at=message.scheduled_at or message.created_at,
            now=now,
            rng=self._rng,
            not_before=wait,
        )
        if due is None:
            reason = f"gave up after {attempts} attempt(s); nothing was sent. Last: {reason}"
            await self._record(message.id, MessageStatus.FAILED, Outcome(error_reason=reason))
            return Dispatched.GAVE_UP
        try:
            released = await self._queue.release(message.id, due, reason)
        except StoreUnavailable:
            # The row stays "sending": never sent again blindly, reconciled later.
            log.error("release_not_stored", message_id=message.id)
            return Dispatched.RETRY
        if released:
            self._metrics.retries.inc()
            if self._reschedule is not None:
                self._reschedule(message.id, due)
        return Dispatched.RETRY

    async def _record(self, message_id: str, status: MessageStatus, outcome: Outcome) -> None:
        await record_outcome(self._store, message_id, status, outcome)


def _nothing_sent(result: SendResult) -> bool:
    """A failure after which the provider certainly holds nothing, so trying again is safe.

    Refused credentials count: for a queued message, an operator fixing them is worth waiting
    for, where an immediate send answers the caller at once.
    """
    return isinstance(result, CredentialsRefused) or try_again_later(result)
