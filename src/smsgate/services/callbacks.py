"""Plivo's delivery reports: each one is kept, and moves the message if it is news.

Plivo posts a report on every status change (reference §3) and repeats it when it got no 200,
so reports arrive late, twice and out of order. ``MessageStore.record`` keeps every one as an
event and moves the status only forward; this module reads the fields, which come from the
network and are parsed without trust: a field that does not parse is left out, never fatal.

Every outcome is answered 200 by the route, an unknown ``MessageUUID`` included, since
Plivo would otherwise retry a report that can never apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from smsgate.db.store import MessageStore, Outcome
from smsgate.domain.message import Transition, from_provider_status
from smsgate.domain.phone import mask_number
from smsgate.logs import get_logger
from smsgate.providers.plivo.errors import describe_error_code, lookup

__all__ = [
    "StatusReportResult",
    "apply_status_report",
    "parse_amount",
    "parse_error_code",
    "parse_units",
    "plain_fields",
]

log = get_logger("smsgate.callbacks")

# ASCII digits only: \d would also take digits of other scripts.
_UNITS = re.compile(r"[0-9]{1,6}")
# The amount column is Numeric(12, 5): 7 digits before the point, 5 after.
_AMOUNT = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,20})?")
_CENT_FRACTION = Decimal("0.00001")
_AMOUNT_LIMIT = Decimal(10) ** 7
# The error_code column holds 8 characters; Plivo's codes are a few digits.
_ERROR_CODE = re.compile(r"[0-9]{1,8}")
# What of an unexpected value goes into a log line or a reason.
_QUOTE_LIMIT = 32


@dataclass(frozen=True, slots=True)
class StatusReportResult:
    """What became of one report.

    ``message_id`` is None when no message has the report's ``MessageUUID``. ``transition``
    is what the store decided (``applied`` False for a late or repeated report), None when
    nothing was recorded; ``ignored`` then says why.
    """

    message_id: str | None
    transition: Transition | None = None
    ignored: str | None = None


async def apply_status_report(fields: Mapping[str, str], store: MessageStore) -> StatusReportResult:
    """Record one status callback's ``fields`` (form or query) against its message."""
    detail = plain_fields(fields)
    uuid = detail.get("MessageUUID", "").strip()
    masked_to = mask_number(detail.get("To", ""))
    if not uuid:
        log.warning("status_report_ignored", reason="no MessageUUID", to=masked_to)
        return StatusReportResult(None, ignored="no MessageUUID")
    message = await store.find_by_provider_uuid(uuid)
    if message is None:
        log.warning("status_report_for_unknown_message", message_uuid=_quote(uuid), to=masked_to)
        return StatusReportResult(None, ignored="unknown MessageUUID")
    raw_status = detail.get("Status", "")
    status = from_provider_status(raw_status)
    if status is None:
        reason = f"unsupported Status {_quote(raw_status)}"
        log.info("status_report_ignored", message_id=message.id, reason=reason, to=masked_to)
        return StatusReportResult(message.id, ignored=reason)
    error_code = parse_error_code(detail.get("ErrorCode"))
    outcome = Outcome(
        units=parse_units(detail.get("Units")),
        amount=parse_amount(detail.get("TotalAmount")),
        error_code=error_code,
        error_reason=describe_error_code(error_code),
    )
    transition = await store.record(
        message.id, status, source="callback", outcome=outcome, detail=detail
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
        error_code=error_code,
        to=masked_to,
    )
    return StatusReportResult(message.id, transition)


def plain_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """The fields as a dict any database stores: no NUL characters, no lone surrogates."""
    return {_storable(name): _storable(value) for name, value in fields.items()}


def parse_units(value: str | None) -> int | None:
    """Plivo's ``Units`` (segments billed), or None when absent or not a plain count."""
    text = (value or "").strip()
    return int(text) if _UNITS.fullmatch(text) else None


def parse_amount(value: str | None) -> Decimal | None:
    """Plivo's ``TotalAmount`` to 5 decimal places, or None when absent, odd or too large."""
    text = (value or "").strip()
    if not _AMOUNT.fullmatch(text):
        return None  # also refuses what Decimal would take: "NaN", "1e3", "-1", "1_0"
    amount = Decimal(text).quantize(_CENT_FRACTION)
    return amount if amount < _AMOUNT_LIMIT else None


def parse_error_code(value: str | None) -> str | None:
    """Plivo's ``ErrorCode`` when it names an error; None when blank, odd, or success ("000")."""
    text = (value or "").strip()
    if not _ERROR_CODE.fullmatch(text):
        return None
    known = lookup(text)
    return None if known is not None and known.code == "000" else text


def _storable(text: str) -> str:
    if text.isascii() and "\x00" not in text:
        return text
    # PostgreSQL refuses NUL in text; a lone surrogate cannot be encoded at all.
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _quote(value: str) -> str:
    return repr(value[:_QUOTE_LIMIT])
