"""Tests of SMS text encoding, length and segment counting (smsgate.domain.encoding)."""

from __future__ import annotations

import json
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.encoding import (
    _GSM7_BASIC_TABLE,
    GSM7_BASIC,
    GSM7_EXTENDED,
    Encoding,
    TextInfo,
    analyse_text,
    check_length,
    gsm7_tables,
)
from smsgate.domain.errors import DomainError, MessageTooLong

GSM7_ALL = GSM7_BASIC + GSM7_EXTENDED
SINGLE = {Encoding.GSM7: 160, Encoding.UCS2: 70}
PART = {Encoding.GSM7: 153, Encoding.UCS2: 67}

gsm_texts = st.text(alphabet=GSM7_ALL)
non_gsm_characters = st.characters(codec="utf-8").filter(lambda char: char not in GSM7_ALL)
# A few characters of each size in each encoding, so texts often land near the boundaries.
boundary_texts = st.text(alphabet="a€ç😀", max_size=400)
any_texts = st.one_of(st.text(), gsm_texts, boundary_texts)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        pytest.param("", Encoding.GSM7, 0, 0, id="empty"),
        pytest.param("a" * 160, Encoding.GSM7, 160, 1, id="GSM 160 fits one"),
        pytest.param("a" * 161, Encoding.GSM7, 161, 2, id="GSM 161 needs two"),
        pytest.param("a" * 306, Encoding.GSM7, 306, 2, id="GSM 153x2 fits two"),
        pytest.param("a" * 307, Encoding.GSM7, 307, 3, id="GSM 153x2+1 needs three"),
        pytest.param("€" * 80, Encoding.GSM7, 160, 1, id="80 euro signs fill one"),
        pytest.param("a" * 158 + "€", Encoding.GSM7, 160, 1, id="escape pair ends at 160"),
        pytest.param("a" * 159 + "€", Encoding.GSM7, 161, 2, id="escape pair past 160"),
        pytest.param(
            "a" * 151 + "€" + "a" * 153, Encoding.GSM7, 306, 2, id="escape pair ends a part"
        ),
        pytest.param(
            "a" * 152 + "€" + "a" * 152, Encoding.GSM7, 306, 3, id="escape pair straddles 153"
        ),
        pytest.param("Hi\r\n\f", Encoding.GSM7, 6, 1, id="CR LF basic, form feed extended"),
        pytest.param("ç" * 70, Encoding.UCS2, 70, 1, id="UCS-2 70 fits one"),
        pytest.param("ç" * 71, Encoding.UCS2, 71, 2, id="UCS-2 71 needs two"),
        pytest.param("ç" * 134, Encoding.UCS2, 134, 2, id="UCS-2 67x2 fits two"),
        pytest.param("ç" * 135, Encoding.UCS2, 135, 3, id="UCS-2 67x2+1 needs three"),
        pytest.param("😀" * 35, Encoding.UCS2, 70, 1, id="35 emoji fill one"),
        pytest.param("a" * 69 + "😀", Encoding.UCS2, 71, 2, id="emoji past 70"),
        pytest.param("a" * 68 + "😀", Encoding.UCS2, 70, 1, id="emoji ends at 70"),
        pytest.param(
            "ç" * 66 + "😀" + "ç" * 66, Encoding.UCS2, 134, 3, id="surrogate pair straddles 67"
        ),
        pytest.param(
            "ç" * 65 + "😀" + "ç" * 67, Encoding.UCS2, 134, 2, id="surrogate pair ends a part"
        ),
        pytest.param("€" * 100 + "ç", Encoding.UCS2, 101, 2, id="euro costs one unit in UCS-2"),
    ],
)
def test_texts_are_measured_exactly_at_every_boundary(
    text: str, encoding: Encoding, units: int, segments: int
) -> None:
    """analyse_text finds the encoding, units and segment count, edges included."""
    info = analyse_text(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)
    assert info.characters == len(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "",
            TextInfo(Encoding.GSM7, 0, 0, 0, 160, 1600, ()),
            id="empty",
        ),
        pytest.param(
            "Hello {name}",
            TextInfo(Encoding.GSM7, 12, 14, 1, 160, 1600, ()),
            id="GSM single part",
        ),
        pytest.param(
            "a" * 200,
            TextInfo(Encoding.GSM7, 200, 200, 2, 153, 1600, ()),
            id="GSM multipart",
        ),
        pytest.param(
            "naïve café ☕ – ok ï ☕",
            TextInfo(Encoding.UCS2, 21, 21, 1, 70, 737, ("ï", "☕", "–")),
            id="UCS-2 single part",
        ),
        pytest.param(
            "😀" * 40,
            TextInfo(Encoding.UCS2, 40, 80, 2, 67, 737, ("😀",)),
            id="UCS-2 multipart",
        ),
    ],
)
def test_text_info_reports_every_field(text: str, expected: TextInfo) -> None:
    """The whole TextInfo is right, including room per part and the characters to blame."""
    assert analyse_text(text) == expected


