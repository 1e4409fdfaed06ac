"""Which countries smsgate sends to: an allowlist, the first defence against SMS pumping.

SMS pumping sends texts to premium numbers in far-away countries, where someone shares in the
fees; an endpoint that can reach every country is what it needs. smsgate sends only to the
countries listed in ``SMSGATE_ALLOWED_COUNTRIES`` (default US and CA); ``*`` lifts the limit.
Numbers that belong to no country (international +800 and the like) need ``*`` as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.domain.errors import CountryNotAllowed
from smsgate.domain.phone import PhoneNumber

__all__ = ["CountryPolicy"]


@dataclass(frozen=True, slots=True)
class CountryPolicy:
    allowed: frozenset[str] | None  # ISO 3166 alpha-2 codes; None allows every country

    def check(self, number: PhoneNumber) -> None:
        """Raise CountryNotAllowed unless ``number`` may be sent to."""
        if self.allowed is None or number.region in self.allowed:
            return
        where = number.region or "no country (an international number)"
        raise CountryNotAllowed(
            f"smsgate does not send to {where} ({number.masked}); the allowed countries are "
            f"{', '.join(sorted(self.allowed))}. Change SMSGATE_ALLOWED_COUNTRIES to send there."
        )
