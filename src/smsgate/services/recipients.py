"""The one check of a recipient and its text, for every way a message comes in.

The seed route, ``POST /api/v1/messages`` (one number or a batch), an uploaded file's rows,
the number check of the console and the CLI all ask the same questions, in the same order:
is this a number we can send to (libphonenumber), is its country allowed, is the text
sendable, and what will it cost at most. The last rule, "not to a number that opted out", is
not here: it is decided in the transaction that stores the message (``MessageStore.add``,
``QueueStore.add_batch``), so that an opt-out arriving meanwhile is never missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from smsgate.domain.encoding import TextInfo
from smsgate.domain.errors import DomainError
from smsgate.domain.geo import CountryPolicy
from smsgate.domain.phone import PhoneNumber, parse_phone_number
from smsgate.domain.pricing import PriceTable
from smsgate.domain.text import check_text


@dataclass(frozen=True, slots=True)
class Recipient:
    """A message that may be sent: to whom, its text's encoding and segments, its cost."""

    number: PhoneNumber
    text: TextInfo
    cost: Decimal | None  # at most; None when the price table has no rate for the country


@dataclass(frozen=True, slots=True)
class RecipientCheck:
    default_region: str | None = None
    countries: CountryPolicy = field(default_factory=lambda: CountryPolicy(None))
    prices: PriceTable | None = None

    def check(
        self, to: object, text: str, *, texts: dict[str, TextInfo] | None = None
    ) -> Recipient:
        """The recipient as it would be sent; a DomainError (with its code) if it cannot be.

        ``texts`` caches each distinct text's analysis across the rows of a batch, which
        often share one text.
        """
        if not isinstance(to, str):
            raise DomainError("A number is a string.", code="invalid_field_type")
        number = self.number(to)
        if not text.strip():
            raise DomainError("The text is empty.", code="empty_field")
        info = texts.get(text) if texts is not None else None
        if info is None:
            info = check_text(text)
            if texts is not None:
                texts[text] = info
        return Recipient(number, info, self.estimate(number, info))

    def number(self, to: str) -> PhoneNumber:
        """The number as it would be sent to; DomainError if invalid or its country is not
        allowed."""
        number = parse_phone_number(to, self.default_region)
        self.countries.check(number)
        return number

    def rate(self, number: PhoneNumber) -> Decimal | None:
        """The price of one segment to the number's country, if the table has it."""
        return self.prices.rate(number.region) if self.prices is not None else None

    def estimate(self, number: PhoneNumber, info: TextInfo) -> Decimal | None:
        if self.prices is None:
            return None
        return self.prices.estimate(number.region, info.segments)
