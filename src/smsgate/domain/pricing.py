"""What a message will cost: a per-country price per segment, times the segments.

Plivo bills each segment of an outbound SMS at the destination country's rate (reference §2:
``Units``, ``TotalRate``, ``TotalAmount``). The rate differs by country and by carrier; the
table keeps one rate per country, the highest Plivo lists for it, so that an estimate is an
upper bound: spending limits built on it err on the side of refusing.

The estimate is made before the send; the amount Plivo actually charged arrives later, in the
delivery report, and is stored beside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["PriceTable", "PriceTableError", "parse_rate"]

_ISO_REGION = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
# Plivo quotes rates with five decimals; a table never needs more.
_QUANTUM = Decimal("0.00001")


class PriceTableError(ValueError):
    """A price table file is missing, unreadable or malformed; the message says where."""


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Rates per segment by ISO 3166 alpha-2 region, in one currency, with their provenance."""

    currency: str
    rates: Mapping[str, Decimal]
    source: str
    as_of: str
    # Where the table was read from, for messages; not part of its content.
    origin: str = field(default="", compare=False)

    def rate(self, region: str | None) -> Decimal | None:
        """The price of one segment to ``region``; None when the table does not price it."""
        return self.rates.get(region) if region is not None else None

    def estimate(self, region: str | None, segments: int) -> Decimal | None:
        """The upper-bound cost of a message of ``segments`` parts; None if unpriced."""
        rate = self.rate(region)
        return rate * segments if rate is not None else None

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "source": self.source,
            "as_of": self.as_of,
            "rates": {region: str(rate) for region, rate in sorted(self.rates.items())},
        }

    @classmethod
    def from_json(cls, document: object, origin: str = "") -> PriceTable:
        """Read a table written by ``as_json``; raise PriceTableError naming what is wrong."""
        where = f"{origin}: " if origin else ""
        if not isinstance(document, dict):
            raise PriceTableError(f"{where}a price table is a JSON object")
        currency, source, as_of = (document.get(k) for k in ("currency", "source", "as_of"))
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise PriceTableError(f"{where}'currency' must be an ISO 4217 code such as USD")
        if not isinstance(source, str) or not source.strip():
            raise PriceTableError(f"{where}'source' must say where the rates come from")
        if not isinstance(as_of, str) or not as_of.strip():
            raise PriceTableError(f"{where}'as_of' must say when the rates were taken")
        raw_rates = document.get("rates")
        if not isinstance(raw_rates, dict):
            raise PriceTableError(f"{where}'rates' must map country codes to prices")
        rates: dict[str, Decimal] = {}
        for region, raw in raw_rates.items():
            if not _ISO_REGION.fullmatch(region):
                raise PriceTableError(f"{where}{region!r} is not an ISO 3166 alpha-2 code")
            rates[region] = parse_rate(raw, f"{where}the rate for {region}")
        return cls(currency, rates, source.strip(), as_of.strip(), origin)


def parse_rate(raw: object, what: str) -> Decimal:
    """A non-negative price given as a decimal string (floats would round)."""
    if not isinstance(raw, str):
        raise PriceTableError(f'{what} must be a decimal string such as "0.00350"')
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        raise PriceTableError(f"{what} is not a number: {raw!r}") from None
    if not rate.is_finite() or rate < 0:
        raise PriceTableError(f"{what} must be zero or more, not {raw!r}")
    return rate.quantize(_QUANTUM)
