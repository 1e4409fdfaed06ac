"""What the routes need while the app runs: the settings, and the provider the lifespan opens."""

from __future__ import annotations

from dataclasses import dataclass, field

from smsgate.config import Settings
from smsgate.providers.base import SmsProvider


@dataclass(slots=True)
class Runtime:
    settings: Settings
    _provider: SmsProvider | None = field(default=None, repr=False)

    @property
    def provider(self) -> SmsProvider:
        if self._provider is None:
            raise RuntimeError("the provider is opened by the app's lifespan; it has not run")
        return self._provider

    @provider.setter
    def provider(self, provider: SmsProvider) -> None:
        self._provider = provider
