"""Plivo's SMS error codes: what each means, and whether trying again later may help.

Plivo sets the code on a message record (``error_code``) and on ``failed``/``undelivered``
status callbacks (``ErrorCode``). It writes success as "000", so codes are matched by their
number, not their spelling: "0", "00" and "000" are one code. An empty code means none.

Source: Plivo's messaging error-code page and its 2017 blog table (updated 2025), with the
FAQs for 420, 450 and 900. Plivo may have added codes since; an unlisted one is described
as unknown rather than refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["PlivoErrorCode", "describe_error_code", "lookup"]


@dataclass(frozen=True, slots=True)
class PlivoErrorCode:
    """One of Plivo's SMS error codes, spelt as Plivo writes it."""

    code: str
    meaning: str
    # Plivo calls the failure temporary: the same message may go through later.
    retryable: bool


# Each entry: code, meaning, retryable. Only 20 and 80 are retryable: the two failures Plivo
# itself calls temporary.
_CODES = (
    PlivoErrorCode("000", "Delivered successfully", False),
    PlivoErrorCode("10", "Invalid message: rejected downstream (blank or too long)", False),
    PlivoErrorCode("20", "Network error: temporary, retry later", True),
    PlivoErrorCode(
        "30", "Spam detected: carrier filtering, or high volume from a long code", False
    ),
    PlivoErrorCode(
        "40",
        "Invalid source number: bad format, not SMS-enabled, or not on the account",
        False,
    ),
    PlivoErrorCode(
        "50",
        "Invalid destination number: bad format, not SMS-capable, or a landline",
        False,
    ),
    PlivoErrorCode("60", "Loop detected", False),
    PlivoErrorCode("70", "Destination permanently unavailable", False),
    PlivoErrorCode("80", "Destination temporarily unavailable: retry later", True),
    PlivoErrorCode("90", "No route available", False),
    PlivoErrorCode("100", "Prohibited by carrier", False),
    PlivoErrorCode("110", "Message too long: over 1,600 GSM or 737 UCS-2 characters", False),
    PlivoErrorCode("200", "Destination opted out (STOP) from this source number", False),
    PlivoErrorCode("201", "US toll-free number sending to a Canadian destination: blocked", False),
    # Not worth retrying as it stands: the same message would wait in the same queue.
    PlivoErrorCode("420", "Expired in Plivo's queue (3 hours by default)", False),
    PlivoErrorCode("450", "Destination country barred by Geo Permissions", False),
    # Needs a top-up by a person; retrying alone changes nothing.
    PlivoErrorCode("900", "Insufficient credit", False),
    PlivoErrorCode("1000", "Unknown error", False),
    # Uncertain: 300 and 910 appear only in third-party code, not in Plivo's own docs.
    # Kept so that a message showing them is readable; the meanings may be imprecise.
    PlivoErrorCode("300", "Failed to dispatch", False),
    PlivoErrorCode("910", "Account disabled", False),
)


def _normalise(code: str) -> str:
    """The code as a plain number when it is one ("000" -> "0", "010" -> "10")."""
    code = code.strip()
    # isascii first: str.isdigit also accepts digits such as "²" that int() refuses.
    if code.isascii() and code.isdigit():
        return str(int(code))
    return code


_BY_NUMBER: Mapping[str, PlivoErrorCode] = MappingProxyType(
    {_normalise(entry.code): entry for entry in _CODES}
)


def lookup(code: str | None) -> PlivoErrorCode | None:
    """The entry for ``code`` however it is zero-padded, or None if absent or unknown."""
    if code is None:
        return None
    return _BY_NUMBER.get(_normalise(code))


def describe_error_code(code: str | None) -> str | None:
    """A sentence for people: the meaning of ``code``, or None when there is no code."""
    if code is None or not code.strip():
        return None
    entry = lookup(code)
    if entry is None:
        return f"Unknown Plivo error code {_normalise(code)}"
    return entry.meaning
