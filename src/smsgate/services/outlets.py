"""Where a message goes: the configured provider, or the sandbox for a test key's messages.

Each outlet pairs a provider with the callback URL it is asked to report to. Plivo is asked
for callbacks only at a public address (``SMSGATE_PUBLIC_URL``); the sandbox posts its
simulated ones to this server itself. When the configured provider is the sandbox, live and
test messages share one outlet.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.domain.access import Principal
from smsgate.providers.base import SmsProvider


@dataclass(frozen=True, slots=True)
class Outlet:
    provider: SmsProvider
    callback_url: str | None


@dataclass(frozen=True, slots=True)
class Outlets:
    live: Outlet
    test: Outlet

    def for_caller(self, caller: Principal) -> Outlet:
        return self.test if caller.test else self.live

    def named(self, provider: str) -> Outlet:
        """The outlet a stored message was routed to, by its provider's name."""
        return self.test if provider == self.test.provider.name else self.live

    @property
    def distinct(self) -> tuple[SmsProvider, ...]:
        live, test = self.live.provider, self.test.provider
        return (live,) if live is test else (live, test)
