"""``build_services``: every component a running smsgate uses, constructed from the settings.

Each collaborator a test (or the CLI) may want to replace is a keyword: the provider, the
clock, the limit counters and the pacing. Each component, as it is built, pushes its own close
onto the caller's ``AsyncExitStack``, so they close in the reverse order.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.bootstrap.providers import (
    build_outlets,
    build_provider,
    callback_token,
    own_address,
)
from smsgate.config import ConfigError, Settings
from smsgate.db.api_keys import ApiKeyStore
from smsgate.db.console_sessions import ConsoleSessionStore
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.idempotency import IdempotencyStore
from smsgate.db.inbound import InboundStore
from smsgate.db.opt_outs import OptOutStore
from smsgate.db.price_files import load_price_table
from smsgate.db.queue import QueueStore
from smsgate.db.retention import RetentionStore
from smsgate.db.senders import SenderStore
from smsgate.db.store import MessageStore
from smsgate.db.webhooks import WebhookStore
from smsgate.domain.clock import Clock, utc_now
from smsgate.domain.pricing import PriceTable, PriceTableError
from smsgate.domain.rates import parse_rate
from smsgate.domain.retry import RetryPlan
from smsgate.engines import Engine
from smsgate.engines.inprocess import InProcessEngine
from smsgate.limits.counters import Counters, MemoryCounters
from smsgate.limits.pacing import Pacing, SenderPacing
from smsgate.metrics import Metrics
from smsgate.providers.base import CallbackReader, SentLookup, SmsProvider
from smsgate.providers.http import AiohttpTransport, HttpTransport
from smsgate.providers.plivo.callbacks import PlivoCallbackReader
from smsgate.providers.plivo.errors import describe_error_code
from smsgate.services.access import Authenticator
from smsgate.services.dispatch import Dispatcher
from smsgate.services.documents import Documents
from smsgate.services.idempotency import Idempotency
from smsgate.services.limits import Limits, LimitSettings
from smsgate.services.outlets import Outlets
from smsgate.services.queueing import Enqueuer
from smsgate.services.recipients import RecipientCheck
from smsgate.services.reconcile import Reconciler
from smsgate.services.retention import Retention
from smsgate.services.senders import SenderDirectory
from smsgate.services.sending import Sender
from smsgate.services.webhook_delivery import DeliverySettings, WebhookDeliverer

if TYPE_CHECKING:  # the broker engine imports Dramatiq: only a worker needs it
    from smsgate.engines.broker import Sweep


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes, the commands and the background jobs use, once built."""

    settings: Settings
    db: AsyncEngine  # SQLAlchemy's engine ("engine" is the queued-sending one below)
    store: MessageStore
    queue: QueueStore
    opt_outs: OptOutStore
    inbound: InboundStore
    api_keys: ApiKeyStore
    webhooks: WebhookStore
    console_sessions: ConsoleSessionStore
    metrics: Metrics
    # Where messages go: the provider, or the sandbox for a test key's.
    outlets: Outlets
    recipients: RecipientCheck
    idempotency: Idempotency
    sender: Sender
    enqueuer: Enqueuer
    # The sender registry in memory: routes accepted messages, chooses a pool's sender.
    senders: SenderDirectory
    dispatcher: Dispatcher
    # Queued sending: the in-process engine, or the broker's (announcing, or a worker's).
    engine: Engine
    reconciler: Reconciler
    authenticator: Authenticator
    limits: Limits
    # Fans changes out into webhook events and posts them, where the engine dispatches.
    deliverer: WebhookDeliverer
    # Redacts old texts and deletes old rows, hourly, where the engine dispatches.
    retention: Retention
    # Checks and reads what the provider posts back: signed with Plivo's auth token (the
    # sandbox signs its own with it too) over SMSGATE_PUBLIC_URL, else this server's address.
    callback_reader: CallbackReader
    # The public JSON documents (message, batch, webhook event), with Plivo's error meanings
    # and the price table's currency (documents.currency).
    documents: Documents


