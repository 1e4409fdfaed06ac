"""The one place that decides which adapters the application runs with, and wires them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.config import ProviderName, Settings, compact_sender
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.idempotency import IdempotencyStore
from smsgate.db.store import MessageStore
from smsgate.providers.base import SmsProvider
from smsgate.providers.http import AiohttpTransport, HttpTransport
from smsgate.providers.plivo import PlivoCredentials, PlivoProvider
from smsgate.providers.sandbox import SandboxProvider
from smsgate.services.idempotency import Idempotency
from smsgate.services.sending import Sender


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


STATUS_CALLBACK_PATH = "/api/v1/webhooks/plivo/status"


@dataclass(slots=True)
class Runtime:
    """Everything a running smsgate uses, opened together and closed together."""

    settings: Settings
    injected_provider: SmsProvider | None = None  # tests pass a fake; else built from settings
    _engine: AsyncEngine | None = field(default=None, repr=False)
    _store: MessageStore | None = field(default=None, repr=False)
    _sender: Sender | None = field(default=None, repr=False)
    _idempotency: Idempotency | None = field(default=None, repr=False)

    async def open(self) -> None:
        provider = self.injected_provider or build_provider(self.settings)
        self._engine = make_engine(self.settings.database_url)
        sessions = make_sessions(self._engine)
        self._store = MessageStore(sessions)
        self._idempotency = Idempotency(
            IdempotencyStore(sessions),
            ttl=timedelta(hours=self.settings.idempotency_ttl_hours),
            # A repeat waits as long as the first request may take: its whole Plivo deadline.
            wait=self.settings.plivo_timeout + 5,
        )
        public = self.settings.public_url
        self._sender = Sender(
            provider,
            self._store,
            default_region=self.settings.default_region,
            sender_id=self.settings.plivo_sender_id,
            callback_url=f"{public}{STATUS_CALLBACK_PATH}" if public else None,
        )

    async def close(self) -> None:
        if self._sender is not None and self.injected_provider is None:
            await self._sender.provider.aclose()
        if self._engine is not None:
            await self._engine.dispose()

    @property
    def store(self) -> MessageStore:
        if self._store is None:
            raise RuntimeError("the store is opened by the app's lifespan; it has not run")
        return self._store

    @property
    def idempotency(self) -> Idempotency:
        if self._idempotency is None:
            raise RuntimeError("idempotency is opened by the app's lifespan; it has not run")
        return self._idempotency

    @property
    def sender(self) -> Sender:
        if self._sender is None:
            raise RuntimeError("the sender is opened by the app's lifespan; it has not run")
        return self._sender
