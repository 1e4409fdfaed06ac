"""The Dramatiq side: the broker for a URL, the one actor, and sending work to it.

A broker message carries the ids of up to ``CHUNK`` messages due at the same time: "work on
these messages now". It carries nothing else but, as a message option, the id of the API
request that queued them, so that the worker's log lines for them carry it too; the rows say
what to send, and whether to.

Dramatiq is the task queue of the field for this (workers, acknowledgements, delayed messages,
Redis and RabbitMQ); smsgate keeps every decision about a message in its database, so the
actor only loads the row and hands it to the same ``Dispatcher`` the in-process engine uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import pika
import redis.asyncio as aioredis
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from smsgate.domain.clock import utc_now
from smsgate.logs import get_logger

log = get_logger("smsgate.broker")

QUEUE = "smsgate"
ACTOR = "smsgate.dispatch"
# Dramatiq delays must stay under 7 days; a message due later is re-announced when this
# one arrives (the worker sees it is not due yet).
MAX_DELAY = timedelta(days=6)


def make_broker(url: str) -> dramatiq.Broker:
    """A Dramatiq broker for ``redis://`` / ``rediss://`` or ``amqp://`` / ``amqps://`` URLs."""
    scheme = url.split(":", 1)[0].lower()
    broker: dramatiq.Broker
    if scheme in {"redis", "rediss"}:
        broker = RedisBroker(url=url)  # type: ignore[no-untyped-call]
    elif scheme in {"amqp", "amqps"}:
        broker = RabbitmqBroker(url=url)
    else:
        raise ValueError(f"{scheme} is not a supported broker; use redis:// or amqp://")
    broker.add_middleware(CurrentMessage())  # the actor reads its message's options
    return broker


# The handler gets the message ids, and the id of the request that queued them (or None).
Handler = Callable[[list[str], str | None], Awaitable[None]]
# The message option that carries the request id. An option, not an argument of the actor:
# a worker that does not know it ignores it, so serve and workers can be upgraded in any order.
REQUEST_ID = "smsgate_request_id"
# Message ids per broker message. Each broker message costs a Dramatiq worker thread and a
# hop between threads; a chunk's messages are handed over concurrently on the worker's loop
# (measured: one id per broker message held two workers to about 470 messages/s).
CHUNK = 50


class BrokerQueue:
    """Sends "work on message N" to the workers, now or at the time it falls due."""

    def __init__(self, broker: dramatiq.Broker, handler: Handler | None = None) -> None:
        self.broker = broker

        def dispatch(message_ids: list[str]) -> None:
            if handler is None:  # this process only sends; workers declare the handler
                raise RuntimeError("this process does not consume smsgate's queue")
            # On the Dramatiq thread, where the message is known; the handler runs on the
            # worker's event loop, as an async actor's body would.
            loop = get_event_loop_thread()
            if loop is None:
                raise RuntimeError("the worker's event loop is not running")
            loop.run_coroutine(handler(message_ids, _request_id()))

        # Failures inside the handler (a database outage, say) are retried by Dramatiq a few
        # times; a retry is harmless, since the row decides whether anything is sent.
        declare = dramatiq.actor(
            broker=broker,
            actor_name=ACTOR,
            queue_name=QUEUE,
            max_retries=5,
            min_backoff=1_000,
            max_backoff=30_000,
            # A chunk may wait long for its pacing slots (50 messages at 5 a second take 10 s,
            # behind the chunks of the other threads); each send has its own deadline.
            time_limit=24 * 3600 * 1000,
        )
        self.actor: dramatiq.Actor[[list[str]], None] = declare(dispatch)

    def announce(
        self, message_ids: Sequence[str], due_at: datetime, request_id: str | None = None
    ) -> None:
        """Queue work for the messages, delayed until ``due_at`` (blocking: run off the loop);
        ``request_id`` is the request that queued them, for the worker's logs."""
        delay = _delay_ms(due_at)
        options: dict[str, Any] = {REQUEST_ID: request_id} if request_id else {}
        for start in range(0, len(message_ids), CHUNK):
            chunk = list(message_ids[start : start + CHUNK])
            self.actor.send_with_options(args=(chunk,), delay=delay, **options)

    async def announce_async(
        self, message_ids: list[str], due_at: datetime, request_id: str | None = None
    ) -> None:
        """``announce`` on a thread, so the event loop keeps serving meanwhile."""
        await asyncio.to_thread(self.announce, message_ids, due_at, request_id)

    def close(self) -> None:
        self.broker.close()


class BrokerProbe:
    """Whether the broker answers, within a deadline: a Redis PING, or an AMQP connection
    opened and closed. Dramatiq's own connections block and have no deadline, so the probe
    keeps its own: one Redis client, reused; a fresh AMQP connection each time (on a thread).
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._redis_scheme = url.split(":", 1)[0].lower() in {"redis", "rediss"}
        self._redis: aioredis.Redis | None = None

    async def ping(self, timeout: float) -> None:
        """Return when the broker answered; raise (TimeoutError, or the client's error)."""
        async with asyncio.timeout(timeout):
            if self._redis_scheme:
                if self._redis is None:
                    self._redis = aioredis.Redis.from_url(
                        self._url, socket_connect_timeout=timeout, socket_timeout=timeout
                    )
                await self._redis.ping()
            else:
                await asyncio.to_thread(_amqp_ping, self._url, timeout)

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def _amqp_ping(url: str, timeout: float) -> None:
    parameters = pika.URLParameters(url)
    parameters.connection_attempts = 1
    parameters.socket_timeout = timeout
    parameters.stack_timeout = timeout
    parameters.blocked_connection_timeout = timeout
    pika.BlockingConnection(parameters).close()


def _request_id() -> str | None:
    """The request id the message being processed carries, if it is a sane one."""
    message = CurrentMessage.get_current_message()
    value = message.options.get(REQUEST_ID) if message is not None else None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _delay_ms(due_at: datetime) -> int | None:
    wait = due_at - utc_now()
    if wait <= timedelta(0):
        return None
    return int(min(wait, MAX_DELAY).total_seconds() * 1000)