def build_services(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    provider: SmsProvider | None = None,
    clock: Clock = utc_now,
    counters: Counters | None = None,
    pacing: Pacing | None = None,
    worker: Sweep | None = None,
) -> Services:
    """Construct smsgate from its settings; push each component's close onto ``stack``.

    Call it inside the running event loop (aiohttp and the group-commit writers need one).
    What is passed in (a test's fake provider, say) is the caller's to close. ``worker``: this
    process consumes the broker's messages (``smsgate worker``), sweeping for lost ones so,
    rather than only announcing them.
    """
    token = callback_token(settings)
    base = settings.public_url or own_address(settings.host, settings.port)
    if provider is None:
        provider = build_provider(settings, sandbox_callback_token=token)
        stack.push_async_callback(provider.aclose)
    db = make_engine(settings.database_url)
    stack.push_async_callback(db.dispose)
    sessions = make_sessions(db)
    store = MessageStore(sessions, clock)
    stack.push_async_callback(store.close)
    queue = QueueStore(db, clock)
    outlets = build_outlets(settings, provider, token, base, stack)
    # Loaded once: the recipients estimate with it, the documents name its currency.
    prices = load_prices(settings)
    recipients = RecipientCheck(settings.default_region, settings.country_policy, prices)
    metrics = Metrics()
    api_keys = ApiKeyStore(sessions, clock, database_url=settings.database_url)
    stack.callback(api_keys.close)
    if counters is None:
        counters = make_counters(settings)
    limits = Limits(limit_settings(settings), counters, clock)
    stack.push_async_callback(limits.aclose)
    if pacing is None:
        pacing = make_pacing(settings, stack)
    senders = SenderDirectory(
        SenderStore(db, clock),
        pacing,
        default_sender=settings.plivo_sender_id,
        default_mps=settings.sender_mps or None,
    )
    stack.push_async_callback(senders.aclose)  # after the engine: its last choices too
    # The engine is built after the dispatcher that it runs, yet the dispatcher tells the
    # engine of retries: the lambdas look the engine up when called, by then it exists.
    dispatcher = Dispatcher(
        outlets,
        store,
        queue,
        pacing,
        retry=RetryPlan(
            max_attempts=settings.retry_max_attempts,
            max_age=timedelta(seconds=settings.retry_max_age),
        ),
        reschedule=lambda message_id, due_at: engine.reschedule(message_id, due_at),
        metrics=metrics,
        clock=clock,
        senders=senders,
    )
    engine = build_engine(settings, dispatcher, queue, clock, worker=worker)
    stack.push_async_callback(engine.aclose)
    authenticator = Authenticator(
        tuple(key.get_secret_value().encode() for key in settings.api_keys), api_keys
    )
    stack.push_async_callback(authenticator.aclose)
    webhooks = WebhookStore(db, clock)
    documents = build_documents(prices)
    delivery = DeliverySettings(
        timeout=settings.webhook_timeout,
        retry_base=settings.webhook_retry_base,
        max_age=timedelta(seconds=settings.webhook_max_age),
        allow_private=settings.webhooks_allow_private,
    )
    webhook_transport = build_webhook_transport(delivery)
    stack.push_async_callback(webhook_transport.aclose)  # closed after the deliverer
    deliverer = WebhookDeliverer(
        webhooks,
        delivery,
        webhook_transport,
        render=documents.webhook_event,
        callback_secret=(
            settings.callback_secret.get_secret_value() if settings.callback_secret else None
        ),
        clock=clock,
    )
    stack.push_async_callback(deliverer.aclose)
    return Services(
        settings=settings,
        db=db,
        store=store,
        queue=queue,
        opt_outs=OptOutStore(sessions, clock),
        inbound=InboundStore(sessions),
        api_keys=api_keys,
        webhooks=webhooks,
        console_sessions=ConsoleSessionStore(sessions, clock),
        metrics=metrics,
        outlets=outlets,
        recipients=recipients,
        idempotency=Idempotency(
            # A request lasts at most its Plivo deadline and its database writes.
            IdempotencyStore(
                sessions,
                longest_request=timedelta(seconds=2 * settings.plivo_timeout + 30),
                clock=clock,
            ),
            ttl=timedelta(hours=settings.idempotency_ttl_hours),
            # A repeat waits as long as the first request may take: its whole deadline.
            wait=settings.plivo_timeout + 5,
        ),
        sender=Sender(
            outlets,
            store,
            recipients=recipients,
            sender_id=settings.plivo_sender_id,
            metrics=metrics,
            limits=limits,
            queue=queue,
            hold_for=timedelta(hours=settings.idempotency_ttl_hours),
            clock=clock,
            senders=senders,
        ),
        enqueuer=Enqueuer(
            queue,
            outlets,
            sender_id=settings.plivo_sender_id,
            recipients=recipients,
            announce=engine.announce,
            clock=clock,
            limits=limits,
            senders=senders,
        ),
        dispatcher=dispatcher,
        senders=senders,
        engine=engine,
        reconciler=Reconciler(
            store,
            queue,
            outlets.live.provider if isinstance(outlets.live.provider, SentLookup) else None,
            deadline=timedelta(seconds=settings.plivo_timeout),
            reschedule=lambda message_id, due_at: engine.reschedule(message_id, due_at),
            clock=clock,
            provider=outlets.live.provider.name,
        ),
        authenticator=authenticator,
        limits=limits,
        deliverer=deliverer,
        retention=Retention(
            RetentionStore(db),
            queue,
            text_days=settings.retain_text_days,
            row_days=settings.retain_days,
            clock=clock,
        ),
        callback_reader=PlivoCallbackReader(token, base),
        documents=documents,
    )


