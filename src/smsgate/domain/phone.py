"""Phone numbers: turn what a person typed into one E.164 number, or say clearly why not.

Parsing leans on libphonenumber (the ``phonenumbers`` package) for the numbering plans, but
is stricter than it in ways that matter for SMS:

* A number must carry its country code (a leading ``+``) unless the caller names a default
  region; guessing the country of a bare national number sends texts abroad.
* Letters are refused, although libphonenumber would read ``1-800-FLOWERS`` as digits: a
  text to the wrong number cannot be recalled, so we only take what was written literally.
* Extensions are refused, because an SMS cannot be delivered to an extension.

Every refusal is an :class:`InvalidPhoneNumber` with a stable ``code`` for machines and a
message for people that shows the E.164 form expected.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

from smsgate.domain.errors import InvalidPhoneNumber

__all__ = ["PhoneNumber", "mask_number", "parse_phone_number"]

# A real number with separators is at most about 25 characters; 64 leaves room for generous
# spacing while keeping pathological input away from the parser.
MAX_INPUT_LENGTH = 64

# Quoting more than this much of the input in an error message only makes the message
# harder to read (and logs longer).
_QUOTE_LIMIT = 32

# A number libphonenumber accepts as valid, shown in messages as the form we expect.
_EXAMPLE = "+14155552671"
_E164_HINT = f"write it in E.164 form, like {_EXAMPLE}"

# Separators people put between digit groups, besides spaces. The Unicode dashes arrive when
# numbers are pasted from word processors and web pages. Anything else (letters, '#', '*',
# ';', ',') is how extensions, pauses and vanity numbers are written; SMS can use none.
_SEPARATORS = frozenset("-.()\u2010\u2011\u2012\u2013\u2014\u2015\u2212")

# libphonenumber's verdicts on the length of a number, in our vocabulary. A number that is
# only "possible locally" lacks its area code, so for an international number it is short.
_LENGTH_PROBLEMS: dict[int, tuple[str, str]] = {
    ValidationResult.INVALID_COUNTRY_CODE: ("invalid_country_code", "has no valid country code"),
    ValidationResult.TOO_SHORT: ("number_too_short", "is too short to be a phone number"),
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: (
        "number_too_short",
        "is too short to be a phone number (is the area code missing?)",
    ),
    ValidationResult.TOO_LONG: ("number_too_long", "is too long to be a phone number"),
    ValidationResult.INVALID_LENGTH: (
        "invalid_number_length",
        "has a length no number in its country has",
    ),
}

# The same verdicts when libphonenumber gives up while parsing; anything else it cannot
# parse is simply not written like a phone number.
_PARSE_PROBLEMS: dict[int, tuple[str, str]] = {
    NumberParseException.INVALID_COUNTRY_CODE: (
        "invalid_country_code",
        "has no valid country code",
    ),
    NumberParseException.TOO_SHORT_AFTER_IDD: (
        "number_too_short",
        "is too short to be a phone number",
    ),
    NumberParseException.TOO_SHORT_NSN: ("number_too_short", "is too short to be a phone number"),
    NumberParseException.TOO_LONG: ("number_too_long", "is too long to be a phone number"),
}


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A number libphonenumber holds valid, in E.164 form (``+`` country code, digits)."""

    e164: str
    # ISO 3166 alpha-2 code of the number's region, e.g. "US"; None for numbers that
    # belong to no country, such as +800 international freephone numbers.
    region: str | None

    @property
    def masked(self) -> str:
        """The number with its middle digits hidden, fit for logs."""
        return mask_number(self.e164)


