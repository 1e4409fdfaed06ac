"""Delivery reports: each one is kept, and moves the message if it is news.

The provider posts a report on every status change and repeats it when it got no 200, so
reports arrive late, twice and out of order. ``MessageStore.record`` keeps every one as an
event and moves the status only forward. The provider's adapter has already read the report
without trust (``providers.base.DeliveryReport``); this module applies it.

Every outcome is answered 200 by the route, an unknown message included, since the provider
would otherwise retry a report that can never apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.db.rows import Outcome
from smsgate.db.store import MessageStore
from smsgate.domain.message import Transition
from smsgate.domain.phone import mask_number
from smsgate.logs import get_logger
from smsgate.providers.base import DeliveryReport

__all__ = [
    "NO_UUID",
    "UNKNOWN_UUID",
    "UNSUPPORTED_STATUS",
    "StatusReportResult",
    "apply_delivery_report",
]

log = get_logger("smsgate.callbacks")

# Why a report was ignored, in smsgate's words (the provider's field names differ).
NO_UUID = "no message UUID"
UNKNOWN_UUID = "unknown message UUID"
UNSUPPORTED_STATUS = "unsupported status"
# What of an unexpected value goes into a log line or a reason.
_QUOTE_LIMIT = 32


@dataclass(frozen=True, slots=True)
class StatusReportResult:
    """What became of one report.

    ``message_id`` is None when no message has the report's message UUID. ``transition``
    is what the store decided (``applied`` False for a late or repeated report), None when
    nothing was recorded; ``ignored`` then says why.
    """

    message_id: str | None
    transition: Transition | None = None
    ignored: str | None = None


async def apply_delivery_report(report: DeliveryReport, store: MessageStore) -> StatusReportResult:
    """Record one delivery report against its message."""
    masked_to = mask_number(report.to)
    if not report.message_uuid:
        log.warning("status_report_ignored", reason=NO_UUID, to=masked_to)
        return StatusReportResult(None, ignored=NO_UUID)
    message = await store.find_by_provider_uuid(report.message_uuid)
    if message is None:
        quoted = _quote(report.message_uuid)
        log.warning("status_report_for_unknown_message", message_uuid=quoted, to=masked_to)
        return StatusReportResult(None, ignored=UNKNOWN_UUID)
    status = report.status
    if status is None:
        reason = f"{UNSUPPORTED_STATUS} {_quote(report.status_word)}"
        log.info("status_report_ignored", message_id=message.id, reason=reason, to=masked_to)
        return StatusReportResult(message.id, ignored=reason)
    outcome = Outcome(
        units=report.units,
        amount=report.amount,
        error_code=report.error_code,
        error_reason=report.error_reason,
    )
    transition = await store.record(
        message.id, status, source="callback", outcome=outcome, detail=dict(report.fields)
    )
    if transition is None:  # the message went away between the two calls
        log.warning("status_report_for_unknown_message", message_id=message.id, to=masked_to)
        return StatusReportResult(None, ignored="unknown message")
    log.info(
        "status_report",
        message_id=message.id,
        status=status.value,
        applied=transition.applied,
        now=transition.status.value,
        error_code=report.error_code,
        to=masked_to,
    )
    return StatusReportResult(message.id, transition)


def _quote(value: str) -> str:
    return repr(value[:_QUOTE_LIMIT])
