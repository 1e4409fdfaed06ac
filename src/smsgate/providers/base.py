"""The port every SMS provider adapter implements, and the one typed result a send ends in.

A send has exactly one of these outcomes, and each one tells the caller whether the message may
have left: that is what keeps retries from turning into double sends.

    SendResult
     ├── Accepted            the provider took it (message UUIDs)          sent
     ├── Rejected            the provider refused it (400/403/404)         not sent
     ├── CredentialsRefused  the provider refused our credentials (401)    not sent
     ├── RateLimited         the provider asked us to slow down (429)      not sent
     ├── Transient           unreachable, or 5xx after the retries         not sent; 500/504 unknown
     ├── Unreadable          an answer we cannot parse                     unknown
     └── Ambiguous           no answer after the request may have arrived  unknown
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

from smsgate.domain.message import MessageStatus
from smsgate.domain.senders import SenderAddress


@dataclass(frozen=True, slots=True)
class OutboundSms:
    """One text to one number, already validated: ``to`` is E.164.

    Neither the number nor the text shows in the repr, so neither can reach a log that way.
    """

    to: str = field(repr=False)
    text: str = field(repr=False)
    # Where the provider posts this message's delivery reports (Plivo's ``url``): smsgate's
    # own callback route. Not the user's webhook, which is a message's ``callback_url``.
    status_url: str | None = None
    # Where it goes from; None: the provider's configured sender (PLIVO_SENDER_ID).
    sender: SenderAddress | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    outcome: ClassVar[str] = "accepted"
    message_uuids: tuple[str, ...]
    api_id: str
    invalid_numbers: tuple[str, ...] = ()
    attempts: int = 1
    may_have_been_sent: bool = field(default=True, init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """The provider refused the message itself, with its own reason."""

    outcome: ClassVar[str] = "rejected"
    status: int
    error: str
    api_id: str | None = None
    attempts: int = 1
    may_have_been_sent: bool = field(default=False, init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialsRefused:
    outcome: ClassVar[str] = "credentials_refused"
    error: str
    attempts: int = 1
    may_have_been_sent: bool = field(default=False, init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimited:
    outcome: ClassVar[str] = "rate_limited"
    error: str
    retry_after: float | None = None
    attempts: int = 1
    may_have_been_sent: bool = field(default=False, init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Transient:
    """Unreachable, or a 5xx answer. After 502/503 nothing was taken; after a 500 or a 504 the
    provider may have begun processing, so ``may_have_been_sent`` is set."""

    outcome: ClassVar[str] = "transient"
    error: str
    status: int | None = None
    attempts: int = 1
    may_have_been_sent: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Unreadable:
    """An answer we cannot parse. If its status said success, the message may be out."""

    outcome: ClassVar[str] = "unreadable"
    error: str
    status: int
    attempts: int = 1
    may_have_been_sent: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Ambiguous:
    """The request may have reached the provider and no answer came: never send it again."""

    outcome: ClassVar[str] = "ambiguous"
    error: str
    attempts: int = 1
    may_have_been_sent: bool = field(default=True, init=False)


SendResult = (
    Accepted | Rejected | CredentialsRefused | RateLimited | Transient | Unreadable | Ambiguous
)


class SmsProvider(Protocol):
    """Hands one message to an SMS provider. Never raises for a provider's answer."""

    @property
    def name(self) -> str: ...

    async def send(self, sms: OutboundSms) -> SendResult: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SentRecord:
    """A message the provider holds, as its records show it: for reconciling a lost hand-off."""

    message_uuid: str
    to: str  # E.164, with the +
    state: str  # the provider's own word: queued, sent, delivered, ...
    at: datetime  # when the provider took it (aware)
    # Our status for ``state``, as the adapter reads its provider's word; None when it is a
    # state smsgate does not track.
    status: MessageStatus | None = None


class LookupUnavailable(Exception):
    """The provider's records could not be read; the message says why, without secrets."""


class PricingUnavailable(Exception):
    """The provider's prices could not be read; the message says why, without secrets."""


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """What the provider says of the account, in plain values (no provider types leave it)."""

    name: str | None
    cash_credits: Decimal | None  # the balance, in the account's currency


class AccountUnavailable(Exception):
    """The account could not be read; the message says why, without secrets."""


@runtime_checkable
class SentLookup(Protocol):
    """A provider that can list what it took: the reconciler asks before re-sending anything."""

    async def find_sent(self, to: str, since: datetime, until: datetime) -> list[SentRecord]:
        """Messages to ``to`` the provider took between ``since`` and ``until``."""
        ...


# --- what a provider posts back ------------------------------------------------------------
#
# Delivery reports and inbound messages come from the network. An adapter reads them without
# trust into these values: a field that does not parse is None (or "" for text), never fatal,
# and every string is storable by any database (no NUL, no lone surrogate).


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReport:
    """The provider's word on one outbound message: its new status and what it cost."""

    message_uuid: str  # the provider's id of the message; "" when the report names none
    status: MessageStatus | None  # None: a status smsgate does not track
    status_word: str  # the provider's own word for it, as posted (for logs)
    to: str = field(repr=False)  # the recipient as posted (logged masked)
    units: int | None  # segments billed
    amount: Decimal | None  # what the message cost, to 5 decimal places
    error_code: str | None  # the provider's error code, None for none or success
    error_reason: str | None  # what that code means, in words
    fields: Mapping[str, str] = field(repr=False)  # everything posted: the event's detail


class Intent(StrEnum):
    """What the provider itself read an inbound message as asking for, when it says."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundReport:
    """One message a person texted to our number."""

    sender: str = field(repr=False)  # as posted
    recipient: str = field(repr=False)  # as posted (our number)
    sender_number: str | None = field(repr=False)  # E.164; None when no phone number (short code)
    recipient_number: str | None = field(repr=False)
    text: str | None = field(repr=False)
    message_uuid: str  # the provider's id of the message; "" when the post names none
    units: int | None
    intent: Intent | None  # the provider's reading, which wins over ours
    intent_word: str  # the provider's own word for it, lower case ("" for none)
    fields: Mapping[str, str] = field(repr=False)  # everything posted, kept as it came


@dataclass(frozen=True, slots=True)
class Reply:
    """A text to answer an inbound message with: from our number ``src`` back to ``dst``."""

    src: str
    dst: str
    text: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ReplyDocument:
    """The body of the answer to the provider's inbound post, and its media type."""

    body: str
    media_type: str


class CallbackReader(Protocol):
    """Reads what a provider posts back to smsgate: is it really the provider's, what it says,
    and how to answer it."""

    def verify(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        form: Mapping[str, list[str]] | None,
    ) -> bool:
        """True only when the provider signed this request. ``path`` is as requested (still
        percent-encoded), ``query`` the raw query string without "?", ``form`` every POSTed
        field with all its values, blank ones included (None for a GET)."""
        ...

    def delivery_report(self, fields: Mapping[str, str]) -> DeliveryReport: ...

    def inbound_report(self, fields: Mapping[str, str]) -> InboundReport: ...

    def reply_document(self, reply: Reply | None) -> ReplyDocument:
        """The answer to an inbound post: ``reply`` texted back, or "nothing to do"."""
        ...
