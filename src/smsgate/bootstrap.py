"""The one place that decides which adapters the application runs with."""

from __future__ import annotations

from smsgate.config import ProviderName, Settings, compact_sender
from smsgate.providers.base import SmsProvider
from smsgate.providers.http import AiohttpTransport, HttpTransport
from smsgate.providers.plivo import PlivoCredentials, PlivoProvider
from smsgate.providers.sandbox import SandboxProvider


def build_provider(settings: Settings, *, transport: HttpTransport | None = None) -> SmsProvider:
    """Build the configured provider. Call it inside the running event loop (aiohttp needs one)."""
    if settings.resolved_provider is ProviderName.SANDBOX:
        return SandboxProvider(sender=settings.plivo_sender_id)
    settings.check_provider()
    assert settings.plivo_auth_id is not None  # checked just above
    assert settings.plivo_auth_token is not None
    assert settings.plivo_sender_id is not None
    credentials = PlivoCredentials(
        settings.plivo_auth_id, settings.plivo_auth_token.get_secret_value()
    )
    return PlivoProvider(
        transport or AiohttpTransport(max_connections=settings.plivo_max_connections),
        credentials,
        sender=compact_sender(settings.plivo_sender_id),
        api_url=settings.plivo_api_url,
        timeout=settings.plivo_timeout,
    )
