"""Errors of the domain, each carrying a stable snake_case code that the API passes on.

Callers branch on ``code``, never on the human message, so codes are part of the public
contract: add new ones, never rename.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request that breaks a rule of the domain; the API answers it with HTTP 400."""

    code: str = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidPhoneNumber(DomainError):
    """The destination is not a phone number libphonenumber accepts as valid."""

    code = "invalid_number"


class MessageTooLong(DomainError):
    """The text is over Plivo's limit: 1,600 GSM-7 characters or 737 UCS-2 characters."""

    code = "text_too_long"


class InvalidCharacters(DomainError):
    """The text holds control characters (other than newline and tab) that no phone shows."""

    code = "invalid_characters"


class CountryNotAllowed(DomainError):
    """The number belongs to a country outside ``SMSGATE_ALLOWED_COUNTRIES``."""

    code = "country_not_allowed"
