"""SMS text encoding: which alphabet a text needs, how long it is, and how many parts it takes.

An SMS carries 140 bytes. Texts written only with the GSM 03.38 alphabet travel as 7-bit
septets, 160 to a message; a single character outside it switches the whole text to UCS-2
(in practice UTF-16), 70 code units to a message. Longer texts are split into parts that
each give up room to a header saying how to join them: 153 septets or 67 UTF-16 units.

Plivo refuses texts over 1,600 GSM-7 characters or 737 UCS-2 characters; ``check_length``
applies those limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from smsgate.domain.errors import MessageTooLong

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENDED",
    "Encoding",
    "TextInfo",
    "analyse_text",
    "check_length",
    "gsm7_tables",
]


class Encoding(StrEnum):
    """The alphabet a text is sent in."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


# The GSM 03.38 (3GPP TS 23.038) default alphabet, in code order: row N holds codes
# 0xN0 to 0xNF. It is not ASCII. Worth knowing when reading it:
# * 0x02 is "$" but 0x24, where ASCII has "$", is the currency sign "¤".
# * There is no backtick, and "^ { } [ ] \ ~ |" live only in the extension table below.
# * Line feed (0x0A) and carriage return (0x0D) are here; form feed is in the extension.
# * 0x09 is the capital "Ç"; the small "ç" is not in the alphabet, so it forces UCS-2.
# * The Greek capitals are the real Greek letters (U+0394 "Δ", U+03A9 "Ω", ...); those that
#   look Latin (Α, Β, Ε...) are absent, and so are the ohm (U+2126) and increment (U+2206)
#   signs that look like Ω and Δ.
# * 0x1B is not a character but the escape that announces a character from the extension
#   table; it is held here as "\x1b" only to keep the positions right.
_ESCAPE = "\x1b"
_GSM7_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00 to 0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # 0x10 to 0x1F
    ' !"#¤%&' + "'()*+,-./"  # 0x20 to 0x2F
    "0123456789:;<=>?"  # 0x30 to 0x3F
    "¡ABCDEFGHIJKLMNO"  # 0x40 to 0x4F
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50 to 0x5F
    "¿abcdefghijklmno"  # 0x60 to 0x6F
    "pqrstuvwxyzäöñüà"  # 0x70 to 0x7F
)

# The extension table: each of these travels as the escape 0x1B followed by the code shown,
# so it costs two septets. The table's other codes are unused or national.
_GSM7_EXTENSION_TABLE: dict[int, str] = {
    0x0A: "\f",  # form feed (a page break)
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",  # added in 1998 at the code of "e", so old phones show "e"
}

# The two alphabets as plain strings, in code order (the escape left out).
GSM7_BASIC = _GSM7_BASIC_TABLE.replace(_ESCAPE, "")
GSM7_EXTENDED = "".join(_GSM7_EXTENSION_TABLE.values())

_EXTENDED = frozenset(GSM7_EXTENDED)
_GSM7 = frozenset(GSM7_BASIC) | _EXTENDED

# Room in one message, and in each part of a longer one (the rest holds the joining header).
GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

# Plivo's limits: GSM-7 counts characters, UCS-2 counts UTF-16 code units.
GSM7_MAX_CHARACTERS = 1600
UCS2_MAX_UNITS = 737

# How many of the characters that forced UCS-2 an error message names.
_NAMED_UNICODE_CHARACTERS = 5


@dataclass(frozen=True, slots=True)
class TextInfo:
    """What it takes to send a text: alphabet, size, and number of message parts."""

    encoding: Encoding
    characters: int  # Unicode code points, len(text)
    units: int  # GSM-7 septets (extension characters count 2) or UTF-16 code units
    segments: int  # message parts; 0 for the empty text
    per_segment: int  # room in each part: 160/153 for GSM-7, 70/67 for UCS-2
    max_characters: int  # the limit check_length applies: 1,600 for GSM-7, 737 for UCS-2
    unicode_characters: tuple[str, ...]  # the distinct characters that forced UCS-2


def gsm7_tables() -> dict[str, str]:
    """The GSM-7 alphabets, for a browser to count characters as the user types."""
    return {"basic": GSM7_BASIC, "extended": GSM7_EXTENDED}


def analyse_text(text: str) -> TextInfo:
    """Work out the encoding, size and number of parts of ``text``. Never raises."""
    unicode_characters = _non_gsm_characters(text)
    if unicode_characters:
        return _ucs2_info(text, unicode_characters)
    return _gsm7_info(text)


def check_length(text: str) -> TextInfo:
    """Analyse ``text`` and raise :class:`MessageTooLong` if Plivo would refuse it."""
    info = analyse_text(text)
    if info.encoding is Encoding.GSM7 and info.characters > GSM7_MAX_CHARACTERS:
        raise MessageTooLong(
            f"The text is {info.characters:,} GSM-7 characters; "
            f"the limit is {GSM7_MAX_CHARACTERS:,}."
        )
    if info.encoding is Encoding.UCS2 and info.units > UCS2_MAX_UNITS:
        raise MessageTooLong(
            f"The text is {info.units:,} UCS-2 characters (UTF-16 units); "
            f"the limit is {UCS2_MAX_UNITS:,}. "
            f"Characters that force UCS-2: {_name_some(info.unicode_characters)}."
        )
    return info


def _non_gsm_characters(text: str) -> tuple[str, ...]:
    # dict.fromkeys keeps the order of first appearance and drops repeats.
    return tuple(dict.fromkeys(char for char in text if char not in _GSM7))


def _gsm7_info(text: str) -> TextInfo:
    sizes = [2 if char in _EXTENDED else 1 for char in text]
    segments = _count_segments(sizes, GSM7_SINGLE, GSM7_PART)
    return TextInfo(
        encoding=Encoding.GSM7,
        characters=len(text),
        units=sum(sizes),
        segments=segments,
        per_segment=GSM7_SINGLE if segments <= 1 else GSM7_PART,
        max_characters=GSM7_MAX_CHARACTERS,
        unicode_characters=(),
    )


def _ucs2_info(text: str, unicode_characters: tuple[str, ...]) -> TextInfo:
    # Characters beyond the Basic Multilingual Plane (most emoji) take a surrogate pair.
    sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
    segments = _count_segments(sizes, UCS2_SINGLE, UCS2_PART)
    return TextInfo(
        encoding=Encoding.UCS2,
        characters=len(text),
        units=sum(sizes),
        segments=segments,
        per_segment=UCS2_SINGLE if segments <= 1 else UCS2_PART,
        max_characters=UCS2_MAX_UNITS,
        unicode_characters=unicode_characters,
    )


def _count_segments(sizes: list[int], single: int, part: int) -> int:
    """How many parts characters of these sizes (in units) fill.

    Dividing the total by the part size is not enough: a two-unit character (a GSM-7
    escape pair, a UTF-16 surrogate pair) must not be cut between two parts, so when one
    would straddle the boundary it starts the next part and the unit left over is wasted.
    Walking the text finds the exact count. Every full part wastes at most one unit, so
    the count lies between ceil(units / part) and ceil(units / (part - 1)).
    """
    total = sum(sizes)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return segments


def _name_some(characters: tuple[str, ...]) -> str:
    # repr shows invisible culprits such as '\u200b' (zero-width space) for what they are.
    named = ", ".join(repr(char) for char in characters[:_NAMED_UNICODE_CHARACTERS])
    rest = len(characters) - _NAMED_UNICODE_CHARACTERS
    return f"{named} and {rest:,} more" if rest > 0 else named
