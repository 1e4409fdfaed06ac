"""Send one text now: validate, store, hand it to the provider, and say what became of it.

The API and the CLI both use ``Sender``; each turns the ``SendReport`` into its own answer.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from decimal import Decimal

from smsgate.db.errors import StoreUnavailable
from smsgate.db.store import Message, MessageStore, NewMessage, Outcome
from smsgate.domain.access import OPEN, Principal
from smsgate.domain.encoding import TextInfo
from smsgate.domain.errors import DomainError
from smsgate.domain.geo import CountryPolicy
from smsgate.domain.message import MessageStatus
from smsgate.domain.phone import PhoneNumber, mask_number, parse_phone_number
from smsgate.domain.pricing import PriceTable
from smsgate.domain.text import check_text
from smsgate.logs import get_logger
from smsgate.metrics import Metrics
from smsgate.providers.base import (
    Accepted,
    Ambiguous,
    CredentialsRefused,
    OutboundSms,
    RateLimited,
    Rejected,
    SendResult,
    SmsProvider,
    Transient,
    Unreadable,
)
from smsgate.providers.sandbox import SandboxProvider
from smsgate.services.limits import Candidate, Limits
from smsgate.services.outlets import Outlet, Outlets

log = get_logger("smsgate.sending")


@dataclass(frozen=True, slots=True)
class SendReport:
    message: Message  # as stored, with the status the provider's answer gave it
    to: PhoneNumber
    text: TextInfo
    result: SendResult

    @property
    def accepted(self) -> Accepted | None:
        return self.result if isinstance(self.result, Accepted) else None

    def success_document(self, accepted: Accepted) -> dict[str, object]:
        """The seed's success answer, which the API returns and ``smsgate send --json`` prints."""
        return {
            "success": True,
            "id": self.message.id,
            "message_uuid": accepted.message_uuids[0],
            "api_id": accepted.api_id,
            "to": self.to.e164,
            "encoding": self.text.encoding.value,
            "segments": self.text.segments,
        }


@dataclass(frozen=True, slots=True)
class Failure:
    """A send that did not succeed, in words a caller can act on, with a stable code."""

    code: str
    message: str
    retry_after: int | None = None


class RecipientOptedOut(DomainError):
    """The number asked not to get messages (STOP); nothing is sent to it."""

    code = "recipient_opted_out"

    def __init__(self, message: str, message_id: str) -> None:
        super().__init__(message)
        self.message_id = message_id


def validate(to: str, text: str, *, default_region: str | None) -> tuple[PhoneNumber, TextInfo]:
    """Raise a DomainError (with its code) unless the number and the text can be sent."""
    return parse_phone_number(to, default_region), check_text(text)


