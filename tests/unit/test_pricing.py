"""Price tables: reading them strictly, and estimating with them."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from smsgate.db.price_files import bundled_price_table, load_price_table, save_price_table
from smsgate.domain.pricing import PriceTable, PriceTableError, parse_rate

GOOD: dict[str, Any] = {
    "currency": "USD",
    "source": "a test",
    "as_of": "2026-11-28",
    "rates": {"US": "0.00350", "GB": "0.04"},
}


def test_an_estimate_is_the_rate_times_the_segments() -> None:
    table = PriceTable.from_json(GOOD)
    assert table.estimate("US", 1) == Decimal("0.00350")
    assert table.estimate("US", 3) == Decimal("0.01050")
    assert table.estimate("GB", 2) == Decimal("0.08000")


@pytest.mark.parametrize("region", ["CA", None])
def test_a_country_the_table_does_not_price_has_no_estimate(region: str | None) -> None:
    assert PriceTable.from_json(GOOD).estimate(region, 1) is None


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"currency": "dollars"}, "currency"),
        ({"currency": None}, "currency"),
        ({"source": "  "}, "source"),
        ({"as_of": 20261128}, "as_of"),
        ({"rates": ["US"]}, "rates"),
        ({"rates": {"USA": "0.1"}}, "'USA' is not an ISO 3166"),
        ({"rates": {"us": "0.1"}}, "'us' is not an ISO 3166"),
        ({"rates": {"US": 0.0035}}, "the rate for US must be a decimal string"),
        ({"rates": {"US": "cheap"}}, "the rate for US is not a number"),
        ({"rates": {"US": "-0.01"}}, "the rate for US must be zero or more"),
        ({"rates": {"US": "NaN"}}, "the rate for US must be zero or more"),
        ({"rates": {"US": "Infinity"}}, "the rate for US must be zero or more"),
    ],
)
def test_a_malformed_table_is_refused_naming_the_field(
    change: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(PriceTableError, match=complaint):
        PriceTable.from_json({**GOOD, **change}, origin="prices.json")


def test_a_table_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PriceTableError, match="JSON object"):
        PriceTable.from_json(["US", "0.1"])


def test_rates_are_kept_to_plivos_five_decimals() -> None:
    assert parse_rate("0.0035", "r") == Decimal("0.00350")
    assert str(parse_rate("0.1234567", "r")) == "0.12346"


def test_a_saved_table_loads_back_equal(tmp_path: Path) -> None:
    table = PriceTable.from_json(GOOD)
    path = tmp_path / "nested" / "prices.json"
    save_price_table(table, path)
    assert load_price_table(path) == table
    assert json.loads(path.read_text())["rates"] == {"GB": "0.04000", "US": "0.00350"}
    assert [p.name for p in path.parent.iterdir()] == ["prices.json"]  # no temporary left


@pytest.mark.parametrize(
    ("content", "complaint"),
    [(None, "cannot be read"), ("{not json", "not valid JSON"), ("{}", "currency")],
)
def test_an_unusable_file_is_refused_with_its_path(
    tmp_path: Path, content: str | None, complaint: str
) -> None:
    path = tmp_path / "prices.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PriceTableError, match=complaint) as caught:
        load_price_table(path)
    assert str(path) in str(caught.value)


def test_the_bundled_table_is_used_without_a_path_and_says_where_it_comes_from() -> None:
    table = load_price_table(None)
    assert table == bundled_price_table()
    assert table.currency == "USD"
    assert table.rate("US") == Decimal("0.00350")
    assert "plivo.com/docs/account/api/pricing" in table.source


class FixedRates:
    def __init__(self, rates: dict[str, Decimal | None]) -> None:
        self.rates = rates
        self.asked: list[str] = []

    async def sms_rate(self, region: str) -> Decimal | None:
        self.asked.append(region)
        return self.rates[region]


@pytest.mark.anyio
async def test_a_fetched_table_holds_the_priced_countries_and_names_the_others() -> None:
    from datetime import date

    from smsgate.services.pricing import fetch_price_table

    source = FixedRates({"US": Decimal("0.00420"), "AQ": None})
    fetched = await fetch_price_table(source, ["US", "AQ"], date(2026, 11, 28))
    assert source.asked == ["US", "AQ"]
    assert dict(fetched.table.rates) == {"US": Decimal("0.00420")}
    assert fetched.unpriced == ("AQ",)
    assert (fetched.table.currency, fetched.table.as_of) == ("USD", "2026-11-28")
