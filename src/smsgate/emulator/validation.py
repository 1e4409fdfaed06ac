"""The checks Plivo makes on a send request before queueing it (reference §1 and §2).

Error strings are Plivo's where one has been observed (``is not a valid phone number``,
``exceeds 737 unicode characters``) or the SDK's wording for the same rule; the rest are
plain statements of the rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from smsgate.emulator.encoding import MAX_GSM_SEPTETS, MAX_UCS2_UNITS, count_units, measure
from smsgate.emulator.numbers import Destinations, split_destinations

_TYPES: Final = ("sms", "mms", "whatsapp")
_MAX_WHATSAPP_CHARS: Final = 4096
_MAX_DESTINATIONS: Final = 1000
_NOT_ALPHANUMERIC: Final = re.compile(r"[^0-9A-Za-z]")


class InvalidSend(ValueError):
    """A send Plivo would refuse with HTTP 400; the message is Plivo's ``error`` text."""


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A send that passed validation. ``src`` is cleaned to alphanumerics, or empty."""

    src: str
    powerpack_uuid: str
    destinations: Destinations
    type: str
    text: str
    units: int
    url: str | None
    method: str


def validate_send(body: Mapping[str, object]) -> SendRequest:
    """The accepted form of ``body``, or InvalidSend with Plivo's error for the first fault."""
    dst = _field(body, "dst")
    if not dst:
        raise InvalidSend("dst is a required parameter")
    src, powerpack_uuid = _sender(body)
    type_ = _field(body, "type") or "sms"
    if type_ not in _TYPES:
        raise InvalidSend("type must be one of 'sms', 'mms' or 'whatsapp'")
    text = _field(body, "text") or ""
    if type_ == "sms" and not text:
        raise InvalidSend("text is a required parameter for sms messages")
    url = _callback_url(body)
    method = (_field(body, "method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise InvalidSend("method must be GET or POST")
    units = _units(type_, text)
    destinations = _destinations(dst, src)
    return SendRequest(src, powerpack_uuid, destinations, type_, text, units, url, method)


def _field(body: Mapping[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a JSON number for dst or src is still readable as one
    raise InvalidSend(f"{name} must be a string")


def _sender(body: Mapping[str, object]) -> tuple[str, str]:
    src = _field(body, "src")
    powerpack_uuid = _field(body, "powerpack_uuid")
    if src and powerpack_uuid:
        raise InvalidSend(
            "Both powerpack_uuid and src cannot be specified. Specify either powerpack_uuid"
            " or src in request params to send a message."
        )
    if not (src or powerpack_uuid):
        raise InvalidSend(
            "Specify either powerpack_uuid or src in request params to send a message"
        )
    cleaned = _NOT_ALPHANUMERIC.sub("", src or "")
    if src and not cleaned:
        raise InvalidSend(f"'{src}' is not a valid source number.")
    return cleaned, powerpack_uuid or ""


def _callback_url(body: Mapping[str, object]) -> str | None:
    url = _field(body, "url")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidSend("url must be a valid http or https URL")
    return url


def _units(type_: str, text: str) -> int:
    if type_ == "whatsapp":
        if len(text) > _MAX_WHATSAPP_CHARS:
            raise InvalidSend(f"text parameter length exceeds {_MAX_WHATSAPP_CHARS} characters")
        return 1
    encoding, length = measure(text)
    if encoding == "UCS-2" and length > MAX_UCS2_UNITS:
        raise InvalidSend(f"text parameter length exceeds {MAX_UCS2_UNITS} unicode characters")
    if encoding == "GSM" and length > MAX_GSM_SEPTETS:
        raise InvalidSend(f"text parameter length exceeds {MAX_GSM_SEPTETS} characters")
    # An MMS is billed as one message whatever its text length.
    return 1 if type_ == "mms" else count_units(encoding, length)


def _destinations(dst: str, src: str) -> Destinations:
    destinations = split_destinations(dst)
    if not destinations.valid:
        raise InvalidSend(f"'{dst}' is not a valid phone number.")
    if src in destinations.valid:
        raise InvalidSend("destination number cannot be same as source number")
    if len(destinations.valid) > _MAX_DESTINATIONS:
        raise InvalidSend(f"dst holds more than {_MAX_DESTINATIONS} unique numbers")
    return destinations
