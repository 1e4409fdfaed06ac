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

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class OutboundSms:
    """One text to one number, already validated: ``to`` is E.164.

    Neither the number nor the text shows in the repr, so neither can reach a log that way.
    """

    to: str = field(repr=False)
    text: str = field(repr=False)
    callback_url: str | None = None


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


class LookupUnavailable(Exception):
    """The provider's records could not be read; the message says why, without secrets."""


@runtime_checkable
class SentLookup(Protocol):
    """A provider that can list what it took: the reconciler asks before re-sending anything."""

    async def find_sent(self, to: str, since: datetime, until: datetime) -> list[SentRecord]:
        """Messages to ``to`` the provider took between ``since`` and ``until``."""
        ...