@pytest.mark.parametrize(
    ("char", "encoding"),
    [
        pytest.param("@", Encoding.GSM7, id="at sign is code 0"),
        pytest.param("Ç", Encoding.GSM7, id="capital C cedilla"),
        pytest.param("ç", Encoding.UCS2, id="small c cedilla"),
        pytest.param("é", Encoding.GSM7, id="e acute"),
        pytest.param("á", Encoding.UCS2, id="a acute"),
        pytest.param("¤", Encoding.GSM7, id="currency sign"),
        pytest.param("`", Encoding.UCS2, id="backtick"),
        pytest.param("\t", Encoding.UCS2, id="tab"),
        pytest.param("\f", Encoding.GSM7, id="form feed"),
        pytest.param("Ω", Encoding.GSM7, id="Greek capital omega"),
        pytest.param("\u2126", Encoding.UCS2, id="ohm sign"),
        pytest.param("\u0391", Encoding.UCS2, id="Greek capital alpha"),
        pytest.param("\u2019", Encoding.UCS2, id="curly apostrophe"),
        pytest.param("\u200b", Encoding.UCS2, id="zero-width space"),
        pytest.param("\x1b", Encoding.UCS2, id="raw escape"),
    ],
)
def test_each_character_is_sorted_into_the_right_alphabet(char: str, encoding: Encoding) -> None:
    """Look-alikes and the usual surprises land in the right encoding."""
    assert analyse_text(char).encoding == encoding


@pytest.mark.parametrize(
    ("code", "char"),
    [
        pytest.param(0x00, "@", id="0x00 at sign"),
        pytest.param(0x02, "$", id="0x02 dollar"),
        pytest.param(0x0A, "\n", id="0x0A line feed"),
        pytest.param(0x0D, "\r", id="0x0D carriage return"),
        pytest.param(0x10, "Δ", id="0x10 delta"),
        pytest.param(0x1B, "\x1b", id="0x1B escape"),
        pytest.param(0x24, "¤", id="0x24 currency sign"),
        pytest.param(0x40, "¡", id="0x40 inverted exclamation"),
        pytest.param(0x5F, "§", id="0x5F section sign"),
        pytest.param(0x60, "¿", id="0x60 inverted question"),
        pytest.param(0x7F, "à", id="0x7F a grave"),
    ],
)
def test_the_basic_table_holds_each_character_at_its_code(code: int, char: str) -> None:
    """The GSM 03.38 basic table has 128 codes, in the order of the standard."""
    assert len(_GSM7_BASIC_TABLE) == 128
    assert _GSM7_BASIC_TABLE[code] == char


def test_gsm7_tables_are_plain_json_for_the_browser() -> None:
    """gsm7_tables gives both alphabets as strings that survive a JSON round trip."""
    tables = gsm7_tables()
    assert json.loads(json.dumps(tables)) == tables
    assert tables == {"basic": GSM7_BASIC, "extended": "\f^{}\\[~]|€"}
    assert len(tables["basic"]) == 127
    assert len(set(tables["basic"])) == 127
    assert not set(tables["basic"]) & set(tables["extended"])


def test_encodings_are_named_as_carriers_name_them() -> None:
    """The Encoding values are the names shown to users and sent to the provider."""
    assert [str(encoding) for encoding in Encoding] == ["GSM-7", "UCS-2"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a" * 1600, id="1600 GSM characters"),
        pytest.param("€" * 1600, id="1600 extension characters count as 1600"),
        pytest.param("ç" * 737, id="737 UCS-2 units"),
        pytest.param("😀" * 368 + "ç", id="368 emoji and one more unit"),
    ],
)
def test_texts_at_the_limit_are_accepted(text: str) -> None:
    """check_length returns the analysis of a text exactly at Plivo's limit."""
    assert check_length(text) == analyse_text(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "a" * 1601,
            "The text is 1,601 GSM-7 characters; the limit is 1,600.",
            id="1601 GSM characters",
        ),
        pytest.param(
            "ç" * 738,
            "The text is 738 UCS-2 characters (UTF-16 units); the limit is 737. "
            "Characters that force UCS-2: 'ç'.",
            id="738 UCS-2 units",
        ),
        pytest.param(
            "😀" * 369,
            "The text is 738 UCS-2 characters (UTF-16 units); the limit is 737. "
            "Characters that force UCS-2: '😀'.",
            id="369 emoji count 738",
        ),
        pytest.param(
            "a" * 731 + "çáíóú\u2019\u200b",
            "The text is 738 UCS-2 characters (UTF-16 units); the limit is 737. "
            "Characters that force UCS-2: 'ç', 'á', 'í', 'ó', 'ú' and 2 more.",
            id="names at most five culprits",
        ),
        pytest.param(
            "a" * 737 + "\u200b",
            "The text is 738 UCS-2 characters (UTF-16 units); the limit is 737. "
            "Characters that force UCS-2: '\\u200b'.",
            id="invisible culprit shown escaped",
        ),
    ],
)
def test_texts_over_the_limit_are_refused(text: str, message: str) -> None:
    """check_length raises MessageTooLong with the size, the limit and what to blame."""
    with pytest.raises(MessageTooLong) as caught:
        check_length(text)
    assert caught.value.code == "text_too_long"
    assert caught.value.message == message
    assert isinstance(caught.value, DomainError)


