"""Tests of phone number parsing and masking (smsgate.domain.phone).

The numbers used are ones libphonenumber's metadata holds valid; some familiar examples are
not (the UK drama range +44 7700 900xxx, for one), which the rejection table relies on.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.errors import DomainError, InvalidPhoneNumber
from smsgate.domain.phone import PhoneNumber, mask_number, parse_phone_number

# Valid numbers from several numbering plans, in E.164 form, with their regions.
VALID_NUMBERS = {
    "+14155552671": "US",
    "+442079460958": "GB",
    "+447400123456": "GB",
    "+33612345678": "FR",
    "+918527000000": "IN",
    "+4915123456789": "DE",
    "+61412345678": "AU",
    "+8613800138000": "CN",
    "+41446681800": "CH",
    "+4722222222": "NO",
}


@pytest.mark.parametrize(
    ("raw", "e164", "region"),
    [
        pytest.param("+14155552671", "+14155552671", "US", id="bare E.164"),
        pytest.param("+1 (415) 555-2671", "+14155552671", "US", id="spaces, parentheses, dash"),
        pytest.param("+1.415.555.2671", "+14155552671", "US", id="dots"),
        pytest.param("+1-415-555-2671", "+14155552671", "US", id="dashes"),
        pytest.param("  +14155552671\n", "+14155552671", "US", id="surrounding whitespace"),
        pytest.param("+1\u00a0415\u00a0555\u00a02671", "+14155552671", "US", id="no-break spaces"),
        pytest.param("+1 415 555\u20132671", "+14155552671", "US", id="en dash from a document"),
        pytest.param("+44 20 7946 0958", "+442079460958", "GB", id="London landline"),
        pytest.param("(+44) 20 7946 0958", "+442079460958", "GB", id="country code in brackets"),
        pytest.param("+44 7400 123456", "+447400123456", "GB", id="UK mobile"),
        pytest.param("+33 6 12 34 56 78", "+33612345678", "FR", id="French mobile"),
        pytest.param("+91 85270 00000", "+918527000000", "IN", id="Indian mobile"),
        pytest.param("+٤٤٧٤٠٠١٢٣٤٥٦", "+447400123456", "GB", id="Arabic-Indic digits"),
        pytest.param("+447911123456", "+447911123456", "GG", id="+447911 belongs to Guernsey"),
        pytest.param("+800 1234 5678", "+80012345678", None, id="freephone of no country"),
    ],
)
def test_numbers_written_with_a_country_code_are_accepted(
    raw: str, e164: str, region: str | None
) -> None:
    """A number with its country code parses to its E.164 form and region."""
    assert parse_phone_number(raw) == PhoneNumber(e164=e164, region=region)


@pytest.mark.parametrize(
    ("raw", "default_region", "e164"),
    [
        pytest.param("(415) 555-2671", "US", "+14155552671", id="US national format"),
        pytest.param("415-555-2671", "US", "+14155552671", id="US with dashes"),
        pytest.param("(415) 555-2671", "us", "+14155552671", id="region in lower case"),
        pytest.param("020 7946 0958", "GB", "+442079460958", id="UK trunk prefix 0"),
        pytest.param("0044 20 7946 0958", "GB", "+442079460958", id="UK international prefix"),
        pytest.param("00 1 415 555 2671", "FR", "+14155552671", id="French international prefix"),
        pytest.param("011 44 20 7946 0958", "US", "+442079460958", id="US international prefix"),
        pytest.param("+33 6 12 34 56 78", "US", "+33612345678", id="a + overrides the region"),
    ],
)
def test_numbers_without_a_plus_are_read_in_the_default_region(
    raw: str, default_region: str, e164: str
) -> None:
    """Given a default region, national and international-prefix forms are accepted."""
    assert parse_phone_number(raw, default_region).e164 == e164


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("(415) 555-2671", id="US national format"),
        pytest.param("415-555-2671", id="US with dashes"),
        pytest.param("4155552671", id="digits only"),
        pytest.param("0044 20 7946 0958", id="international prefix 00"),
        pytest.param("00 1 415 555 2671", id="international prefix 00 with spaces"),
    ],
)
def test_numbers_without_a_plus_need_a_default_region(raw: str) -> None:
    """Without a default region, a number lacking '+' is refused as missing its country code."""
    with pytest.raises(InvalidPhoneNumber) as caught:
        parse_phone_number(raw)
    assert caught.value.code == "missing_country_code"


def test_an_unknown_default_region_is_a_programming_error() -> None:
    """A default region libphonenumber does not know raises ValueError, not a domain error."""
    with pytest.raises(ValueError, match="'XX' is not a region"):
        parse_phone_number("4155552671", "XX")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param("", "invalid_number_format", id="empty"),
        pytest.param("   ", "invalid_number_format", id="whitespace only"),
        pytest.param("+1" + "5" * 63, "invalid_number_format", id="over 64 characters"),
        pytest.param("+1-800-FLOWERS", "invalid_number_format", id="vanity letters"),
        pytest.param("+14155552671 ext. 12", "invalid_number_format", id="extension ext."),
        pytest.param("+14155552671;ext=12", "invalid_number_format", id="extension RFC 3966"),
        pytest.param("+1 415 555 2671 x12", "invalid_number_format", id="extension x"),
        pytest.param("+1 415 555 2671 #12", "invalid_number_format", id="extension #"),
        pytest.param("+1 415 555 2671#", "invalid_number_format", id="trailing #"),
        pytest.param("+1/415/555/2671", "invalid_number_format", id="slashes"),
        pytest.param("+1 415\t555 2671", "invalid_number_format", id="tab inside"),
        pytest.param("1+4155552671", "invalid_number_format", id="plus in the middle"),
        pytest.param("+", "invalid_number_format", id="plus alone"),
        pytest.param("(415) 555-2671", "missing_country_code", id="no country code"),
        pytest.param("+999 1234 5678", "invalid_country_code", id="unassigned country code"),
        pytest.param("+0 123 4567", "invalid_country_code", id="country code 0"),
        pytest.param("+1 415 555", "number_too_short", id="too short"),
        pytest.param("+44 1", "number_too_short", id="too short to parse"),
        pytest.param("+1 555 2671", "number_too_short", id="local number without area code"),
        pytest.param("+1 415 555 26711111", "number_too_long", id="too long"),
        pytest.param("+1234567890123456789012", "number_too_long", id="too long to parse"),
        pytest.param("+47 222 2222", "invalid_number_length", id="length unused in Norway"),
        pytest.param("+44 7700 900123", "invalid_number", id="UK drama range"),
        pytest.param("+1 242 555 0123", "invalid_number", id="unassigned Bahamas range"),
    ],
)
def test_numbers_that_cannot_receive_sms_are_refused_with_a_code(raw: str, code: str) -> None:
    """Each kind of bad number raises InvalidPhoneNumber with its own stable code."""
    with pytest.raises(InvalidPhoneNumber) as caught:
        parse_phone_number(raw)
    assert caught.value.code == code
    assert isinstance(caught.value, DomainError)
    assert "E.164" in caught.value.message
    assert "+14155552671" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            "+1 415 555",
            "'+1 415 555' is too short to be a phone number; "
            "write it in E.164 form, like +14155552671.",
            id="too short",
        ),
        pytest.param(
            "",
            "The phone number is empty; write it in E.164 form, like +14155552671.",
            id="empty",
        ),
        pytest.param(
            "+1-800-FLOWERS",
            "'+1-800-FLOWERS' contains letters, and a number is written with digits only; "
            "write it in E.164 form, like +14155552671.",
            id="letters",
        ),
        pytest.param(
            "+14155552671 ext. 12",
            "'+14155552671 ext. 12' has an extension (12), and an SMS cannot reach an "
            "extension; write it in E.164 form, like +14155552671.",
            id="extension",
        ),
        pytest.param(
            "+1 415 555 2671#",
            "'+1 415 555 2671#' contains '#' (NUMBER SIGN), which has no place in a phone "
            "number; write it in E.164 form, like +14155552671.",
            id="stray character",
        ),
        pytest.param(
            "415-555-2671",
            "'415-555-2671' has no country code (a number must start with + and its country "
            "code); write it in E.164 form, like +14155552671.",
            id="missing country code",
        ),
    ],
)
def test_refusals_explain_themselves_to_people(raw: str, message: str) -> None:
    """The message quotes the input, says what is wrong and shows the E.164 form."""
    with pytest.raises(InvalidPhoneNumber) as caught:
        parse_phone_number(raw)
    assert caught.value.message == message
    assert str(caught.value) == message


def test_long_input_is_not_echoed_back_in_full() -> None:
    """Input over 64 characters is refused, and its message quotes only the first 32."""
    raw = "+1" + "23456789" * 10
    with pytest.raises(InvalidPhoneNumber) as caught:
        parse_phone_number(raw)
    assert caught.value.message == (
        f"{raw[:32]!r}… is 82 characters long, more than the 64 a phone number could "
        "need; write it in E.164 form, like +14155552671."
    )
    assert raw not in caught.value.message


def test_control_characters_are_escaped_in_messages() -> None:
    """A line break inside the input appears escaped, so it cannot forge log lines."""
    with pytest.raises(InvalidPhoneNumber) as caught:
        parse_phone_number("+1 415\nINFO forged")
    assert "\n" not in caught.value.message
    assert "'+1 415\\nINFO forged'" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        pytest.param("+14155551212", "+1415***1212", id="US number"),
        pytest.param("+447400123456", "+4474****3456", id="UK mobile"),
        pytest.param("+123456789", "+1234*6789", id="9 digits"),
        pytest.param("+12345678", "+12****78", id="8 digits keep 2 and 2"),
        pytest.param("+1234567", "+1*****7", id="7 digits keep 1 and 1"),
        pytest.param("+123", "+***", id="3 digits keep none"),
        pytest.param("(415) 555-2671", "4155**2671", id="national format"),
        pytest.param("+1 415 555 2671", "+1415***2671", id="separators dropped"),
        pytest.param("+1" + "0" * 100, "+1000************0000", id="runaway input"),
        pytest.param("hello", "***", id="no digits"),
        pytest.param("", "***", id="empty"),
    ],
)
def test_masking_hides_the_middle_digits(raw: str, masked: str) -> None:
    """mask_number keeps the '+', a few digits at each end and stars in between."""
    assert mask_number(raw) == masked


def test_a_phone_number_masks_itself() -> None:
    """PhoneNumber.masked is mask_number of its E.164 form."""
    assert parse_phone_number("+1 415 555 2671").masked == "+1415***2671"


@given(st.text())
def test_masking_never_raises_and_never_reveals_every_digit(raw: str) -> None:
    """For any text, mask_number returns a string holding fewer digits than the input."""
    masked = mask_number(raw)
    digits = [char for char in raw if "0" <= char <= "9"]
    shown = [char for char in masked if "0" <= char <= "9"]
    assert len(shown) < len(digits) or not digits
    assert "*" in masked


@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_masking_an_e164_number_keeps_its_shape(e164: str) -> None:
    """A masked E.164 number keeps its length, its first four and its last four digits."""
    masked = mask_number(e164)
    assert len(masked) == len(e164)
    if len(e164) - 1 >= 9:
        assert masked[:5] == e164[:5]
        assert masked[-4:] == e164[-4:]


ALL_CODES = {
    "invalid_number_format",
    "missing_country_code",
    "invalid_country_code",
    "number_too_short",
    "number_too_long",
    "invalid_number_length",
    "invalid_number",
}


def _outcome(raw: str, default_region: str | None) -> PhoneNumber | InvalidPhoneNumber:
    """The number parsed from ``raw``, or the InvalidPhoneNumber it raised."""
    try:
        return parse_phone_number(raw, default_region)
    except InvalidPhoneNumber as error:
        return error


def _spread(e164: str, separators: list[str]) -> str:
    """E.164 digits with a separator after each, the way people write numbers."""
    digits = e164[1:]
    return "+" + "".join(digit + sep for digit, sep in zip(digits, separators, strict=False))


_SEPARATED_NUMBERS = st.builds(
    lambda e164, seps: _spread(e164, seps + [""] * len(e164)),
    st.sampled_from(sorted(VALID_NUMBERS)),
    st.lists(st.sampled_from(["", "", " ", "-", ".", "\u00a0"]), max_size=16),
)


@given(_SEPARATED_NUMBERS)
def test_separators_never_change_the_number(raw: str) -> None:
    """However a valid number is spaced, dashed or dotted, it parses to the same E.164."""
    digits = "+" + "".join(char for char in raw if char.isdigit())
    assert parse_phone_number(raw) == PhoneNumber(e164=digits, region=VALID_NUMBERS[digits])


@given(
    st.one_of(
        _SEPARATED_NUMBERS,
        st.from_regex(r"\+?[0-9 ().-]{4,20}", fullmatch=True),
        st.text(),
    ),
    st.one_of(st.none(), st.sampled_from(["US", "GB", "FR", "IN", "DE"])),
)
def test_every_accepted_number_reparses_to_itself(raw: str, default_region: str | None) -> None:
    """An accepted number's E.164 form parses back to the same number, without a region."""
    number = _outcome(raw, default_region)
    if isinstance(number, InvalidPhoneNumber):
        return
    assert number.e164.startswith("+")
    assert number.e164[1:].isascii()
    assert number.e164[1:].isdigit()
    assert parse_phone_number(number.e164) == number


@given(st.text(), st.one_of(st.none(), st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS))))
def test_parsing_raises_nothing_but_invalid_phone_number(
    raw: str, default_region: str | None
) -> None:
    """For any text and region, parsing returns a valid number or a known refusal."""
    outcome = _outcome(raw, default_region)
    if isinstance(outcome, InvalidPhoneNumber):
        assert outcome.code in ALL_CODES
        assert len(outcome.message) < 300
    else:
        assert phonenumbers.is_valid_number(phonenumbers.parse(outcome.e164))