def parse_phone_number(raw: str, default_region: str | None = None) -> PhoneNumber:
    """Parse ``raw`` into a valid :class:`PhoneNumber` or raise :class:`InvalidPhoneNumber`.

    ``default_region`` (ISO 3166 alpha-2, e.g. "US") lets numbers without a ``+`` be read
    as national numbers, or with that region's international prefix ("0044..." in "GB").
    Without it such numbers are refused with code ``missing_country_code``.

    Raises ``ValueError`` if ``default_region`` is not a region libphonenumber knows: that
    is a mistake in the caller's configuration, not in the number.
    """
    region = _checked_region(default_region)
    _check_shape(raw)
    text = raw.strip()
    _check_characters(raw, text, region)
    _check_country_code_present(raw, text, region)
    number = _parse(raw, text, region)
    _check_no_extension(raw, number)
    _check_possible(raw, number)
    # is_valid_number(n) is is_valid_number_for_region(n, region_code_for_number(n)); finding
    # the region once and reusing it halves the cost of this, the slowest step of a send.
    region_code = phonenumbers.region_code_for_number(number)
    if region_code is None or not phonenumbers.is_valid_number_for_region(number, region_code):
        raise _invalid(
            raw,
            "invalid_number",
            "is not a number in use in its country's numbering plan",
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return PhoneNumber(e164=e164, region=_iso_region(region_code))


def mask_number(e164: str) -> str:
    """Hide the middle digits of a number for logs: ``+14155551212`` -> ``+1415***1212``.

    Keeps the ``+``, the first 4 and last 4 digits; numbers under 9 digits keep at most
    a quarter of their digits at each end (2 at most), so the result never gives the whole
    number away. Never raises: it runs inside logging, where odd input must not crash.
    Anything that is not a digit is dropped, so even garbage comes out masked.
    """
    text = str(e164)  # tolerate a stray non-string from a careless log call
    digits = "".join(char for char in text if "0" <= char <= "9")
    plus = "+" if text.lstrip().startswith("+") else ""
    if not digits:
        return f"{plus}***"
    shown = 4 if len(digits) >= 9 else min(2, len(digits) // 4)
    hidden = len(digits) - 2 * shown
    # One star per hidden digit keeps the length visible, which helps debugging; the cap
    # keeps a runaway input from flooding the log.
    stars = "*" * min(hidden, 12)
    head = digits[:shown]
    tail = digits[len(digits) - shown :]
    return f"{plus}{head}{stars}{tail}"


def _checked_region(default_region: str | None) -> str | None:
    if default_region is None:
        return None
    region = default_region.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{default_region!r} is not a region libphonenumber knows")
    return region


def _check_shape(raw: str) -> None:
    """Refuse input that is empty or too long before looking at it any closer."""
    if not raw.strip():
        raise InvalidPhoneNumber(
            f"The phone number is empty; {_E164_HINT}.", code="invalid_number_format"
        )
    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidPhoneNumber(
            f"{_quote(raw)} is {len(raw)} characters long, more than the "
            f"{MAX_INPUT_LENGTH} a phone number could need; {_E164_HINT}.",
            code="invalid_number_format",
        )


def _check_characters(raw: str, text: str, region: str | None) -> None:
    """Allow digits, separators and one leading ``+``; say which character broke the rule."""
    for position, char in enumerate(text):
        if char.isdecimal() or _is_space(char) or char in _SEPARATORS:
            continue
        if char == "+" and _is_leading_plus(text, position):
            continue
        extension = _extension_of(text, region)
        if extension:
            raise _invalid(
                raw,
                "invalid_number_format",
                f"has an extension ({extension}), and an SMS cannot reach an extension",
            )
        raise _invalid(raw, "invalid_number_format", _character_problem(char))


def _is_space(char: str) -> bool:
    # Spaces of every width (a pasted number often holds no-break spaces), but not tabs or
    # line breaks, which inside a number mean two things were pasted together.
    return unicodedata.category(char) == "Zs"


def _is_leading_plus(text: str, position: int) -> bool:
    # "(+44) 20 7946 0958" is a common way to write the country code, so an opening
    # parenthesis or spaces before the "+" are fine; anything else is not.
    return not text[:position].strip("( ")


def _character_problem(char: str) -> str:
    if char == "+":
        return "has a '+' after the start, where it cannot be"
    if char.isascii() and char.isalpha():
        return "contains letters, and a number is written with digits only"
    name = unicodedata.name(char, f"U+{ord(char):04X}")
    return f"contains {char!r} ({name}), which has no place in a phone number"


def _extension_of(text: str, region: str | None) -> str | None:
    """The extension of a valid number in ``text`` (as in "ext. 12"), if there is one.

    The number must be valid apart from the extension: libphonenumber also reads a stray
    "#" at the end as an extension marker, and "+1 415 555 2671#" is better told that "#"
    does not belong than that it has an extension 2671.
    """
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if number.extension and phonenumbers.is_valid_number(number):
        return str(number.extension)
    return None


def _check_country_code_present(raw: str, text: str, region: str | None) -> None:
    if region is None and not text.lstrip("( ").startswith("+"):
        raise _invalid(
            raw,
            "missing_country_code",
            "has no country code (a number must start with + and its country code)",
        )


def _parse(raw: str, text: str, region: str | None) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException as error:
        code, problem = _PARSE_PROBLEMS.get(
            error.error_type,
            ("invalid_number_format", "is not written like a phone number"),
        )
        raise _invalid(raw, code, problem) from error


def _check_no_extension(raw: str, number: phonenumbers.PhoneNumber) -> None:
    # The character check already refuses every way of writing an extension we know of;
    # this guards against libphonenumber learning a new one.
    if number.extension:
        raise _invalid(
            raw,
            "invalid_number_format",
            f"has an extension ({number.extension}), and an SMS cannot reach an extension",
        )


def _check_possible(raw: str, number: phonenumbers.PhoneNumber) -> None:
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason in _LENGTH_PROBLEMS:
        code, problem = _LENGTH_PROBLEMS[reason]
        raise _invalid(raw, code, problem)


def _iso_region(region: str | None) -> str | None:
    # libphonenumber answers "001" for numbers of no country (+800, +882...) and "ZZ" when
    # it does not know; neither is an ISO 3166 alpha-2 code.
    if region is None or len(region) != 2 or not region.isalpha() or region == "ZZ":
        return None
    return str(region)


def _invalid(raw: str, code: str, problem: str) -> InvalidPhoneNumber:
    return InvalidPhoneNumber(f"{_quote(raw)} {problem}; {_E164_HINT}.", code=code)


def _quote(raw: str) -> str:
    """The input as it may appear in a message: quoted, escaped and cut short."""
    text = raw.strip()
    if len(text) > _QUOTE_LIMIT:
        return repr(text[:_QUOTE_LIMIT]) + "…"
    return repr(text)


def is_toll_free(number: PhoneNumber) -> bool:
    """Whether libphonenumber reads ``number`` as a toll-free one (a sender's kind)."""
    parsed = phonenumbers.parse(number.e164, None)
    return phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.TOLL_FREE


def is_known_region(code: str) -> bool:
    """Whether ``code`` is an ISO 3166 alpha-2 code libphonenumber has a numbering plan for."""
    return code in phonenumbers.SUPPORTED_REGIONS
