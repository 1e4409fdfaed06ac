"""Destination parsing as Plivo does it: ``<``-separated, cleaned, checked, de-duplicated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import phonenumbers

# Plivo strips these from each destination before reading it as a number (reference §1).
_SEPARATORS: Final = re.compile(r"[/\-.+()\s]")
_MAX_DIGITS: Final = 14


@dataclass(frozen=True, slots=True)
class Destinations:
    """``valid`` holds E.164 digits (no ``+``) in request order; ``invalid`` the entries as sent."""

    valid: tuple[str, ...]
    invalid: tuple[str, ...]


def split_destinations(dst: str) -> Destinations:
    """Split a ``dst`` value into the numbers Plivo would send to and those it rejects."""
    valid: dict[str, None] = {}  # a dict keeps first-seen order while removing duplicates
    invalid: dict[str, None] = {}
    for entry in map(str.strip, dst.split("<")):
        if not entry:
            continue
        digits = clean_number(entry)
        if is_valid_number(digits):
            valid[digits] = None
        else:
            invalid[entry] = None
    return Destinations(tuple(valid), tuple(invalid))


def clean_number(raw: str) -> str:
    """``raw`` without the punctuation and spaces Plivo ignores in numbers."""
    return _SEPARATORS.sub("", raw)


# Benchmarks send to a handful of numbers thousands of times a second, and libphonenumber
# takes tens of microseconds per parse; the cache makes repeats nearly free.
@lru_cache(maxsize=65_536)
def is_valid_number(digits: str) -> bool:
    """True when ``digits`` (country code first) is a number libphonenumber calls valid."""
    if not (digits.isascii() and digits.isdigit() and len(digits) <= _MAX_DIGITS):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse("+" + digits))
    except phonenumbers.NumberParseException:
        return False
