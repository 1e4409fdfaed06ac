"""Send one text now: validate, hand it to the provider, and say what became of it.

The API and the CLI both call ``send_text``; each turns the ``SendReport`` into its own answer.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from smsgate.domain.encoding import TextInfo, check_length
from smsgate.domain.phone import PhoneNumber, parse_phone_number
from smsgate.logs import get_logger
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

log = get_logger("smsgate.sending")


@dataclass(frozen=True, slots=True)
class SendReport:
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


def validate(to: str, text: str, *, default_region: str | None) -> tuple[PhoneNumber, TextInfo]:
    """Raise a DomainError (with its code) unless the number and the text can be sent."""
    return parse_phone_number(to, default_region), check_length(text)


async def send_text(
    to: str, text: str, *, provider: SmsProvider, default_region: str | None = None
) -> SendReport:
    number, info = validate(to, text, default_region=default_region)
    started = time.perf_counter()
    result = await provider.send(OutboundSms(to=number.e164, text=text))
    log.info(
        "provider_call",
        provider=provider.name,
        to=number.masked,
        segments=info.segments,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
        **log_fields(result),
    )
    return SendReport(to=number, text=info, result=result)


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


def log_fields(result: SendResult) -> dict[str, object]:
    """What a log line may say about a result: never Plivo's free text (it can hold numbers)."""
    fields: dict[str, object] = {"outcome": result.outcome, "attempts": result.attempts}
    status = getattr(result, "status", None)
    if status is not None:
        fields["http_status"] = status
    if isinstance(result, Transient | Ambiguous) and status is None:
        fields["cause"] = result.error  # a transport error's class, or "timed out"
    return fields