class Sender:
    """Sends one text now: validated, stored, handed to the provider, and the outcome stored.

    The row is written (already ``sending``) before the provider is called, and no database
    session is open during the call. If the outcome cannot be stored afterwards, the row stays
    ``sending``, which says "may have been sent": it is never sent again.
    """

    def __init__(
        self,
        provider: SmsProvider,
        store: MessageStore,
        *,
        default_region: str | None = None,
        sender_id: str | None = None,
        callback_url: str | None = None,
        prices: PriceTable | None = None,
        metrics: Metrics | None = None,
        countries: CountryPolicy | None = None,
        test_outlet: Outlet | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.provider = provider
        self._store = store
        self._default_region = default_region
        self._sender_id = sender_id
        self._prices = prices
        self._metrics = metrics
        self._countries = countries or CountryPolicy(None)
        # A test key's messages never reach the configured provider.
        self._outlets = Outlets(
            Outlet(provider, callback_url), test_outlet or Outlet(SandboxProvider(), None)
        )
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
        number, info = validate(to, text, default_region=self._default_region)
        self._countries.check(number)
        cost = self.estimate(number, info)
        if self._limits is not None:
            admission = await self._limits.admit(caller, [Candidate(number, cost)])
            if admission.refused:
                raise admission.refused[0]
        outlet = self._outlets.for_caller(caller)
        provider = outlet.provider
        new = NewMessage(
            to=number.e164,
            text=text,
            encoding=info.encoding.value,
            segments=info.segments,
            provider=provider.name,
            sender=self._sender_id,
            estimated_cost=cost,
            api_key_id=caller.id,
            callback_url=callback_url,
        )
        message = await self._store.add(new, claimed=True, unless_opted_out=True)
        if message.status is MessageStatus.REJECTED:
            raise RecipientOptedOut(message.error_reason or "The recipient opted out.", message.id)
        started = time.perf_counter()
        result = await provider.send(
            OutboundSms(to=number.e164, text=text, callback_url=outlet.callback_url)
        )
        report_provider_call(
            provider.name,
            message.id,
            number.e164,
            result,
            time.perf_counter() - started,
            self._metrics,
            segments=info.segments,
        )
        status, outcome = stored_outcome(result)
        await self._record(message.id, status, outcome)
        return SendReport(
            message=outcome.applied_to(message, status), to=number, text=info, result=result
        )

    def check(self, to: str) -> tuple[PhoneNumber, Decimal | None]:
        """The number as it would be sent, and its price per segment; DomainError if it
        cannot be sent to (invalid, or a country not allowed)."""
        number = parse_phone_number(to, self._default_region)
        self._countries.check(number)
        rate = self._prices.rate(number.region) if self._prices is not None else None
        return number, rate

    def estimate(self, number: PhoneNumber, info: TextInfo) -> Decimal | None:
        """What the message will cost at most; None when the price table has no rate for it."""
        if self._prices is None:
            return None
        return self._prices.estimate(number.region, info.segments)

    async def _record(self, message_id: str, status: MessageStatus, outcome: Outcome) -> None:
        await record_outcome(self._store, message_id, status, outcome)


async def record_outcome(
    store: MessageStore, message_id: str, status: MessageStatus, outcome: Outcome
) -> None:
    """Store what the provider answered to a hand-off this process made.

    If the database will not take it, the send still stands: the row stays "sending", is
    never sent again, and is reconciled with the provider's records later.
    """
    try:
        await store.record(
            message_id,
            status,
            source="provider",
            outcome=outcome,
            expected=MessageStatus.SENDING,  # claimed just before the hand-off
        )
    except StoreUnavailable:
        log.error("outcome_not_stored", message_id=message_id, status=status.value)


def stored_outcome(result: SendResult) -> tuple[MessageStatus, Outcome]:
    """The status a provider's answer gives the stored message, and the fields to keep."""
    if isinstance(result, Accepted):
        return MessageStatus.QUEUED, Outcome(provider_message_uuid=result.message_uuids[0])
    failure = describe_failure(result)
    reason = failure.message if failure is not None else None
    status = MessageStatus.UNKNOWN if result.may_have_been_sent else MessageStatus.REJECTED
    return status, Outcome(error_reason=reason)


def describe_failure(result: SendResult) -> Failure | None:
    """None for an accepted message; otherwise what went wrong, for people and programs.

    Only Plivo's own rejection reason is passed on; transport details (hosts, URLs) stay in
    the logs, as does anything else a caller cannot act on.
    """
    match result:
        case Accepted():
            return None
        case Rejected(status=404 | 405 as status):
            # Plivo does not know the URL: our PLIVO_API_URL or PLIVO_AUTH_ID is wrong.
            return Failure(
                "provider_bad_response",
                f"Plivo answered HTTP {status} to the send request; check PLIVO_API_URL and "
                "PLIVO_AUTH_ID. Nothing was sent.",
            )
        case Rejected(error=error):
            return Failure("provider_rejected", f"Plivo rejected the message: {error}")
        case CredentialsRefused():
            return Failure(
                "provider_auth_failed",
                "Plivo refused smsgate's credentials; check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN.",
            )
        case RateLimited(retry_after=retry_after):
            wait = max(1, math.ceil(retry_after)) if retry_after is not None else 1
            return Failure(
                "provider_rate_limited",
                f"Plivo is rate-limiting smsgate; try again in {wait} s.",
                retry_after=wait,
            )
        case Transient(status=status, may_have_been_sent=True):
            return Failure(
                "provider_error",
                f"Plivo failed while handling the message (HTTP {status}). It may or may not "
                "have been sent; it was not retried, to avoid sending it twice.",
            )
        case Transient():
            return Failure(
                "provider_unavailable",
                "Plivo is unavailable; nothing was sent. Try again later.",
                retry_after=5,
            )
        case Unreadable(status=status, may_have_been_sent=maybe):
            fate = "it may have been sent" if maybe else "nothing was sent"
            return Failure(
                "provider_bad_response", f"Plivo's answer (HTTP {status}) was unreadable; {fate}."
            )
        case Ambiguous():
            return Failure(
                "provider_timeout",
                "Plivo did not answer in time. The message may or may not have been sent; "
                "it was not retried, to avoid sending it twice.",
            )


def report_provider_call(
    provider: str,
    message_id: str,
    to: str,
    result: SendResult,
    seconds: float,
    metrics: Metrics | None,
    **extra: object,
) -> None:
    """One ``provider_call`` log line (number masked, no text) and the metrics of a hand-off."""
    log.info(
        "provider_call",
        provider=provider,
        message_id=message_id,
        to=mask_number(to),
        latency_ms=round(seconds * 1000, 1),
        **extra,
        **log_fields(result),
    )
    if metrics is not None:
        metrics.provider_call(result.outcome, seconds)


def log_fields(result: SendResult) -> dict[str, object]:
    """What a log line may say about a result: never Plivo's free text (it can hold numbers)."""
    fields: dict[str, object] = {"outcome": result.outcome, "attempts": result.attempts}
    status = getattr(result, "status", None)
    if status is not None:
        fields["http_status"] = status
    if isinstance(result, Transient | Ambiguous) and status is None:
        fields["cause"] = result.error  # a transport error's class, or "timed out"
    return fields
