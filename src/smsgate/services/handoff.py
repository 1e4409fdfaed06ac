"""The one door to the provider: hand a message over, say what became of it, store that.

The inline send (``Sender``) and the queued one (``Dispatcher``) both call ``hand_off``, then
``stored_outcome`` and ``record_outcome``; the API and the CLI word a failure with
``describe_failure``. A hand-off writes exactly one ``provider_call`` log line (the number
masked, never the text) and the provider-call metrics.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from smsgate.db.errors import StoreUnavailable
from smsgate.db.rows import Outcome
from smsgate.db.store import MessageStore
from smsgate.domain.message import MessageStatus
from smsgate.domain.phone import mask_number
from smsgate.domain.senders import SenderAddress
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
    Transient,
    Unreadable,
)
from smsgate.services.outlets import Outlet

log = get_logger("smsgate.sending")


@dataclass(frozen=True, slots=True)
class Failure:
    """A send that did not succeed, in words a caller can act on, with a stable code."""

    code: str
    message: str
    retry_after: int | None = None


async def hand_off(
    outlet: Outlet,
    message_id: str,
    to: str,
    text: str,
    metrics: Metrics | None,
    sender: SenderAddress | None = None,
    **log_extra: object,
) -> SendResult:
    """Give one claimed message to the outlet's provider; log and count the call.

    The caller has stored the message as ``sending`` before, and holds no database session:
    the provider call may take its whole deadline. ``sender``: where it goes from; None for
    the provider's own (PLIVO_SENDER_ID).
    """
    started = time.perf_counter()
    sms = OutboundSms(to=to, text=text, status_url=outlet.status_url, sender=sender)
    result = await outlet.provider.send(sms)
    report_provider_call(
        outlet.provider.name,
        message_id,
        to,
        result,
        time.perf_counter() - started,
        metrics,
        **log_extra,
    )
    return result


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


def try_again_later(result: SendResult) -> bool:
    """Whether the provider certainly holds nothing and the same hand-off may work later:
    it rate-limited us (429), or was unavailable before the request reached it (502, 503, no
    connection). Such a message was never the provider's: it is tried again (queued, or the
    caller's retry with the same ``Idempotency-Key``), or it fails, never ``rejected``."""
    return isinstance(result, RateLimited) or (
        isinstance(result, Transient) and not result.may_have_been_sent
    )


def stored_outcome(result: SendResult) -> tuple[MessageStatus, Outcome]:
    """The status a provider's answer gives the stored message, and the fields to keep.

    ``rejected`` is kept for the provider's own refusals; a hand-off it never took and nobody
    will try again has ``failed``, nothing sent.
    """
    if isinstance(result, Accepted):
        return MessageStatus.QUEUED, Outcome(provider_message_uuid=result.message_uuids[0])
    failure = describe_failure(result)
    reason = failure.message if failure is not None else None
    if result.may_have_been_sent:
        return MessageStatus.UNKNOWN, Outcome(error_reason=reason)
    if try_again_later(result):
        return MessageStatus.FAILED, Outcome(error_reason=not_sent_reason(result))
    return MessageStatus.REJECTED, Outcome(error_reason=reason)


def not_sent_reason(result: SendResult) -> str:
    """The stored reason of a hand-off the provider never took (``try_again_later``)."""
    if isinstance(result, RateLimited):
        return "Plivo was rate-limiting smsgate (HTTP 429); nothing was sent."
    return "Plivo was unavailable; nothing was sent."


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
