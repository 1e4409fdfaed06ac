"""The one place that decides which adapters the application runs with, and wires them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.config import ProviderName, Settings, compact_sender
from smsgate.db.api_keys import ApiKeyStore
from smsgate.db.console_sessions import ConsoleSessionStore
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.errors import StoreUnavailable
from smsgate.db.idempotency import IdempotencyStore
from smsgate.db.inbound import InboundStore
from smsgate.db.opt_outs import OptOutStore
from smsgate.db.queue import QueueStore, StoredBatch
from smsgate.db.retention import RetentionStore
from smsgate.db.store import MessageStore
from smsgate.db.webhooks import WebhookStore
from smsgate.domain.retry import RetryPlan
from smsgate.engines.broker import BrokerEngine
from smsgate.engines.inprocess import InProcessDispatcher
from smsgate.limits.counters import Counters, MemoryCounters
from smsgate.limits.pacing import Pacing, SenderPacing
from smsgate.limits.redis_counters import RedisCounters
from smsgate.limits.redis_pacing import RedisPacing
from smsgate.logs import get_logger
from smsgate.metrics import Metrics
from smsgate.providers.base import SentLookup, SmsProvider
from smsgate.providers.http import AiohttpTransport, HttpTransport
from smsgate.providers.plivo.provider import PlivoCredentials, PlivoProvider
from smsgate.providers.sandbox import SandboxProvider
from smsgate.services.access import Authenticator
from smsgate.services.dispatch import Dispatcher
from smsgate.services.idempotency import Idempotency
from smsgate.services.limits import Limits, LimitsUnavailable
from smsgate.services.outlets import Outlet
from smsgate.services.queueing import Enqueuer
from smsgate.services.reconcile import Reconciler
from smsgate.services.retention import Retention
from smsgate.services.sending import Sender
from smsgate.services.webhook_delivery import DeliverySettings, WebhookDeliverer

log = get_logger("smsgate.bootstrap")


def build_provider(
    settings: Settings,
    *,
    transport: HttpTransport | None = None,
    sandbox_callback_token: str | None = None,
) -> SmsProvider:
    """Build the configured provider. Call it inside the running event loop (aiohttp needs one).

    The sandbox signs the delivery reports it simulates with ``sandbox_callback_token``.
    """
    if settings.resolved_provider is ProviderName.SANDBOX:
        return SandboxProvider(
            sender=settings.plivo_sender_id, callback_token=sandbox_callback_token
        )
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


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes and commands use, once the runtime is open."""

    store: MessageStore
    idempotency: Idempotency
    sender: Sender
    opt_outs: OptOutStore
    inbound: InboundStore
    # Callbacks are signed with Plivo's auth token; the sandbox signs its own with this too.
    callback_token: str
    # Where callbacks are addressed and what their signatures cover: SMSGATE_PUBLIC_URL, else
    # this server's own address.
    callback_base_url: str
    queue: QueueStore
    enqueuer: Enqueuer
    dispatcher: Dispatcher
    # One of the two engines: the dispatcher inside this process, or the broker's workers.
    engine: InProcessDispatcher | None
    broker: BrokerEngine | None
    metrics: Metrics
    reconciler: Reconciler
    api_keys: ApiKeyStore
    authenticator: Authenticator
    limits: Limits
    webhooks: WebhookStore
    console_sessions: ConsoleSessionStore
    # Fans changes out into webhook events and posts them; it runs where the engine runs:
    # `serve` starts it without a broker, each worker with one.
    deliverer: WebhookDeliverer
    # Redacts old texts and deletes old rows, hourly, where the engine runs (one process at a
    # time).
    retention: Retention


