"""Where a message goes: the configured provider, or the sandbox for a test key's messages.

This is the one place that decides it; bootstrap builds the ``Outlets`` once and every path
that sends (inline, queued, reconciled) asks them. Each outlet pairs a provider with the
status URL it is asked to report to. Plivo is asked for delivery reports only at a public
address (``SMSGATE_PUBLIC_URL``); the sandbox posts its simulated ones to this server itself.
When the configured provider is the sandbox, live and test messages share one outlet.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.domain.access import Principal
from smsgate.providers.base import SmsProvider
from smsgate.providers.sandbox import SandboxProvider


@dataclass(frozen=True, slots=True)
class Outlet:
    provider: SmsProvider
    status_url: str | None  # where its delivery reports come back; None: nobody listens

    @property
    def reaches_phones(self) -> bool:
        """Whether what it accepts goes to real phones, and costs: the sandbox's never does."""
        return self.provider.name != SandboxProvider.name


@dataclass(frozen=True, slots=True)
class Outlets:
    live: Outlet
    test: Outlet

    @classmethod
    def single(cls, outlet: Outlet) -> Outlets:
        """Live and test messages alike go to ``outlet`` (the configured provider is the
        sandbox, or a test that needs no test keys)."""
        return cls(outlet, outlet)

    def for_caller(self, caller: Principal) -> Outlet:
        return self.test if caller.test else self.live

    def named(self, provider: str) -> Outlet:
        """The outlet a stored message was routed to, by its provider's name."""
        return self.test if provider == self.test.provider.name else self.live

    def pace_key(self, outlet: Outlet, sender: str | None) -> str:
        """Whose pacing slots a hand-off takes: the sender's or, for the sandbox standing in
        for a live provider, a schedule of its own (test messages must not slow live ones)."""
        return self.pace_prefix(outlet) + (sender or "")

    def pace_prefix(self, outlet: Outlet) -> str:
        """What the pacing keys of the outlet's senders start with (``pace_key``)."""
        return "" if outlet.provider is self.live.provider else "test:"
