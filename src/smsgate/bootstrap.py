"""The one place that decides which adapters the application runs with, and wires them.

``build_services`` constructs everything a running smsgate uses, from the settings, with a
keyword for each collaborator a test (or the CLI) may want to replace: the provider, the
clock, the limit counters and the pacing. ``Runtime`` opens what it built and closes it again,
through one ``AsyncExitStack``: each component, as it is built, pushes its own close, and they
run in the reverse order. ``Runtime.background_jobs`` is the one list of what runs beside the
requests (``serve``) or the broker's messages (``smsgate worker``).
"""

from __future__ import annotations

import asyncio
import contextvars
import secrets
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from smsgate.config import ConfigError, ProviderName, Settings
from smsgate.db.api_keys import ApiKeyStore
from smsgate.db.console_sessions import ConsoleSessionStore
from smsgate.db.engine import make_engine, make_sessions
from smsgate.db.errors import StoreUnavailable
from smsgate.db.idempotency import IdempotencyStore
from smsgate.db.inbound import InboundStore
from smsgate.db.opt_outs import OptOutStore
from smsgate.db.price_files import load_price_table
from smsgate.db.queue import QueueStore
from smsgate.db.retention import RetentionStore
from smsgate.db.store import MessageStore
from smsgate.db.webhooks import WebhookStore
from smsgate.domain.addresses import is_loopback
from smsgate.domain.clock import Clock, utc_now
from smsgate.domain.pricing import PriceTable, PriceTableError
from smsgate.domain.rates import parse_rate
from smsgate.domain.retry import RetryPlan
from smsgate.engines import Engine, Job
from smsgate.engines.broker import BrokerEngine, Sweep
from smsgate.engines.inprocess import InProcessEngine
from smsgate.limits.counters import Counters, MemoryCounters
from smsgate.limits.pacing import Pacing, SenderPacing
from smsgate.limits.redis_counters import RedisCounters
from smsgate.limits.redis_pacing import RedisPacing
from smsgate.logs import get_logger
from smsgate.metrics import Metrics
from smsgate.providers.base import CallbackReader, SentLookup, SmsProvider
from smsgate.providers.http import AiohttpTransport, HttpTransport
from smsgate.providers.plivo.callbacks import PlivoCallbackReader
from smsgate.providers.plivo.errors import describe_error_code
from smsgate.providers.plivo.provider import PlivoCredentials, PlivoProvider
from smsgate.providers.plivo.settings import compact_sender, plivo_settings_problem
from smsgate.providers.plivo.signature import callback_signer
from smsgate.providers.sandbox import SandboxProvider
from smsgate.services.access import Authenticator
from smsgate.services.dispatch import Dispatcher
from smsgate.services.documents import Documents
from smsgate.services.idempotency import Idempotency
from smsgate.services.limits import Limits, LimitSettings, LimitsUnavailable
from smsgate.services.outlets import Outlet, Outlets
from smsgate.services.queueing import Enqueuer
from smsgate.services.recipients import RecipientCheck
from smsgate.services.reconcile import Reconciler
from smsgate.services.retention import Retention
from smsgate.services.sending import Sender
from smsgate.services.webhook_delivery import DeliverySettings, WebhookDeliverer

log = get_logger("smsgate.bootstrap")

STATUS_CALLBACK_PATH = "/api/v1/webhooks/plivo/status"


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
        signer = callback_signer(sandbox_callback_token) if sandbox_callback_token else None
        return SandboxProvider(sender=settings.plivo_sender_id, signer=signer)
    return build_plivo(settings, transport=transport)


def build_plivo(settings: Settings, *, transport: HttpTransport | None = None) -> PlivoProvider:
    """Plivo itself, whatever the configured provider: ``build_provider`` with Plivo, and the
    commands that read the account (``doctor``, ``prices update``). Raises ConfigError."""
    check_plivo(settings)
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


def check_provider(settings: Settings) -> None:
    """Raise ConfigError naming the first variable that stops the provider from working."""
    if settings.resolved_provider is ProviderName.PLIVO:
        check_plivo(settings)


def check_plivo(settings: Settings) -> None:
    """Raise ConfigError naming the first of Plivo's variables that stops it from working."""
    token = settings.plivo_auth_token
    problem = plivo_settings_problem(
        settings.plivo_auth_id,
        None if token is None else token.get_secret_value(),
        settings.plivo_sender_id,
        settings.plivo_api_url,
    )
    if problem is not None:
        raise ConfigError(problem.variable, problem.problem)


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
    # The public JSON documents (message, batch, webhook event), with Plivo's error meanings.
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
    recipients = RecipientCheck(
        settings.default_region, settings.country_policy, load_prices(settings)
    )
    metrics = Metrics()
    api_keys = ApiKeyStore(sessions, clock, database_url=settings.database_url)
    stack.callback(api_keys.close)
    if counters is None:
        counters = make_counters(settings)
    limits = Limits(limit_settings(settings), counters, clock)
    stack.push_async_callback(limits.aclose)
    if pacing is None:
        pacing = make_pacing(settings)
        if isinstance(pacing, RedisPacing):
            stack.push_async_callback(pacing.aclose)
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
    )
    engine = build_engine(settings, dispatcher, queue, clock, worker=worker)
    stack.push_async_callback(engine.aclose)
    authenticator = Authenticator(
        tuple(key.get_secret_value().encode() for key in settings.api_keys), api_keys
    )
    stack.push_async_callback(authenticator.aclose)
    webhooks = WebhookStore(db, clock)
    documents = build_documents()
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
        ),
        enqueuer=Enqueuer(
            queue,
            outlets,
            sender_id=settings.plivo_sender_id,
            recipients=recipients,
            announce=engine.announce,
            clock=clock,
            limits=limits,
        ),
        dispatcher=dispatcher,
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


