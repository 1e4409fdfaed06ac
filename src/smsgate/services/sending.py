"""Send one text now: check, store, hand it to the provider, and say what became of it.

The API and the CLI both use ``Sender``; each turns the ``SendReport`` into its own answer.

A send that comes with an ``Idempotency-Key`` and that the provider certainly did not take
(429, 503: ``try_again_later``) is *held*: the message goes back to ``accepted``, taken by no
dispatcher, and the caller's retry with the key sends it (``resend``), so one key makes one
message whatever the retries. Without a key nobody can retry it: it has ``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from smsgate.db.errors import StoreUnavailable
from smsgate.db.queue import QueueStore
from smsgate.db.rows import Message, NewMessage
from smsgate.db.store import MessageStore
from smsgate.domain.access import OPEN, Principal
from smsgate.domain.clock import Clock, utc_now
from smsgate.domain.encoding import TextInfo
from smsgate.domain.errors import DomainError
from smsgate.domain.message import MessageStatus
from smsgate.domain.phone import PhoneNumber
from smsgate.domain.senders import SenderNotAllowed
from smsgate.logs import get_logger
from smsgate.metrics import Metrics
from smsgate.providers.base import Accepted, SendResult
from smsgate.services.handoff import (
    hand_off,
    not_sent_reason,
    record_outcome,
    stored_outcome,
    try_again_later,
)
from smsgate.services.limits import Candidate, Limits
from smsgate.services.outlets import Outlet, Outlets
from smsgate.services.recipients import RecipientCheck
from smsgate.services.senders import Route, SenderDirectory


@dataclass(frozen=True, slots=True)
class SendReport:
    message: Message  # as stored, with the status the provider's answer gave it
    to: PhoneNumber
    text: TextInfo
    result: SendResult
    held: bool = False  # nothing was sent; a retry with the same Idempotency-Key sends it

    @property
    def accepted(self) -> Accepted | None:
        return self.result if isinstance(self.result, Accepted) else None


class RecipientOptedOut(DomainError):
    """The number asked not to get messages (STOP); nothing is sent to it."""

    code = "recipient_opted_out"

    def __init__(self, message: str, message_id: str) -> None:
        super().__init__(message)
        self.message_id = message_id


class MessageNotPending(DomainError):
    """The held message an ``Idempotency-Key`` stands for was canceled or expired meanwhile."""

    code = "message_not_pending"

    def __init__(self, message: str, message_id: str) -> None:
        super().__init__(message)
        self.message_id = message_id


log = get_logger("smsgate.sending")


class Sender:
    """Sends one text now: checked, stored, handed to the provider, and the outcome stored.

    The row is written (already ``sending``) before the provider is called, and no database
    session is open during the call. If the outcome cannot be stored afterwards, the row stays
    ``sending``, which says "may have been sent": it is never sent again.
    """

    def __init__(
        self,
        outlets: Outlets,
        store: MessageStore,
        *,
        recipients: RecipientCheck | None = None,
        sender_id: str | None = None,
        metrics: Metrics | None = None,
        limits: Limits | None = None,
        queue: QueueStore | None = None,
        hold_for: timedelta = timedelta(hours=24),
        clock: Clock = utc_now,
        senders: SenderDirectory | None = None,
    ) -> None:
        """``queue`` holds a message for a keyed retry (without it, nothing is held), for
        ``hold_for``: as long as the key is kept."""
        self.outlets = outlets
        self._store = store
        self._recipients = recipients or RecipientCheck()
        self._sender_id = sender_id
        self._metrics = metrics
        self._limits = limits
        self._queue = queue
        self._hold_for = hold_for
        self._clock = clock
        self._senders = senders

    async def send(
        self,
        to: str,
        text: str,
        caller: Principal = OPEN,
        *,
        callback_url: str | None = None,
        hold: bool = False,
        from_: object = None,
        pool: object = None,
    ) -> SendReport:
        """``callback_url``: where this message's status webhooks go too (checked by the API).
        ``hold``: the caller can retry this very send (an ``Idempotency-Key``). ``from_`` names
        the sender, ``pool`` the pool to choose it from (``SenderDirectory.route``)."""
        recipient = self._recipients.check(to, text)
        number, info = recipient.number, recipient.text
        outlet = self.outlets.for_caller(caller)
        route = Route(self._sender_id, None)
        if self._senders is not None:
            await self._senders.maybe_refresh()
            route = self._senders.route(from_, pool, number)
        elif from_ is not None or pool is not None:
            raise DomainError("This sender has no sender registry.", code="unknown_sender")
        if self._limits is not None:
            candidates = [Candidate(number, recipient.cost)]
            admission = await self._limits.admit(
                caller, candidates, reaches_phones=outlet.reaches_phones
            )
            if admission.refused:
                raise admission.refused[0]
        sender = route.sender
        if route.pool is not None:
            assert self._senders is not None  # only a directory routes to a pool
            # Chosen now, its slot taken but not waited for: an inline send answers at once,
            # and the queued hand-offs from the same sender make room for it.
            choice = await self._senders.choose(
                route.pool,
                number.e164,
                number.region,
                pace_prefix=self.outlets.pace_prefix(outlet),
                wait=False,
            )
            if choice is None:  # the pool changed since the route was read
                raise SenderNotAllowed(f"No sender of the pool {route.pool!r} may send there.")
            sender = choice.sender.address
        new = NewMessage(
            to=number.e164,
            text=text,
            encoding=info.encoding.value,
            segments=info.segments,
            provider=outlet.provider.name,
            sender=sender,
            pool=route.pool,
            estimated_cost=recipient.cost,
            api_key_id=caller.id,
            callback_url=callback_url,
        )
        message = await self._store.add(new, claimed=True, unless_opted_out=True)
        if message.status is MessageStatus.REJECTED:
            raise RecipientOptedOut(message.error_reason or "The recipient opted out.", message.id)
        return await self._hand_off(message, number, info, outlet, hold=hold)

    async def resend(self, message_id: str) -> SendReport:
        """Send again a message ``send(hold=True)`` held: the retry of its Idempotency-Key.

        It goes where it went the first time (its stored provider: a test key's to the sandbox).
        It was counted against the limits when it was first sent; it is checked again (the
        country may have been closed meanwhile), claimed like any hand-off, and held again if
        the provider still does not take it.
        """
        message = await self._store.get(message_id)
        if message is None or message.status is not MessageStatus.ACCEPTED or not message.text:
            raise self._not_pending(message_id, message)
        recipient = self._recipients.check(message.to, message.text)
        if not await self._store.claim(message_id, source="api"):
            now = await self._store.get(message_id)
            if now is not None and now.status is MessageStatus.REJECTED:
                # The claim found the number on the opt-out list (a STOP since the first try).
                raise RecipientOptedOut(now.error_reason or "The recipient opted out.", message_id)
            raise self._not_pending(message_id, now)
        outlet = self.outlets.named(message.provider)
        claimed = replace(message, status=MessageStatus.SENDING, attempts=message.attempts + 1)
        return await self._hand_off(claimed, recipient.number, recipient.text, outlet, hold=True)

    async def _hand_off(
        self, message: Message, number: PhoneNumber, info: TextInfo, outlet: Outlet, *, hold: bool
    ) -> SendReport:
        text = message.text or ""
        sender = self._senders.address_of(message.sender) if self._senders is not None else None
        result = await hand_off(
            outlet, message.id, number.e164, text, self._metrics, sender, segments=info.segments
        )
        if hold and try_again_later(result) and await self._held(message.id, result):
            held = replace(message, status=MessageStatus.ACCEPTED)
            return SendReport(held, number, info, result, held=True)
        status, outcome = stored_outcome(result)
        await record_outcome(self._store, message.id, status, outcome)
        return SendReport(
            message=outcome.applied_to(message, status), to=number, text=info, result=result
        )

    async def _held(self, message_id: str, result: SendResult) -> bool:
        """Give the claim back for the key's retry; False if that could not be stored (or
        this sender holds nothing: it was built without a queue)."""
        if self._queue is None:
            return False
        until = self._clock() + self._hold_for
        reason = not_sent_reason(result)
        try:
            return await self._queue.release(message_id, None, reason, held_until=until)
        except StoreUnavailable:
            # The row stays "sending": the reconciler finds nothing at Plivo and fails it.
            log.error("hold_not_stored", message_id=message_id)
            return False

    @staticmethod
    def _not_pending(message_id: str, message: Message | None) -> MessageNotPending:
        status = message.status.value if message is not None else "gone"
        return MessageNotPending(
            f"The message this Idempotency-Key sent is {status} and will not be sent; use a "
            "new key for a new message.",
            message_id,
        )

    def check(self, to: str) -> tuple[PhoneNumber, Decimal | None]:
        """The number as it would be sent, and its price per segment; DomainError if it
        cannot be sent to (invalid, or a country not allowed)."""
        number = self._recipients.number(to)
        return number, self._recipients.rate(number)
