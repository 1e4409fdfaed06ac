"""``smsgate worker``: a Dramatiq worker process that hands queued messages to Plivo.

One process runs one event loop (its database pool, its Plivo connections, the sweeper) and
``threads`` Dramatiq worker threads, each of which waits on that loop for the message it took.
Run as many processes, on as many machines, as the sending rate needs.

On SIGTERM or SIGINT it stops taking messages, lets the hand-offs in progress finish (Dramatiq
puts messages it fetched but had not started back on the queue), then closes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import threading
import time
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import dramatiq
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.middleware import Middleware
from prometheus_client import start_http_server

from smsgate.bootstrap import Runtime
from smsgate.config import Settings
from smsgate.engines.dramatiq import QUEUE
from smsgate.logs import get_logger

log = get_logger("smsgate.worker")
# How often an idle consumer looks at its queue again (see run_worker).
WORKER_TIMEOUT_MS = 200

T = TypeVar("T")


class OwnedEventLoop(Middleware):
    """Dramatiq's async actors run on this loop; unlike Dramatiq's own AsyncIO middleware,
    it outlives the worker's shutdown, so the runtime can be closed on it afterwards."""

    def __init__(self) -> None:
        self.thread: EventLoopThread | None = None

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.thread = EventLoopThread(log)
        self.thread.start(timeout=5.0)
        set_event_loop_thread(self.thread)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self.thread is not None
        return self.thread.run_coroutine(coroutine)

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()  # type: ignore[no-untyped-call]
            set_event_loop_thread(None)


def run_worker(
    settings: Settings,
    *,
    threads: int,
    sweep_interval: float,
    overdue_after: float,
    stale_after: float,
    metrics_address: tuple[str, int] | None = None,
) -> None:
    runtime = Runtime(settings)
    engine = runtime.broker_engine
    assert engine is not None, "a worker needs SMSGATE_BROKER_URL"
    broker = engine.broker_queue.broker
    loop = OwnedEventLoop()
    broker.add_middleware(loop)
    # An idle consumer looks at its queue again after worker_timeout ms, and a scheduled
    # message passes two queues (delayed, then due): Dramatiq's 1,000 ms default made them up
    # to two seconds late. 200 ms costs an idle worker about ten Redis calls a second.
    worker = dramatiq.Worker(
        broker, queues={QUEUE}, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS
    )
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    worker.start()
    sweeper: concurrent.futures.Future[None] | None = None
    try:
        services = loop.run(runtime.open())
        engine.consume_with(services.dispatcher, services.queue)
        if metrics_address is not None:
            host, port = metrics_address
            start_http_server(port, addr=host, registry=services.metrics.registry)
        assert loop.thread is not None
        sweeping = engine.sweep_forever(
            services.reconciler,
            interval=sweep_interval,
            overdue_after=timedelta(seconds=overdue_after),
            stale_sending_after=timedelta(seconds=stale_after),
            rate=settings.sender_mps or None,
        )
        # Leases renewed well within the time after which the sweeper calls a message lost.
        holding = engine.hold_forever(interval=overdue_after / 3)
        delivering = services.deliverer.run_forever()  # webhooks, beside the hand-offs
        # Hourly, under a database lock: one worker at a time does it.
        retaining = services.retention.run_forever()
        sweeper = asyncio.run_coroutine_threadsafe(
            _together(sweeping, holding, delivering, retaining), loop.thread.loop
        )
        log.info("worker_started", threads=threads, provider=services.dispatcher.provider.name)
        while not stopping.wait(0.5):
            pass
        log.info("worker_stopping")
    finally:
        started = time.monotonic()
        if loop.thread is not None:
            # No new claims from here: held messages stay accepted for the other workers.
            loop.thread.loop.call_soon_threadsafe(setattr, engine, "stopping", True)
        worker.stop(timeout=int((settings.plivo_timeout + 10) * 1000))
        if sweeper is not None:
            sweeper.cancel()
        loop.run(runtime.close())
        loop.stop()
        log.info("worker_stopped", seconds=round(time.monotonic() - started, 1))


async def _together(*jobs: Coroutine[Any, Any, None]) -> None:
    await asyncio.gather(*jobs)
