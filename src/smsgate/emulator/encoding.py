"""How many SMS units a text costs, the way the emulator bills it.

A private copy on purpose: the emulator stands in for Plivo, so it must not share code with
the smsgate encoder it is used to test. Counting follows reference §6: GSM-7 extension
characters take two septets; UCS-2 counts UTF-16 code units, so an emoji counts two.
"""

from __future__ import annotations

import math
from typing import Final, Literal

Encoding = Literal["GSM", "UCS-2"]

# GSM 03.38 basic table, one character per septet. The table has no backtick.
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC + character, so it costs two septets.
_GSM_EXTENSION: Final = frozenset("^{}\\[~]|€\f")
_GSM_ALL: Final = _GSM_BASIC | _GSM_EXTENSION

MAX_GSM_SEPTETS: Final = 1600
MAX_UCS2_UNITS: Final = 737


def measure(text: str) -> tuple[Encoding, int]:
    """The encoding Plivo would pick and the text's length in that encoding's units."""
    # Set arithmetic rather than a per-character loop: this runs on every emulated send.
    chars = set(text)
    if chars <= _GSM_BASIC:
        return "GSM", len(text)
    if chars <= _GSM_ALL:
        return "GSM", len(text) + sum(text.count(char) for char in chars & _GSM_EXTENSION)
    # One character outside GSM-7 switches the whole message to UCS-2.
    return "UCS-2", len(text.encode("utf-16-le")) // 2


def count_units(encoding: Encoding, length: int) -> int:
    """Billed segments: one up to 160/70, else 153/67 per part (6 bytes go to the UDH)."""
    single, part = (160, 153) if encoding == "GSM" else (70, 67)
    return 1 if length <= single else math.ceil(length / part)
