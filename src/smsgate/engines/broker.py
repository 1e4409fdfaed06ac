"""The broker engine: ``serve`` announces queued messages; ``smsgate worker`` processes them.

Announcing happens after the batch is stored and the 202 is on its way, on a thread (the
broker clients block). If the broker is down, the announcement is lost but the messages are
not: every worker runs a sweeper that re-announces accepted messages overdue by more than a
minute. Running several sweepers, or announcing a message twice, is harmless: a message is
claimed by one dispatcher, and the others find it no longer accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import structlog

from smsgate.db.batches import StoredBatch
from smsgate.db.errors import StoreUnavailable
from smsgate.db.queue import DueMessage, QueueStore
from smsgate.domain.clock import utc_now
from smsgate.engines import Job
from smsgate.engines.dramatiq import BrokerProbe, BrokerQueue, make_broker
from smsgate.logs import get_logger
from smsgate.services.dispatch import Dispatcher

log = get_logger("smsgate.broker")


class DispatchFailed(Exception):
    """Some hand-offs of a chunk failed (their kind only); Dramatiq delivers it again."""


# A message is due "now" when it is due within this; later ones are announced again.
EARLY = timedelta(milliseconds=500)


@dataclass(frozen=True, slots=True)
class Sweep:
    """How a worker looks for lost work: every ``interval`` seconds, messages overdue by more
    than ``overdue_after`` (plus the time the backlog takes at ``rate`` a second) are
    announced again."""

    interval: float = 30.0
    overdue_after: timedelta = timedelta(minutes=1)
    rate: float | None = None


class BrokerEngine:
    """Queued sending through a broker. With a ``dispatcher`` this process is a worker: it
    dispatches what it receives, and sweeps for lost announcements. Without one (``serve``)
    it only announces."""

    def __init__(
        self,
        url: str,
        queue: QueueStore,
        *,
        dispatcher: Dispatcher | None = None,
        sweep: Sweep | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._clock = clock
        self._dispatcher = dispatcher
        self._queue = queue
        self._sweep = sweep or Sweep()
        handler = self.handle if dispatcher is not None else None
        self.broker_queue = BrokerQueue(make_broker(url), handler=handler)
        self._probe = BrokerProbe(url)
        self._announcing: set[asyncio.Task[None]] = set()
        # Messages this worker has taken and not finished (most wait for a pacing slot).
        self._held: set[str] = set()
        # The actor's bodies running now, each one broker message's chunk.
        self._handling: set[asyncio.Task[Any]] = set()
        # Set when the worker shuts down: held messages are left, unclaimed, for others.
        self._stopping = False

    @property
    def dispatches_here(self) -> bool:
        return self._dispatcher is not None

    @property
    def broker(self) -> dramatiq.Broker:
        return self.broker_queue.broker

    def announce(self, batch: StoredBatch, due_at: datetime) -> None:
        """Announce the batch's waiting messages, grouped by when each falls due."""
        by_due: dict[datetime, list[str]] = {}
        for position, message_id in enumerate(batch.message_ids):
            if position not in batch.opted_out:
                moment = batch.due_at[position] if batch.due_at else due_at
                by_due.setdefault(moment, []).append(message_id)
        for moment, message_ids in sorted(by_due.items()):
            self._spawn(message_ids, moment)

    def reschedule(self, message_id: str, due_at: datetime) -> None:
        self._spawn([message_id], due_at)

    def jobs(self) -> list[Job]:
        if self._dispatcher is None:
            return []  # announcing only: the workers sweep
        # Leases renewed well within the time after which the sweeper calls a message lost.
        lease = self._sweep.overdue_after.total_seconds() / 3
        return [self.sweep_forever(), self.hold_forever(interval=lease)]

    async def stop(self, grace: float) -> None:
        """No new claims from here: held messages stay accepted for the other workers; the
        chunks being handled finish (claimed hand-offs within ``grace``)."""
        self._stopping = True
        if self._handling:
            await asyncio.wait(set(self._handling), timeout=grace)

    async def handle(self, message_ids: list[str], request_id: str | None = None) -> None:
        """The actor's body: dispatch those messages that are still waiting and due.

        Ids no longer ``accepted`` are skipped (a duplicate or stale announcement: handled,
        canceled or expired). If a dispatch fails, the chunk fails after the others finish,
        and Dramatiq delivers it again: those already handed over are skipped then.

        ``request_id``, the API request that queued them, is on every log line meanwhile
        (and goes with a message announced again from here, a retry's).
        """
        task = asyncio.current_task()
        if task is not None:
            self._handling.add(task)
        try:
            if request_id is None:
                await self._handle(message_ids)
                return
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                await self._handle(message_ids)
        finally:
            if task is not None:
                self._handling.discard(task)

    async def _handle(self, message_ids: list[str]) -> None:
        dispatcher, queue = self._dispatcher, self._queue
        if dispatcher is None:
            raise RuntimeError("this process announces messages; it does not dispatch them")
        # Held here already (a duplicate announcement): waiting twice would waste a slot.
        fresh = [message_id for message_id in message_ids if message_id not in self._held]
        now = self._clock()
        due = []
        for message in await queue.waiting_many(fresh) if fresh else []:
            if message.due_at is not None and message.due_at > now + EARLY:
                self.reschedule(message.id, message.due_at)  # announced early: not yet
            elif message.id not in self._held:
                due.append(message)
                self._held.add(message.id)
        outcomes = await asyncio.gather(
            *(self._dispatch(dispatcher, message) for message in due), return_exceptions=True
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            kind = type(failures[0]).__name__
            log.error("dispatch_failed", messages=len(failures), error=kind)
            # Dramatiq logs what the actor raises, with its chain: a database error's text
            # holds the statement's parameters (numbers, texts). Only the kind goes out.
            raise DispatchFailed(f"{len(failures)} hand-off(s) failed: {kind}") from None

    async def _dispatch(self, dispatcher: Dispatcher, message: DueMessage) -> None:
        try:
            await dispatcher.dispatch(message, still_wanted=lambda: not self._stopping)
        finally:
            self._held.discard(message.id)  # its own lease ends with its own dispatch

    async def sweep_forever(self) -> None:
        """Re-announce messages whose announcement was lost (overdue), forever."""
        sweep = self._sweep
        while True:
            try:
                now = self._clock()
                # Paced messages queue up legitimately: with N due at ``rate`` a second, the
                # last is N / rate seconds late without anything being lost.
                depth, _ = await self._queue.backlog(now)
                extra = timedelta(seconds=depth / sweep.rate if sweep.rate else 0)
                lost = await self._queue.overdue(now - sweep.overdue_after - extra, limit=10_000)
                if lost:
                    log.warning("sweeper_reannounced", count=len(lost))
                    await self.broker_queue.announce_async(lost, now)
            except StoreUnavailable as exc:
                log.error("sweeper_store_unavailable", error=str(exc))
            except Exception as exc:  # the broker: its errors carry no common base class
                log.error("sweeper_failed", error=type(exc).__name__)
            await asyncio.sleep(sweep.interval)

    async def hold_forever(self, interval: float) -> None:
        """Keep the messages this worker holds from looking lost, while they wait.

        A message waiting for its pacing slot is still ``accepted`` and, as time passes,
        overdue: without this, the sweeper would announce it again, and a second worker would
        wait for a slot for it too. So, every ``interval``, the held messages' due time is set
        to now: a lease, which lapses by itself if this worker dies.
        """
        while True:
            await asyncio.sleep(interval)
            if self._held:
                try:
                    await self._queue.touch(sorted(self._held), self._clock())
                except StoreUnavailable as exc:
                    log.error("lease_not_renewed", messages=len(self._held), error=str(exc))

    async def ping(self, timeout: float) -> None:
        """Return when the broker answers (readiness); raise when it does not in time."""
        await self._probe.ping(timeout)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Finish announcements in progress, then close the broker connection."""
        if self._announcing:
            await asyncio.wait(self._announcing, timeout=timeout)
        self.broker_queue.close()
        await self._probe.aclose()

    def _spawn(self, message_ids: list[str], due_at: datetime) -> None:
        if not message_ids:
            return
        # The request (or the handled chunk) this runs for: its workers log with its id.
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        task = asyncio.get_running_loop().create_task(
            self._announce(message_ids, due_at, request_id), name="smsgate-announce"
        )
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def _announce(
        self, message_ids: list[str], due_at: datetime, request_id: str | None
    ) -> None:
        try:
            await self.broker_queue.announce_async(message_ids, due_at, request_id)
        except Exception as exc:
            # Stored, not announced: the workers' sweeper finds them once they are overdue.
            log.error("announce_failed", messages=len(message_ids), error=type(exc).__name__)