@given(gsm_texts)
def test_gsm_only_texts_are_always_gsm7(text: str) -> None:
    """A text of GSM-7 characters is GSM-7, and extension characters cost two septets."""
    info = analyse_text(text)
    extension = sum(1 for char in text if char in GSM7_EXTENDED)
    assert info.encoding is Encoding.GSM7
    assert info.units == len(text) + extension
    assert info.unicode_characters == ()


@given(gsm_texts, non_gsm_characters, st.data())
def test_one_non_gsm_character_turns_the_whole_text_into_ucs2(
    text: str, char: str, data: st.DataObject
) -> None:
    """Inserting any non-GSM character anywhere makes the text UCS-2, and names it."""
    position = data.draw(st.integers(0, len(text)))
    info = analyse_text(text[:position] + char + text[position:])
    assert info.encoding is Encoding.UCS2
    assert info.unicode_characters == (char,)
    assert info.units == len(text) + len(char.encode("utf-16-le")) // 2


@given(any_texts, st.characters(codec="utf-8"))
def test_appending_a_character_never_reduces_the_segments(text: str, char: str) -> None:
    """Segments never go down as a text grows, even when it switches to UCS-2."""
    assert analyse_text(text + char).segments >= analyse_text(text).segments


@given(any_texts)
def test_one_segment_exactly_when_the_text_fits_a_single_message(text: str) -> None:
    """A non-empty text takes one segment if and only if its units fit one message."""
    info = analyse_text(text)
    if text:
        assert (info.segments == 1) == (info.units <= SINGLE[info.encoding])
    else:
        assert info.segments == 0


@given(any_texts)
def test_the_precise_count_stays_within_one_wasted_unit_per_part(text: str) -> None:
    """Multipart counts lie between ceil(units / part) and ceil(units / (part - 1))."""
    info = analyse_text(text)
    if info.units > SINGLE[info.encoding]:
        part = PART[info.encoding]
        assert ceil(info.units / part) <= info.segments <= ceil(info.units / (part - 1))
        assert info.per_segment == part
    else:
        assert info.per_segment == SINGLE[info.encoding]


@given(any_texts)
def test_segments_match_splitting_the_encoded_text(text: str) -> None:
    """The count equals the parts obtained by really splitting the encoded units."""
    info = analyse_text(text)
    assert info.segments == len(_split(text, info.encoding))


@given(st.text())
def test_analysis_never_raises_and_counts_utf16_units(text: str) -> None:
    """Any text is analysed; UCS-2 units agree with Python's own UTF-16 encoder."""
    info = analyse_text(text)
    assert info.characters == len(text)
    assert info.units >= info.characters
    assert info.max_characters == {Encoding.GSM7: 1600, Encoding.UCS2: 737}[info.encoding]
    if info.encoding is Encoding.UCS2:
        assert info.units == len(text.encode("utf-16-le")) // 2
        assert set(info.unicode_characters) == {c for c in text if c not in GSM7_ALL}


def _split(text: str, encoding: Encoding) -> list[list[str]]:
    """A reference splitter: encode to units, then cut, moving a cut-off lead unit along.

    A unit is a septet (an extension character becomes "ESC" then the character) or a
    UTF-16 code unit (an astral character becomes its high then low surrogate). A part
    may not end on the first half of a pair.
    """
    units: list[str] = []
    for char in text:
        if encoding is Encoding.GSM7:
            units += ["ESC", char] if char in GSM7_EXTENDED else [char]
        else:
            units += ["HIGH", char] if ord(char) > 0xFFFF else [char]
    if not units:
        return []
    if len(units) <= SINGLE[encoding]:
        return [units]
    parts: list[list[str]] = []
    while units:
        cut = min(PART[encoding], len(units))
        if units[cut - 1] in {"ESC", "HIGH"}:
            cut -= 1
        parts.append(units[:cut])
        units = units[cut:]
    return parts
