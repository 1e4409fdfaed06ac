"""Build a price table from the provider's own prices, country by country."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from smsgate.domain.pricing import PriceTable

PLIVO_SOURCE = (
    "Plivo Pricing API (GET /v1/Account/{auth_id}/Pricing/), fetched with `smsgate prices "
    "update`: the highest outbound SMS rate Plivo lists per country, per segment"
)


class RateSource(Protocol):
    async def sms_rate(self, region: str) -> Decimal | None: ...


@dataclass(frozen=True, slots=True)
class FetchedPrices:
    table: PriceTable
    unpriced: tuple[str, ...]  # regions the provider lists no SMS rate for


async def fetch_price_table(source: RateSource, regions: list[str], today: date) -> FetchedPrices:
    """Ask ``source`` for each region's rate, one after another (the table is small)."""
    rates: dict[str, Decimal] = {}
    unpriced: list[str] = []
    for region in regions:
        rate = await source.sms_rate(region)
        if rate is None:
            unpriced.append(region)
        else:
            rates[region] = rate
    # Plivo prices and bills in US dollars.
    table = PriceTable("USD", rates, PLIVO_SOURCE, today.isoformat())
    return FetchedPrices(table, tuple(unpriced))