class Runtime:
    """Everything a running smsgate uses, opened together and closed together."""

    def __init__(self, settings: Settings, injected_provider: SmsProvider | None = None) -> None:
        self.settings = settings
        self.injected_provider = injected_provider  # tests pass a fake; else from settings
        self._engine: AsyncEngine | None = None
        self._services: Services | None = None
        self._pacing: Pacing | None = None
        self._test_sandbox: SandboxProvider | None = None
        # Made here, not in open(): a worker hands the broker to Dramatiq before its loop runs.
        self.broker_engine = BrokerEngine(settings.broker_url) if settings.broker_url else None

    async def open(self) -> Services:
        settings = self.settings
        token = callback_token(settings)
        base = settings.public_url or own_address(settings.host, settings.port)
        provider = self.injected_provider or build_provider(settings, sandbox_callback_token=token)
        self._engine = make_engine(settings.database_url)
        sessions = make_sessions(self._engine)
        store = MessageStore(sessions)
        opt_outs = OptOutStore(sessions)
        # Plivo is asked for callbacks only at a public address; the sandbox posts its
        # simulated ones to this server itself.
        wants_callbacks = settings.public_url is not None or provider.name == "sandbox"
        callback_url = f"{base}{STATUS_CALLBACK_PATH}" if wants_callbacks else None
        # Test keys' messages: the sandbox, reporting here, whatever the configured provider.
        if provider.name == "sandbox":
            test_outlet = Outlet(provider, callback_url)
        else:
            self._test_sandbox = SandboxProvider(
                sender=settings.plivo_sender_id, callback_token=token
            )
            test_outlet = Outlet(self._test_sandbox, f"{base}{STATUS_CALLBACK_PATH}")
        api_keys = ApiKeyStore(sessions, database_url=settings.database_url)
        webhooks = WebhookStore(self._engine)
        limits = Limits(settings.limit_settings, make_counters(settings))
        await seed_limits(limits, store)
        prices = settings.load_prices()
        queue = QueueStore(self._engine)
        metrics = Metrics()
        rate = settings.sender_mps or None
        redis_url = settings.pacing_redis_url
        pacing: Pacing = RedisPacing(redis_url, rate) if redis_url else SenderPacing(rate)
        self._pacing = pacing
        broker = self.broker_engine
        dispatcher = Dispatcher(
            provider,
            store,
            queue,
            pacing,
            retry=RetryPlan(
                max_attempts=settings.retry_max_attempts,
                max_age=timedelta(seconds=settings.retry_max_age),
            ),
            callback_url=callback_url,
            reschedule=broker.reschedule if broker is not None else None,
            metrics=metrics,
            test_outlet=test_outlet,
        )
        engine = (
            InProcessDispatcher(dispatcher, queue, concurrency=settings.dispatch_concurrency)
            if broker is None
            else None
        )
        announce: Callable[[StoredBatch, datetime], object]
        if broker is not None:
            announce = broker.announce_batch
        else:
            assert engine is not None
            announce = lambda _batch, _due: engine.wake()  # noqa: E731
        self._services = Services(
            store=store,
            idempotency=Idempotency(
                # A request lasts at most its Plivo deadline and its database writes.
                IdempotencyStore(
                    sessions, longest_request=timedelta(seconds=2 * settings.plivo_timeout + 30)
                ),
                ttl=timedelta(hours=settings.idempotency_ttl_hours),
                # A repeat waits as long as the first request may take: its whole deadline.
                wait=settings.plivo_timeout + 5,
            ),
            sender=Sender(
                provider,
                store,
                default_region=settings.default_region,
                sender_id=settings.plivo_sender_id,
                callback_url=callback_url,
                prices=prices,
                metrics=metrics,
                countries=settings.country_policy,
                test_outlet=test_outlet,
                limits=limits,
            ),
            opt_outs=opt_outs,
            inbound=InboundStore(sessions),
            callback_token=token,
            callback_base_url=base,
            queue=queue,
            enqueuer=Enqueuer(
                queue,
                provider_name=provider.name,
                sender_id=settings.plivo_sender_id,
                default_region=settings.default_region,
                prices=prices,
                countries=settings.country_policy,
                announce=announce,
                limits=limits,
                test_provider_name=test_outlet.provider.name,
            ),
            dispatcher=dispatcher,
            engine=engine,
            broker=broker,
            metrics=metrics,
            reconciler=Reconciler(
                store,
                queue,
                provider if isinstance(provider, SentLookup) else None,
                deadline=timedelta(seconds=settings.plivo_timeout),
                reschedule=broker.reschedule if broker is not None else None,
                provider=provider.name,
            ),
            api_keys=api_keys,
            authenticator=Authenticator(
                tuple(key.get_secret_value().encode() for key in settings.api_keys), api_keys
            ),
            limits=limits,
            webhooks=webhooks,
            console_sessions=ConsoleSessionStore(sessions),
            deliverer=WebhookDeliverer(
                webhooks,
                DeliverySettings(
                    timeout=settings.webhook_timeout,
                    retry_base=settings.webhook_retry_base,
                    max_age=timedelta(seconds=settings.webhook_max_age),
                    allow_private=settings.webhooks_allow_private,
                ),
                callback_secret=(
                    settings.callback_secret.get_secret_value()
                    if settings.callback_secret
                    else None
                ),
            ),
            retention=Retention(
                RetentionStore(self._engine),
                queue,
                text_days=settings.retain_text_days,
                row_days=settings.retain_days,
            ),
        )
        return self._services

    async def close(self) -> None:
        if self._services is not None:
            if self._services.broker is not None:
                await self._services.broker.close()
            if isinstance(self._pacing, RedisPacing):
                await self._pacing.aclose()
            await self._services.authenticator.aclose()
            await self._services.deliverer.aclose()
            self._services.api_keys.close()
            await self._services.limits.aclose()
            if self.injected_provider is None:
                await self._services.sender.provider.aclose()
            if self._test_sandbox is not None:
                await self._test_sandbox.aclose()
            await self._services.store.close()
        if self._engine is not None:
            await self._engine.dispose()

    async def check_database(self) -> None:
        """A ``SELECT 1`` through this runtime's engine; raises what the database raised."""
        if self._engine is None:
            raise RuntimeError("the runtime is not open")
        async with self._engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the runtime is opened by the app's lifespan; it has not run")
        return self._services


def own_address(host: str, port: int) -> str:
    """How this server reaches itself: a wildcard bind means loopback, IPv6 in brackets."""
    if host in ("", "0.0.0.0"):  # noqa: S104 (reading the bind address, not binding)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def make_counters(settings: Settings) -> Counters:
    """Limits shared through Redis when there is one (SMSGATE_REDIS_URL, or a Redis broker);
    else counted in this process."""
    url = settings.pacing_redis_url
    return RedisCounters(url) if url else MemoryCounters()


async def seed_limits(limits: Limits, store: MessageStore) -> None:
    """Start today's totals from the database, so a restart does not reset the day."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        counts, spend = await store.usage_since(midnight)
        await limits.seed({key: n for key, n in counts.items() if key is not None}, spend)
    except (StoreUnavailable, LimitsUnavailable):
        # Requests will fail (closed) on their own if these stay down; serving starts anyway.
        log.warning("limits_not_seeded")


def callback_token(settings: Settings) -> str:
    """Plivo's auth token when there is one; else a secret of this process, for the sandbox.

    Several sandbox processes behind one address need one shared secret: set PLIVO_AUTH_TOKEN
    (without PLIVO_AUTH_ID the provider stays the sandbox).
    """
    if settings.plivo_auth_token is not None:
        return settings.plivo_auth_token.get_secret_value()
    return _PROCESS_SECRET


_PROCESS_SECRET = secrets.token_urlsafe(32)
