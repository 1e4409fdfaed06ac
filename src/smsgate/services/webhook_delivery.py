"""Deliver webhook events to the user's app: signed, retried with backoff, never inline.

One ``WebhookDeliverer`` runs beside the queued-sending engine (in ``serve`` without a
broker, in each worker with one). Each round it fans new changes out into events, claims the
deliveries that are due, and posts each in a task of its own, so it never waits on a slow
receiver:

- **Isolation.** At most ``per_endpoint`` posts to one endpoint (or callback URL) at a time,
  and a claim skips an endpoint that is full: an endpoint that hangs for its whole timeout
  holds its own slots, never another endpoint's.
- **Retries.** Anything but a 2xx within ``timeout`` is tried again after an exponential
  backoff with full jitter (``retry_base`` doubled per attempt, at most an hour), until the
  event is ``max_age`` old (24 h): then the delivery is ``dead``, to be replayed by hand.
- **SSRF.** The URL was checked when it was registered; it is checked again here before each
  post, and the injected transport (bootstrap builds it) checks the addresses the connection
  will actually use and follows no redirects. ``allow_private`` lifts this, for tests and
  private networks.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from smsgate import __version__
from smsgate.db.errors import StoreUnavailable
from smsgate.db.webhook_rows import RenderEvent
from smsgate.db.webhooks import DEAD, DELIVERED, PENDING, Attempt, DueDelivery, WebhookStore
from smsgate.domain.clock import utc_now
from smsgate.logs import get_logger
from smsgate.providers.http import HttpRequest, HttpTransport, MaybeSent, TransportError
from smsgate.services.webhook_urls import url_problem
from smsgate.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, sign

log = get_logger("smsgate.webhooks")


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    timeout: float = 10.0
    retry_base: float = 10.0
    max_backoff: float = 3600.0
    max_age: timedelta = timedelta(hours=24)
    allow_private: bool = False
    concurrency: int = 64
    per_endpoint: int = 4
    poll: float = 1.0


class WebhookDeliverer:
    def __init__(
        self,
        store: WebhookStore,
        settings: DeliverySettings,
        transport: HttpTransport,
        *,
        render: RenderEvent,
        callback_secret: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        # Built with the settings' limits: settings.concurrency connections, and with
        # allow_private off, only public addresses (bootstrap.build_webhook_transport).
        self._transport = transport
        self._render = render  # each event's public JSON body (services/documents.py)
        self._callback_secret = callback_secret  # signs deliveries to a message's callback_url
        self._clock = clock
        self._rng = rng or random.Random()
        self._busy: dict[str, int] = {}  # posts in flight per endpoint (or callback URL)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self) -> None:
        """Fan out and deliver until cancelled; a database outage pauses it, no more."""
        while True:
            try:
                busy = await self.round()
            except StoreUnavailable:
                log.warning("webhook_round_failed")
                busy = False
            if not busy:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll)

    async def round(self) -> bool:
        """One pass: fan out, claim, start posting. True if there may be more to do now."""
        fanned = await self._store.fan_out(render=self._render)
        room = self._settings.concurrency - len(self._tasks)
        claimed: list[DueDelivery] = []
        if room > 0:
            lease = timedelta(seconds=self._settings.timeout + 30)
            claimed = await self._store.claim_due(
                room, lease, per_target=self._settings.per_endpoint, busy=self._busy
            )
            for delivery in claimed:
                self._start(delivery)
        return bool(fanned) or len(claimed) == room > 0

    async def drain(self) -> None:
        """Wait for the posts in flight (tests, and shutdown)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel the posts in flight; the transport is its builder's to close (after this)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, delivery: DueDelivery) -> None:
        key = delivery.endpoint_id or delivery.url
        self._busy[key] = self._busy.get(key, 0) + 1
        task = asyncio.get_running_loop().create_task(self._deliver(delivery))
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            left = self._busy.get(key, 1) - 1
            if left:
                self._busy[key] = left
            else:
                self._busy.pop(key, None)
            self._wake.set()  # a slot is free

        task.add_done_callback(done)

    async def _deliver(self, delivery: DueDelivery) -> None:
        secret = delivery.secret or self._callback_secret
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"smsgate-webhooks/{__version__}",
            EVENT_ID_HEADER: delivery.event_id,
        }
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, secret)
        started = time.perf_counter()
        status: int | None = None
        error = url_problem(delivery.url, allow_private=self._settings.allow_private)
        if error is not None:
            error = "refused: the URL's host is a private address (SMSGATE_WEBHOOKS_ALLOW_PRIVATE)"
        else:
            try:
                answer = await self._transport.request(
                    HttpRequest("POST", delivery.url, headers, body),
                    timeout=self._settings.timeout,
                )
                status = answer.status
            except TransportError as exc:
                if isinstance(exc, MaybeSent):
                    status = exc.status  # it answered, then the body failed
                error = f"no answer: {_failure(exc)}"
            except OSError as exc:
                error = f"no answer: {type(exc).__name__}"
        latency_ms = (time.perf_counter() - started) * 1000
        if status is not None and not 200 <= status < 300:
            error = f"HTTP {status}"
        now = self._clock()
        attempt = Attempt(now, status, latency_ms, error)
        if error is None:
            state, next_at = DELIVERED, None
        else:
            next_at = self._next_attempt(delivery, now)
            state = PENDING if next_at is not None else DEAD
        log.info(
            "webhook_delivery",
            delivery_id=delivery.id,
            event_id=delivery.event_id,
            endpoint_id=delivery.endpoint_id,
            http_status=status,
            latency_ms=round(latency_ms, 1),
            state=state,
            attempts=delivery.attempts + 1,
            error=error,
        )
        try:
            await self._store.record(delivery.id, attempt, state=state, next_attempt_at=next_at)
        except StoreUnavailable:
            # The lease runs out and the attempt is made again: at least once.
            log.error("webhook_attempt_not_stored", delivery_id=delivery.id)

    def _next_attempt(self, delivery: DueDelivery, now: datetime) -> datetime | None:
        """When to try again, with full jitter; None once the event is too old."""
        settings = self._settings
        ceiling = min(settings.max_backoff, settings.retry_base * 2**delivery.attempts)
        wait = timedelta(seconds=self._rng.uniform(settings.retry_base / 2, ceiling))
        when = now + wait
        if when - delivery.event_created_at > settings.max_age:
            return None
        return when


def _failure(exc: TransportError) -> str:
    """The kind of failure, as the attempts have always been recorded: the class of what the
    HTTP client raised (the transport chains it), else of the transport's own error."""
    return type(exc.__cause__ or exc).__name__
