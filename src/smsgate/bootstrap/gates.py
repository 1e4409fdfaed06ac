"""What must hold before smsgate serves, and whether its database answers now."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from smsgate.bootstrap.providers import check_provider
from smsgate.bootstrap.services import Services, load_prices
from smsgate.config import ConfigError, Settings
from smsgate.domain.addresses import is_loopback
from smsgate.domain.pricing import PriceTable


def check_serving(
    settings: Settings,
    *,
    insecure_no_auth: bool = False,
    keys_stored: Callable[[], bool] = lambda: False,
) -> None:
    """The gate ``serve`` passes before it binds: a usable provider, and no open endpoint.

    ``keys_stored`` says whether the database holds API keys (asked only if needed).
    """
    check_provider(settings)
    prices = load_prices(settings)
    settings.check_stale_after()
    check_spend_priced(settings, prices)
    keys = settings.auth_required or (
        (bool(settings.cors_origins) or not is_loopback(settings.host)) and keys_stored()
    )
    if settings.cors_origins and not keys:
        raise ConfigError(
            "SMSGATE_CORS_ORIGINS",
            "needs API keys (smsgate keys create, or SMSGATE_API_KEYS): without keys, any "
            "page on a listed site could send SMS through this smsgate from its visitors' "
            "browsers",
        )
    if not keys and not insecure_no_auth and not is_loopback(settings.host):
        raise ConfigError(
            "SMSGATE_API_KEYS",
            f"is not set, no key was created (smsgate keys create), and {settings.host} is "
            "not a loopback address: an open SMS endpoint is a fraud magnet. Create a key, or "
            "pass --insecure-no-auth",
        )


async def check_database(services: Services) -> None:
    """A ``SELECT 1`` through the services' database; raises what the database raised."""
    async with services.db.connect() as connection:
        await connection.execute(text("SELECT 1"))


def check_spend_priced(settings: Settings, prices: PriceTable) -> None:
    """With a spend limit, every allowed country needs a price: each message to one without
    would be refused (402 ``price_unknown``), so that is said at the start instead."""
    allowed = settings.country_policy.allowed
    if not settings.daily_spend_limit or allowed is None:
        return  # no limit to count against; or every country, where a gap is expected
    unpriced = sorted(country for country in allowed if prices.rate(country) is None)
    if unpriced:
        raise ConfigError(
            "SMSGATE_DAILY_SPEND_LIMIT",
            f"is set, but the price table has no rate for {', '.join(unpriced)} (allowed by "
            "SMSGATE_ALLOWED_COUNTRIES), so no message could go there: add their rates "
            f"(smsgate prices update --countries {','.join(unpriced)} --out prices.json, then "
            "SMSGATE_PRICE_TABLE=prices.json) or stop allowing them",
        )
