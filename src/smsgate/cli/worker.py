"""``smsgate worker``: a Dramatiq worker process that hands queued messages to Plivo.

One process runs one event loop (its database pool, its Plivo connections, the background
jobs) and ``threads`` Dramatiq worker threads, each of which waits on that loop for the
message it took. Run as many processes, on as many machines, as the sending rate needs.

The loop starts first and the runtime opens on it; only then does the Dramatiq worker start
taking messages, so the first one finds everything it needs. On SIGTERM or SIGINT it stops
taking messages, lets the hand-offs in progress finish (within ``Settings.send_grace``;
Dramatiq puts messages it fetched but had not started back on the queue), then closes.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta
from typing import Annotated

import typer
from prometheus_client import start_http_server

from smsgate.bootstrap import JobTimes, Runtime
from smsgate.cli.common import exiting, fail, sending_settings
from smsgate.cli.common import log as cli_log
from smsgate.config import Settings
from smsgate.db.engine import is_sqlite
from smsgate.domain.clock import utc_now
from smsgate.logs import configure_logging, get_logger

log = get_logger("smsgate.worker")
# How often an idle consumer looks at its queue again (see run_worker).
WORKER_TIMEOUT_MS = 200


def worker(
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=1, max=1000, help="Broker messages (of up to 50 ids) handled at once."
        ),
    ] = 8,
    sweep_interval: Annotated[
        float,
        typer.Option("--sweep-interval", min=0.1, help="Seconds between sweeps for lost work."),
    ] = 30.0,
    overdue_after: Annotated[
        float,
        typer.Option(
            "--overdue-after", min=1, help="Seconds past due after which a message is re-announced."
        ),
    ] = 60.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on this port."
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address for --metrics-port.")
    ] = "127.0.0.1",
) -> None:
    """Hand queued messages to the provider: a Dramatiq worker on SMSGATE_BROKER_URL."""
    settings = sending_settings()
    if settings.broker_url is None:
        fail(
            "SMSGATE_BROKER_URL is not set: without a broker, `smsgate serve` hands queued "
            "messages over itself. Set it (redis://... or amqp://...) to run workers."
        )
    configure_logging(settings.log_level, settings.log_format)
    if is_sqlite(settings.database_url):
        cli_log.warning(
            "worker_on_sqlite",
            advice="SQLite suits one process; use PostgreSQL for workers beside serve",
        )
    with exiting():
        settings.check_stale_after()
    run_worker(
        settings,
        threads=threads,
        sweep_interval=sweep_interval,
        overdue_after=overdue_after,
        stale_after=settings.stale_after,
        metrics_address=(metrics_host, metrics_port) if metrics_port is not None else None,
    )


def run_worker(
    settings: Settings,
    *,
    threads: int,
    sweep_interval: float,
    overdue_after: float,
    stale_after: float,
    metrics_address: tuple[str, int] | None = None,
) -> None:
    # Dramatiq and the broker clients are imported by the worker alone: every other command,
    # `serve` among them, runs without them unless a broker is configured (their memory).
    import dramatiq
    from dramatiq.asyncio import EventLoopThread, set_event_loop_thread

    from smsgate.engines.broker import BrokerEngine, Sweep
    from smsgate.engines.dramatiq import QUEUE

    sweep = Sweep(
        interval=sweep_interval,
        overdue_after=timedelta(seconds=overdue_after),
        rate=settings.sender_mps or None,
    )
    runtime = Runtime(settings, worker=sweep)
    # Dramatiq's threads run the actor's body on this loop (dramatiq.asyncio's own thread,
    # started here rather than by its middleware, so that the runtime outlives the worker).
    loop = EventLoopThread(log)
    loop.start(timeout=5.0)
    set_event_loop_thread(loop)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    worker: dramatiq.Worker | None = None
    try:
        services = loop.run_coroutine(runtime.open())
        engine = services.engine
        assert isinstance(engine, BrokerEngine), "a worker needs SMSGATE_BROKER_URL"
        if metrics_address is not None:
            host, port = metrics_address
            start_http_server(port, addr=host, registry=services.metrics.registry)
        times = JobTimes(sweep_interval, timedelta(seconds=stale_after))
        # Hand-offs cut off by the last stop are settled before anything new is taken.
        loop.run_coroutine(services.reconciler.run(utc_now() - times.stale_after))
        loop.run_coroutine(_start_jobs(runtime, times))
        # An idle consumer looks at its queue again after worker_timeout ms, and a scheduled
        # message passes two queues (delayed, then due): Dramatiq's 1,000 ms default made them
        # up to two seconds late. 200 ms costs an idle worker about ten Redis calls a second.
        worker = dramatiq.Worker(
            engine.broker, queues={QUEUE}, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS
        )
        worker.start()
        log.info("worker_started", threads=threads, provider=services.outlets.live.provider.name)
        while not stopping.wait(0.5):
            pass
        log.info("worker_stopping")
    finally:
        started = time.monotonic()
        if runtime.opened:
            # No new claims from here: held messages stay accepted for the other workers;
            # claimed hand-offs finish.
            loop.run_coroutine(runtime.services.engine.stop(grace=settings.send_grace))
        if worker is not None:
            worker.stop(timeout=int(settings.send_grace * 1000))
        loop.run_coroutine(runtime.close())
        loop.stop()  # type: ignore[no-untyped-call]
        set_event_loop_thread(None)
        log.info("worker_stopped", seconds=round(time.monotonic() - started, 1))


async def _start_jobs(runtime: Runtime, times: JobTimes) -> None:
    runtime.start_jobs(serving=False, times=times)
