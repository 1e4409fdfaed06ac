"""The text rule (no control characters but newline and tab) and the country allowlist."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from smsgate.config import Settings
from smsgate.domain.errors import CountryNotAllowed, InvalidCharacters
from smsgate.domain.geo import CountryPolicy
from smsgate.domain.phone import parse_phone_number
from smsgate.domain.text import check_text


@pytest.mark.parametrize(
    "text",
    ["line one\nline two", "a\tb", "Windows\r\nline", "Grüße 👋", "€ and ü", "plain"],
)
def test_newlines_tabs_and_any_printable_text_are_fine(text: str) -> None:
    assert check_text(text).characters > 0


@pytest.mark.parametrize(
    ("text", "codepoint", "position"),
    [
        ("nul\x00", "U+0000", 4),
        ("bell\x07", "U+0007", 5),
        ("\x1b[31mred", "U+001B", 1),
        ("del\x7f", "U+007F", 4),
        ("next line\x85", "U+0085", 10),
        ("old mac\rline", "U+000D", 8),
        ("form\x0cfeed", "U+000C", 5),
    ],
)
def test_other_control_characters_are_refused_by_name_and_place(
    text: str, codepoint: str, position: int
) -> None:
    with pytest.raises(InvalidCharacters, match=re.escape(f"{codepoint} at position {position};")):
        check_text(text)


def test_the_allowlist_lets_its_countries_through_and_names_them_otherwise() -> None:
    policy = CountryPolicy(frozenset({"US", "CA"}))
    policy.check(parse_phone_number("+14155552671"))
    policy.check(parse_phone_number("+16135550123"))
    with pytest.raises(CountryNotAllowed, match=r"GB .*CA, US.*SMSGATE_ALLOWED_COUNTRIES"):
        policy.check(parse_phone_number("+442071838750"))


def test_numbers_of_no_country_need_every_country_allowed() -> None:
    international = parse_phone_number("+80012345678")
    assert international.region is None
    with pytest.raises(CountryNotAllowed, match="no country"):
        CountryPolicy(frozenset({"US"})).check(international)
    CountryPolicy(None).check(international)


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("US, ca", {"US", "CA"}), ("GB", {"GB"}), ("*", None), ("US,*", None)],
)
def test_allowed_countries_are_read_from_a_comma_list(value: str, allowed: set[str] | None) -> None:
    settings = Settings.model_validate({"allowed_countries": value})
    policy = settings.country_policy
    assert policy.allowed == (frozenset(allowed) if allowed is not None else None)


@pytest.mark.parametrize("value", ["", "XX", "US,Narnia"])
def test_unknown_or_no_countries_are_a_configuration_error(value: str) -> None:
    with pytest.raises(ValidationError, match="allowed_countries"):
        Settings.model_validate({"allowed_countries": value})


def test_the_default_is_the_us_and_canada() -> None:
    assert Settings(_env_file=None).country_policy.allowed == frozenset({"US", "CA"})  # type: ignore[call-arg]