def build_documents(prices: PriceTable | None) -> Documents:
    """The renderer of the public documents, with Plivo's meanings of its error codes and
    the price table's currency (None without a table: the documents name no currency)."""
    return Documents(describe_error_code, prices.currency if prices is not None else None)


def build_webhook_transport(delivery: DeliverySettings) -> HttpTransport:
    """What the deliverer posts through, as its own aiohttp session always was: up to
    ``concurrency`` connections, public addresses only unless ``allow_private``, the whole
    timeout for connecting too, the answer drained (64 KiB, one read), aiohttp's cookie jar
    and its 10-second DNS cache."""
    return AiohttpTransport(
        max_connections=delivery.concurrency,
        connect_timeout=None,
        public_only=not delivery.allow_private,
        drain=64 * 1024,
        cookies=True,
        dns_cache_ttl=10,
    )


def build_engine(
    settings: Settings,
    dispatcher: Dispatcher,
    queue: QueueStore,
    clock: Clock,
    *,
    worker: Sweep | None,
) -> Engine:
    """The in-process engine without a broker; with one, the broker's: a worker consumes,
    ``serve`` only announces."""
    if settings.broker_url is None:
        return InProcessEngine(
            dispatcher, queue, concurrency=settings.dispatch_concurrency, clock=clock
        )
    from smsgate.engines.broker import BrokerEngine  # Dramatiq's, only with a broker

    return BrokerEngine(
        settings.broker_url,
        queue,
        dispatcher=dispatcher if worker is not None else None,
        sweep=worker,
        clock=clock,
    )


def make_counters(settings: Settings) -> Counters:
    """Limits shared through Redis when there is one (SMSGATE_REDIS_URL, or a Redis broker);
    else counted in this process."""
    url = settings.pacing_redis_url
    if not url:
        return MemoryCounters()
    from smsgate.limits.redis_counters import RedisCounters  # the Redis client, only with Redis

    return RedisCounters(url)


def make_pacing(settings: Settings, stack: AsyncExitStack) -> Pacing:
    """Pacing shared through Redis when there is one (its client closed with ``stack``);
    else kept in this process."""
    rate = settings.sender_mps or None
    url = settings.pacing_redis_url
    if not url:
        return SenderPacing(rate)
    from smsgate.limits.redis_pacing import RedisPacing

    pacing = RedisPacing(url, rate)
    stack.push_async_callback(pacing.aclose)
    return pacing


def limit_settings(settings: Settings) -> LimitSettings:
    return LimitSettings(
        requests=parse_rate(settings.rate_limit),
        destinations=parse_rate(settings.destination_limit),
        daily_messages=settings.daily_message_limit,
        daily_spend=settings.daily_spend_limit,
        fail_open=settings.limits_fail_open,
    )


def load_prices(settings: Settings) -> PriceTable:
    """The price table to estimate costs with; ConfigError if the configured one is bad."""
    try:
        return load_price_table(settings.price_table)
    except PriceTableError as exc:
        raise ConfigError("SMSGATE_PRICE_TABLE", f"is unusable: {exc}") from None
