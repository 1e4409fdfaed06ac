"""Send one text now: check, store, hand it to the provider, and say what became of it.

The API and the CLI both use ``Sender``; each turns the ``SendReport`` into its own answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from smsgate.db.rows import Message, NewMessage
from smsgate.db.store import MessageStore
from smsgate.domain.access import OPEN, Principal
from smsgate.domain.encoding import TextInfo
from smsgate.domain.errors import DomainError
from smsgate.domain.message import MessageStatus
from smsgate.domain.phone import PhoneNumber
from smsgate.metrics import Metrics
from smsgate.providers.base import Accepted, SendResult
from smsgate.services.handoff import hand_off, record_outcome, stored_outcome
from smsgate.services.limits import Candidate, Limits
from smsgate.services.outlets import Outlets
from smsgate.services.recipients import RecipientCheck


@dataclass(frozen=True, slots=True)
class SendReport:
    message: Message  # as stored, with the status the provider's answer gave it
    to: PhoneNumber
    text: TextInfo
    result: SendResult

    @property
    def accepted(self) -> Accepted | None:
        return self.result if isinstance(self.result, Accepted) else None


class RecipientOptedOut(DomainError):
    """The number asked not to get messages (STOP); nothing is sent to it."""

    code = "recipient_opted_out"

    def __init__(self, message: str, message_id: str) -> None:
        super().__init__(message)
        self.message_id = message_id


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
    ) -> None:
        self.outlets = outlets
        self._store = store
        self._recipients = recipients or RecipientCheck()
        self._sender_id = sender_id
        self._metrics = metrics
        self._limits = limits

    async def send(
        self,
        to: str,
        text: str,
        caller: Principal = OPEN,
        *,
        callback_url: str | None = None,
    ) -> SendReport:
        """``callback_url``: where this message's status webhooks go too (checked by the API)."""
        recipient = self._recipients.check(to, text)
        number, info = recipient.number, recipient.text
        outlet = self.outlets.for_caller(caller)
        if self._limits is not None:
            candidates = [Candidate(number, recipient.cost)]
            admission = await self._limits.admit(
                caller, candidates, reaches_phones=outlet.reaches_phones
            )
            if admission.refused:
                raise admission.refused[0]
        new = NewMessage(
            to=number.e164,
            text=text,
            encoding=info.encoding.value,
            segments=info.segments,
            provider=outlet.provider.name,
            sender=self._sender_id,
            estimated_cost=recipient.cost,
            api_key_id=caller.id,
            callback_url=callback_url,
        )
        message = await self._store.add(new, claimed=True, unless_opted_out=True)
        if message.status is MessageStatus.REJECTED:
            raise RecipientOptedOut(message.error_reason or "The recipient opted out.", message.id)
        result = await hand_off(
            outlet, message.id, number.e164, text, self._metrics, segments=info.segments
        )
        status, outcome = stored_outcome(result)
        await record_outcome(self._store, message.id, status, outcome)
        return SendReport(
            message=outcome.applied_to(message, status), to=number, text=info, result=result
        )

    def check(self, to: str) -> tuple[PhoneNumber, Decimal | None]:
        """The number as it would be sent, and its price per segment; DomainError if it
        cannot be sent to (invalid, or a country not allowed)."""
        number = self._recipients.number(to)
        return number, self._recipients.rate(number)
