"""What Plivo posts back: its status-callback and inbound forms, read into provider-neutral
reports, and the Message XML it takes as an answer.

Plivo posts a status callback on every status change of a message it took (reference §3), and
a form for every message texted to our number (reference §7). Both come from the network and
are read without trust: a field that does not parse is left out (None), never fatal, and every
string comes out storable by any database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from xml.sax.saxutils import escape, quoteattr

from smsgate.domain.message import MessageStatus
from smsgate.providers.base import (
    DeliveryReport,
    InboundReport,
    Intent,
    Reply,
    ReplyDocument,
)
from smsgate.providers.plivo.errors import describe_error_code, lookup
from smsgate.providers.plivo.requests import verify_plivo_request

__all__ = [
    "NO_REPLY",
    "PROVIDER_STATUSES",
    "PlivoCallbackReader",
    "delivery_report",
    "from_provider_status",
    "help_reply_xml",
    "inbound_report",
    "normalise_number",
    "parse_amount",
    "parse_error_code",
    "parse_units",
    "plain_fields",
    "read_intent",
]

# Plivo's callback ``Status`` values. "read" (WhatsApp only) is left out on purpose: it says
# nothing about an SMS. "rejected" is in older docs and the SDK's filter, so it is kept.
PROVIDER_STATUSES: Mapping[str, MessageStatus] = MappingProxyType(
    {
        "queued": MessageStatus.QUEUED,
        "sent": MessageStatus.SENT,
        "delivered": MessageStatus.DELIVERED,
        "undelivered": MessageStatus.UNDELIVERED,
        "failed": MessageStatus.FAILED,
        "rejected": MessageStatus.REJECTED,
    }
)

# Plivo's MessageIntent values (long codes and toll-free numbers only).
_INTENTS: Mapping[str, Intent] = MappingProxyType(
    {"optout": Intent.OPT_OUT, "optin": Intent.OPT_IN, "help": Intent.HELP}
)

# ASCII digits only: \d would also take digits of other scripts.
_UNITS = re.compile(r"[0-9]{1,6}")
# The amount column is Numeric(12, 5): 7 digits before the point, 5 after.
_AMOUNT = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,20})?")
_CENT_FRACTION = Decimal("0.00001")
_AMOUNT_LIMIT = Decimal(10) ** 7
# The error_code column holds 8 characters; Plivo's codes are a few digits.
_ERROR_CODE = re.compile(r"[0-9]{1,8}")

# A number as Plivo posts it: country code and digits, with or without "+" (reference §4).
# At least 7 digits: shorter senders are short codes, which cannot be opted out by number.
_PLIVO_NUMBER = re.compile(r"\+?([1-9][0-9]{6,14})")

# An empty <Response/>: Plivo's XML for "nothing to do".
NO_REPLY = "<Response></Response>"
_XML = "application/xml"
# A parser reads a raw carriage return in text as a line feed; escaped, it stays itself.
_CARRIAGE_RETURN = {"\r": "&#13;"}
# What XML 1.0 has no way to write, even escaped: control characters other than tab and line
# breaks, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class PlivoCallbackReader:
    """The ``CallbackReader`` for Plivo: signatures made with ``auth_token`` over
    ``public_url`` + path (V3 or V2), Plivo's forms, and Plivo Message XML answers."""

    def __init__(self, auth_token: str, public_url: str) -> None:
        self._auth_token = auth_token
        self._public_url = public_url

    def __repr__(self) -> str:
        return f"PlivoCallbackReader(public_url={self._public_url!r})"

    def verify(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        form: Mapping[str, list[str]] | None,
    ) -> bool:
        return verify_plivo_request(
            method, self._public_url, path, query, headers, form, self._auth_token
        )

    def delivery_report(self, fields: Mapping[str, str]) -> DeliveryReport:
        return delivery_report(fields)

    def inbound_report(self, fields: Mapping[str, str]) -> InboundReport:
        return inbound_report(fields)

    def reply_document(self, reply: Reply | None) -> ReplyDocument:
        if reply is None:
            return ReplyDocument(NO_REPLY, _XML)
        return ReplyDocument(help_reply_xml(reply.src, reply.dst, reply.text), _XML)


def delivery_report(fields: Mapping[str, str]) -> DeliveryReport:
    """A status callback's fields (form or query), read into a report."""
    detail = plain_fields(fields)
    error_code = parse_error_code(detail.get("ErrorCode"))
    status_word = detail.get("Status", "")
    return DeliveryReport(
        message_uuid=detail.get("MessageUUID", "").strip(),
        status=from_provider_status(status_word),
        status_word=status_word,
        to=detail.get("To", ""),
        units=parse_units(detail.get("Units")),
        amount=parse_amount(detail.get("TotalAmount")),
        error_code=error_code,
        error_reason=describe_error_code(error_code),
        fields=detail,
    )


def inbound_report(fields: Mapping[str, str]) -> InboundReport:
    """An inbound message's fields (form or query), read into a report."""
    raw = plain_fields(fields)
    intent_word = (raw.get("MessageIntent") or "").strip().lower()
    return InboundReport(
        sender=raw.get("From", ""),
        recipient=raw.get("To", ""),
        sender_number=normalise_number(raw.get("From")),
        recipient_number=normalise_number(raw.get("To")),
        text=raw.get("Text"),
        message_uuid=raw.get("MessageUUID", "").strip(),
        units=parse_units(raw.get("Units")),
        intent=read_intent(intent_word),
        intent_word=intent_word,
        fields=raw,
    )


def from_provider_status(value: str) -> MessageStatus | None:
    """Our status for a Plivo callback ``Status``, or None for one we don't track."""
    return PROVIDER_STATUSES.get(value.strip().lower())


def read_intent(value: str | None) -> Intent | None:
    """What Plivo's ``MessageIntent`` says the message asks for; None when it says nothing."""
    return _INTENTS.get((value or "").strip().lower())


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


def normalise_number(raw: str | None) -> str | None:
    """A number Plivo posted, in E.164 form; None when it is no phone number (a short code)."""
    match = _PLIVO_NUMBER.fullmatch((raw or "").strip())
    return "+" + match.group(1) if match else None


def help_reply_xml(src: str, dst: str, text: str) -> str:
    """Plivo Message XML that texts ``text`` from ``src`` to ``dst``.

    Characters XML cannot carry at all (most control characters) are dropped; a carriage
    return is escaped, or the parser would read it as a line feed.
    """
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message src={quoteattr(_xml_chars(src))} dst={quoteattr(_xml_chars(dst))}>"
        f"{escape(_xml_chars(text), _CARRIAGE_RETURN)}</Message></Response>"
    )


def _xml_chars(text: str) -> str:
    return _NOT_XML.sub("", text)


def _storable(text: str) -> str:
    if text.isascii() and "\x00" not in text:
        return text
    # PostgreSQL refuses NUL in text; a lone surrogate cannot be encoded at all.
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