def build_documents() -> Documents:
    """The renderer of the public documents, with Plivo's meanings of its error codes."""
    return Documents(describe_error_code)


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


def build_outlets(
    settings: Settings, provider: SmsProvider, token: str, base: str, stack: AsyncExitStack
) -> Outlets:
    """Where live and test messages go, decided once for every path that sends.

    Plivo is asked for delivery reports only at a public address; the sandbox posts its
    simulated ones to this server itself. A test key's messages go to the sandbox, reporting
    here, whatever the configured provider.
    """
    wants_reports = settings.public_url is not None or provider.name == "sandbox"
    live = Outlet(provider, f"{base}{STATUS_CALLBACK_PATH}" if wants_reports else None)
    if provider.name == "sandbox":
        return Outlets.single(live)
    sandbox = SandboxProvider(sender=settings.plivo_sender_id, signer=callback_signer(token))
    stack.push_async_callback(sandbox.aclose)
    return Outlets(live, Outlet(sandbox, f"{base}{STATUS_CALLBACK_PATH}"))


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
    return BrokerEngine(
        settings.broker_url,
        queue,
        dispatcher=dispatcher if worker is not None else None,
        sweep=worker,
        clock=clock,
    )


@dataclass(frozen=True, slots=True)
class JobTimes:
    """How often the reconciler looks for cut-off hand-offs, and how old they must be
    (``serve``: every 30 s; ``smsgate worker``: its --sweep-interval)."""

    reconcile_every: float
    # A send lasts at most its deadline: anything "sending" for much longer was cut off.
    stale_after: timedelta

    @classmethod
    def of(cls, settings: Settings, reconcile_every: float = 30.0) -> JobTimes:
        return cls(reconcile_every, timedelta(seconds=settings.stale_after))


class Runtime:
    """Everything a running smsgate uses, opened together and closed together."""

    def __init__(
        self,
        settings: Settings,
        injected_provider: SmsProvider | None = None,
        *,
        worker: Sweep | None = None,
    ) -> None:
        self.settings = settings
        self.injected_provider = injected_provider  # tests pass a fake; else from settings
        self._worker = worker  # a worker's sweep; None: serve (or a command)
        self._stack: AsyncExitStack | None = None
        self._services: Services | None = None
        self._jobs: list[asyncio.Task[None]] = []

    async def open(self) -> Services:
        stack = AsyncExitStack()
        try:
            services = build_services(
                self.settings, stack, provider=self.injected_provider, worker=self._worker
            )
            await seed_limits(services.limits, services.store)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._services = stack, services
        return services

    def background_jobs(self, *, serving: bool, times: JobTimes) -> list[Job]:
        """What runs beside the requests or the broker's messages: the one list.

        Where the engine dispatches (``serve`` without a broker, or a worker), this process
        also looks after its hand-offs (the reconciler), delivers webhooks and applies
        retention; ``serve`` with a broker leaves those to the workers.
        """
        services = self.services
        jobs: list[Job] = []
        if serving:
            jobs.append(services.idempotency.purge_forever())
        if services.engine.dispatches_here:
            jobs.append(
                services.reconciler.run_forever(
                    interval=times.reconcile_every, stale_after=times.stale_after
                )
            )
            jobs.append(services.deliverer.run_forever())
            # Hourly, under a database lock: one process at a time does it.
            jobs.append(services.retention.run_forever())
        jobs.extend(services.engine.jobs())
        return jobs

    def start_jobs(self, *, serving: bool, times: JobTimes) -> None:
        """Start the background jobs as tasks of this loop, outside any request's context."""
        for job in self.background_jobs(serving=serving, times=times):
            self._jobs.append(asyncio.create_task(job, context=contextvars.Context()))

    async def stop(self) -> None:
        """Stop queued sending (claimed hand-offs finish within the grace), then the jobs."""
        if self._services is not None:
            await self._services.engine.stop(grace=self.settings.send_grace)
        for task in self._jobs:
            task.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        self._jobs.clear()

    async def close(self) -> None:
        """Close what ``open`` opened, in the reverse order (after ``stop``, if jobs ran)."""
        await self.stop()
        stack, self._stack = self._stack, None
        self._services = None
        if stack is not None:
            await stack.aclose()

    @property
    def opened(self) -> bool:
        return self._services is not None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the runtime is opened by the app's lifespan; it has not run")
        return self._services


async def check_database(services: Services) -> None:
    """A ``SELECT 1`` through the services' database; raises what the database raised."""
    async with services.db.connect() as connection:
        await connection.execute(text("SELECT 1"))


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


def make_pacing(settings: Settings) -> Pacing:
    """Pacing shared through Redis when there is one; else kept in this process."""
    rate = settings.sender_mps or None
    url = settings.pacing_redis_url
    return RedisPacing(url, rate) if url else SenderPacing(rate)


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
    load_prices(settings)
    settings.check_stale_after()
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
